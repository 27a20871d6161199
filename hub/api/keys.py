"""Application keys for the resources that live as long as the web app."""

from aiohttp import web

from ..hub import Hub

HUB = web.AppKey("hub", Hub)
