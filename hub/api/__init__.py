"""The HTTP API: an aiohttp application under ``/v1/``, built by :func:`create_app`."""

from __future__ import annotations

from aiohttp import web

from ..hub import Hub
from . import actions, cap, evaluation, events, me, organisations, participants, public_policies, system
from .auth import AUTH, TokenAuth
from .errors import error_middleware
from .guard import LIMITER, ClientLimiter, nosniff, rate_limit_middleware
from .keys import HUB
from . import parse_log
from ..public import web as public_web


def create_app(hub: Hub, *, manage_hub: bool = True) -> web.Application:
    """The web app for ``hub``. With ``manage_hub`` the app starts and stops the hub with itself."""
    config = hub.config
    parse_log.install()
    limit = rate_limit_middleware([t.token for t in config.tokens], config.trusted_proxies)
    app = web.Application(middlewares=[error_middleware, limit], client_max_size=config.max_photo_bytes + 1024 * 1024)
    app[HUB] = hub
    app[LIMITER] = ClientLimiter(config.public_rate, config.public_burst)
    app.on_response_prepare.append(nosniff)
    app[AUTH] = TokenAuth(hub.config.tokens, hub.registry, hub.organisations)
    events.install(app)
    app.add_routes(system.routes)
    app.add_routes(actions.routes)
    app.add_routes(participants.routes)
    app.add_routes(me.routes)
    app.add_routes(cap.routes)
    app.add_routes(organisations.routes)
    app.add_routes(public_policies.routes)
    public_web.install(app)
    evaluation.install(app)
    for name, rt in hub.runtimes.items():
        defs = list(rt.channel.web_routes())
        if defs:
            sub = web.Application(middlewares=[error_middleware])
            sub.add_routes(defs)
            app.add_subapp(f"/v1/channels/{name}/", sub)
    if hub.config.console.enabled:
        from ..console import install as install_console

        console = hub.config.console
        install_console(hub, tiles_url=console.tiles_url or None, tiles_attribution=console.tiles_attribution or None)
    from ..participant import mount as mount_participant_page

    mount_participant_page(app)
    for extra in hub.web_extensions:
        extra(app)
    if manage_hub:

        async def lifecycle(app: web.Application):
            await hub.start()
            yield
            await hub.stop()

        app.cleanup_ctx.append(lifecycle)
    return app
