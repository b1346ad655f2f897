"""The Ray Serve app: HTTP API, SSE and the dashboard (static files)."""
