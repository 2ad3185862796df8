"""Examples of wiring one's own app to clever-login (docs/integrate.md); each is run by tests/examples/."""
