"""The Ray Serve app (HTTP, SSE, dashboard): built by the HTTP service issue."""
