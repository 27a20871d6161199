# burgerhub_pager/__init__.py
"""A pager network as a burgerhub channel: one JSON list of messages per batch."""

import asyncio

import aiohttp

from hub.channel import AudienceKind, Channel, Contact
from hub.errors import PermanentDeliveryError, TransientDeliveryError
from hub.hookspecs import hookimpl
from hub.models import Receipt
from hub.retry import parse_retry_after


class PagerChannel(Channel):
    name = "pager"                                   # equals the entry-point name
    title = "Pager network"
    settings_schema = {
        "type": "object", "additionalProperties": False,
        "properties": {
            "url": {"type": "string", "pattern": "^https?://"},
            "api_key": {"type": "string", "private": True},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "default": 10},
        },
    }
    credentials = ("api_key",)                       # without it: sandbox outbox
    audience = AudienceKind.PARTICIPANTS             # the hub selects participants in the area
    contact = Contact.MOBILE                         # ... and hands us their number to text
    batch_size, concurrency, rate = 100, 4, 50.0     # per call, in parallel, messages per second

    async def start(self):                           # in the sandbox too: then without a key
        timeout = aiohttp.ClientTimeout(total=self.settings.get("timeout", 10))
        headers = {"X-Api-Key": self.settings["api_key"]} if "api_key" in self.settings else {}
        self.http = aiohttp.ClientSession(headers=headers, timeout=timeout)

    async def close(self):
        if getattr(self, "http", None):
            await self.http.close()

    async def deliver(self, notice, deliveries):
        messages = [{"to": d.recipient.address, "text": self.render(notice, d.recipient).text} for d in deliveries]
        try:
            async with self.http.post(self.settings["url"], json=messages) as resp:
                if resp.status == 429 or resp.status >= 500:
                    # the provider's hint: Retry-After (seconds or an HTTP date), else its JSON body
                    wait = parse_retry_after(resp.headers.get("Retry-After"))
                    if wait is None:
                        body = await resp.json(content_type=None) if resp.content_length else {}
                        wait = body.get("retry_after") if isinstance(body, dict) else None
                    raise TransientDeliveryError(f"HTTP {resp.status}", retry_after=wait, provider_status=resp.status)
                if resp.status >= 400:
                    raise PermanentDeliveryError(f"HTTP {resp.status}: {await resp.text()}", provider_status=resp.status)
                ids = (await resp.json())["ids"]
        except (asyncio.TimeoutError, aiohttp.ClientConnectionError) as e:
            # the pager may have taken the batch: a timeout is ambiguous, so retried (at least once)
            raise TransientDeliveryError(f"no answer from the pager network: {type(e).__name__}") from e
        return [Receipt.sent(d, provider_id=i) for d, i in zip(deliveries, ids)]


@hookimpl
def register_channels(register):
    register(PagerChannel)
