"""The operator console at ``/console``: server-rendered pages for people, beside the API
(docs/decisions/0018-operator-console.md)."""

from pathlib import Path
from typing import Final

from litestar.datastructures import CacheControlHeader
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.router import Router
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from api.console.campaigns import ConsoleCampaignsController
from api.console.customers import ConsoleCustomerController
from api.console.messages import ConsoleMessagesController
from api.console.operations import ConsoleProgramController
from api.console.pages import ConsoleController
from api.console.queues import ConsoleQueueController
from api.console.reports import ConsoleReportsController
from api.console.rules import ConsoleRulesController
from api.console.segments import ConsoleSegmentsController

here: Final = Path(__file__).parent
# Templates are named ``console/<page>.html`` so another part of the app can add its own.
templates_directory: Final = here / "templates"
static_directory: Final = here / "static"
static_path: Final = "/console/static"
static_cache_seconds: Final = 3600


def console_templates() -> TemplateConfig[JinjaTemplateEngine]:
    """Jinja with autoescaping on (the engine's default for a directory)."""
    return TemplateConfig(directory=templates_directory, engine=JinjaTemplateEngine)


def console_static() -> Router:
    """The console's stylesheet, public like the sign-in page that loads it."""
    return create_static_files_router(
        path=static_path,
        directories=[static_directory],
        name="console_static",
        opt={"public": True},
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=static_cache_seconds),
    )


console_handlers: Final = (
    ConsoleCampaignsController,
    ConsoleController,
    ConsoleCustomerController,
    ConsoleMessagesController,
    ConsoleProgramController,
    ConsoleQueueController,
    ConsoleReportsController,
    ConsoleRulesController,
    ConsoleSegmentsController,
)

__all__ = ["console_handlers", "console_static", "console_templates"]
