"""How uvicorn runs our ASGI apps (the backend, the events worker's health and metrics, the dev
stack): production options, logging, listening sockets, and the guarded HTTP protocol."""
