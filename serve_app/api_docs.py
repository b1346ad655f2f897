"""Swagger UI (``/docs``) and ReDoc (``/redoc``) from assets the app serves itself.

FastAPI's default pages load their scripts, styles, favicon and fonts from public CDNs,
which operators' networks often cannot reach; these pages load the copies vendored under
``serve_app/static/vendor/`` (``swagger-ui-dist`` 5.17.14 and ``redoc`` 2.1.5 from the
npm registry, each with its licence file) and no Google Fonts.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

VENDOR = "/static/vendor"
SWAGGER_JS = f"{VENDOR}/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = f"{VENDOR}/swagger-ui/swagger-ui.css"
FAVICON = f"{VENDOR}/swagger-ui/favicon-32x32.png"
REDOC_JS = f"{VENDOR}/redoc/redoc.standalone.js"
#: the pages load nothing from elsewhere (ReDoc's sidebar would fetch its maker's logo
#: from a CDN; the browser is told not to)
SAME_ORIGIN_ONLY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


def install_api_docs(app: FastAPI) -> None:
    """Add ``/docs`` and ``/redoc`` to ``app`` (built with ``docs_url=None, redoc_url=None``)."""
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} · API",
            swagger_js_url=SWAGGER_JS,
            swagger_css_url=SWAGGER_CSS,
            swagger_favicon_url=FAVICON,
        )
        page.headers["Content-Security-Policy"] = SAME_ORIGIN_ONLY
        return page

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} · API",
            redoc_js_url=REDOC_JS,
            redoc_favicon_url=FAVICON,
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = SAME_ORIGIN_ONLY
        return page
