"""clever-login: a login backend for edtech applications whose users sign in with Clever."""
