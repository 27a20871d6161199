"""The dispatcher's console: a web page, served by the hub, to start, follow and end actions.

The page is plain HTML, CSS and JavaScript modules under ``static/`` (no build step; Leaflet is
vendored as its released dist files). It talks to the ordinary HTTP API with the dispatcher's bearer
token, and adds only what a browser cannot do with that API alone (see :mod:`hub.console.web`):

* ``GET  /console/``                               the page (and its assets under ``/console/...``)
* ``GET  /console/config.json``                    map tiles (if configured), radius per mode of transport
* ``GET  /console/api/me``                         who a bearer token belongs to (name, role)
* ``POST /console/api/actions/{id}/ticket``        a short-lived signed ticket for the event stream
* ``GET  /console/api/actions/{id}/events?ticket=`` server-sent events: the action with live counts,
  and each tip in full

``create_app`` installs it unless ``[console] enabled = false``; to set it up by hand, install it
on a hub before its web app is built::

    from hub.console import install
    install(hub, tiles_url="https://tiles.example.org/{z}/{x}/{y}.png")
    app = create_app(hub)

Without ``tiles_url`` (or ``$BURGERHUB_CONSOLE_TILES_URL``) the map draws a bundled, approximate
outline of the Netherlands and its neighbours and needs no internet access at all.
"""

from __future__ import annotations

import os
from typing import Any

from .web import ConsoleSettings

__all__ = ["install", "ConsoleSettings"]


def install(hub: Any, *, tiles_url: str | None = None, tiles_attribution: str | None = None) -> ConsoleSettings:
    """Add the console to ``hub``'s web app (through ``hub.web_extensions``). Installing twice is a no-op."""
    for extension in hub.web_extensions:
        if isinstance(extension, ConsoleSettings):
            return extension
    settings = ConsoleSettings(
        tiles_url=tiles_url if tiles_url is not None else os.environ.get("BURGERHUB_CONSOLE_TILES_URL") or None,
        tiles_attribution=(
            tiles_attribution
            if tiles_attribution is not None
            else os.environ.get("BURGERHUB_CONSOLE_TILES_ATTRIBUTION", "")
        ),
    )
    hub.web_extensions.append(settings)
    return settings
