"""The browsable API docs at ``/schema``: Swagger UI from assets vendored in the package
(``api/swagger_ui/``, swagger-ui-dist 5.35.0 with its licence), so the page renders with no
network beyond this server. Litestar's Swagger plugin would otherwise load them from a CDN."""

from pathlib import Path
from typing import Any, Final

from litestar import Request
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router

from api.openapi import Publisher

swagger_ui_version: Final = "5.35.0"
swagger_ui_directory: Final = Path(__file__).parent / "swagger_ui"
assets_path: Final = "/schema/assets"
# Swagger UI is cached by the browser for a day; a new version of it is a new release of ours.
assets_cache_seconds: Final = 86_400
# No favicon request leaves for a CDN either: an empty inline icon.
_no_favicon: Final = "<link rel='icon' href='data:,'>"


class PublishedSwagger(SwaggerRenderPlugin):
    """Swagger UI showing the published document (``api/openapi.py``), not Litestar's own."""

    def __init__(self, publisher: Publisher, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.publisher = publisher

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self.publisher.published(request.app, openapi_schema))


def swagger_plugin(publisher: Publisher) -> SwaggerRenderPlugin:
    """The Swagger UI page, served at ``/schema`` (the default page) and ``/schema/swagger``."""
    return PublishedSwagger(
        publisher,
        version=swagger_ui_version,
        js_url=f"{assets_path}/swagger-ui-bundle.js",
        css_url=f"{assets_path}/swagger-ui.css",
        standalone_preset_js_url=f"{assets_path}/swagger-ui-standalone-preset.js",
        favicon=_no_favicon,
    )


def swagger_assets() -> Router:
    """The vendored files, public like the page that loads them."""
    return create_static_files_router(
        path=assets_path,
        directories=[swagger_ui_directory],
        name="swagger_ui_assets",
        opt={"public": True},
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=assets_cache_seconds, public=True),
    )
