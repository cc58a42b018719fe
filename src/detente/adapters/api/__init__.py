"""The HTTP API: FastAPI routers over the services (parse, call, return)."""
