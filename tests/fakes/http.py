"""Serving a fake partner: an aiohttp application on a free local port."""

from aiohttp import web


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """Starts ``app`` on 127.0.0.1 and a port the system picks; the runner (to clean up) and
    the base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def serve_html(status: int = 200) -> tuple[web.AppRunner, str]:
    """A server that answers every request with an HTML page, as a login page, a parked domain
    or a proxy's error page does where a partner's REST API was expected."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(
            status=status, text="<!DOCTYPE html><html><body>Sign in</body></html>",
            content_type="text/html",
        )  # fmt: skip

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    return await serve(app)
