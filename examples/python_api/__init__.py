"""A partner's Python API learning the user from clever-login (docs/integrate.md)."""
