"""The participant page: where citizens sign up, prove their contacts, make their choices and get
alerts as an installable web app (PWA). Served by the hub at ``/participant/``.

Plain HTML, CSS and JavaScript modules under ``static/`` (no build step), Dutch by default and
English with one click. Everything it does goes through ``/v1/me`` (:mod:`hub.api.me`) and the app
channel's routes (``/v1/channels/app/...``); the routes here serve only what a browser needs besides:

* ``GET /participant/``                   the page, its assets, the manifest and the service worker
* ``GET /participant/config.json``        network name, map tiles, whether the app channel runs
* ``GET /participant/places.json``        the shipped places table (choose an address by place)
* ``GET /participant/vendor/leaflet/...`` the map library the console vendors

The service worker (``sw.js``) shows an alert only when the device's last known position lies in
the action's area; the position is kept on the device (IndexedDB) and never sent.
"""

from .web import mount

__all__ = ["mount"]
