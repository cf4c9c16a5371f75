"""The Manager's HTTP application (aiohttp): worker API plus dashboard, in the engine's loop.

aiohttp rather than Flask: the worker API serves thousands of small requests
a second from one event loop, the one that owns the dispatch state, so no
request holds a thread or a lock.
"""
from __future__ import annotations

import dataclasses
import logging

from aiohttp import web

from flamenco_manager import metrics, openapi
from flamenco_manager.api.auth import CTX_KEY, Handler
from flamenco_manager.api.errors import BadRequest, error_response
from flamenco_manager.api.throttle import RefusalThrottle
from flamenco_manager.api.worker_api import REGISTRATION_THROTTLE
from flamenco_manager.api.worker_api import routes as worker_routes
from flamenco_manager.context import ManagerContext
from flamenco_manager.dashboard.views import routes as dashboard_routes
from flamenco_manager.journal import StoreUnavailable

log = logging.getLogger(__name__)

# Largest request body accepted (413 beyond): a worker's log chunk is far smaller.
MAX_REQUEST_BYTES = 32 * 1024 * 1024
# Seconds a worker is asked to wait when the database is unavailable.
RETRY_AFTER_SECONDS = 5


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error in the JSON shape; the store being down is a 503, never a 500."""
    try:
        return await handler(request)
    except BadRequest as ex:
        return error_response(ex.code, ex.message, ex.field)
    except StoreUnavailable as ex:
        return error_response(503, str(ex), headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    except web.HTTPException as ex:
        if ex.status < 400:
            raise
        headers = {k: v for k, v in ex.headers.items() if k in ("Allow", "WWW-Authenticate", "Retry-After")}
        return error_response(ex.status, ex.reason, headers=headers)
    except Exception as ex:  # noqa: BLE001 - answered, logged, never a traceback on the wire
        log.exception("unexpected error in %s %s", request.method, request.path)
        return error_response(500, f"internal error: {type(ex).__name__}")


def create_app(ctx: ManagerContext) -> web.Application:
    """An aiohttp app serving workers and the dashboard from ``ctx``."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[metrics.observe_latency, errors_as_json])
    app[CTX_KEY] = ctx
    app[REGISTRATION_THROTTLE] = RefusalThrottle()
    app.router.add_routes(worker_routes)
    app.router.add_routes(dashboard_routes)
    metrics.init_app(app)
    openapi.init_app(app)
    if not ctx.config.worker_registration_secret:
        if ctx.config.worker_registration_open:
            log.warning("worker_registration_open: anyone who can reach this manager may register a worker")
        else:
            log.warning("no worker_registration_secret: worker registration is refused until one is set")
    return app


@dataclasses.dataclass
class Serving:
    """A running HTTP server in the engine's loop; ``stop()`` ends it."""

    ctx: ManagerContext
    runner: web.AppRunner
    port: int

    def stop(self) -> None:
        if self.ctx.engine.running:  # a stopped engine closed its sockets with its loop
            self.ctx.engine.submit(self.runner.cleanup())


def start_serving(ctx: ManagerContext, host: str, port: int) -> Serving:
    """Serve ``create_app(ctx)`` on ``host:port`` from the engine's loop."""
    async def start() -> Serving:
        runner = web.AppRunner(create_app(ctx), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port, backlog=2048, reuse_address=True)
        await site.start()
        return Serving(ctx, runner, port)
    return ctx.engine.submit(start())
