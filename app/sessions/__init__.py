"""Application sessions: tickets carried by the browser, encrypted Principals in Redis."""
