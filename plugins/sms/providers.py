"""What every SMS provider adapter shares: the interface, and how answers become receipts.

The adapters (:mod:`.twilio`, :mod:`.cm`) speak their provider's documented wire format over one
shared aiohttp session (the channel owns it), and turn provider answers into receipts or typed errors
the same way:

=====================================  ===================================================
provider answer                        result
=====================================  ===================================================
accepted                               ``Receipt.sent`` with the provider's message id
429 Too Many Requests                  ``TransientDeliveryError`` with ``Retry-After``
5xx, timeout, connection error         ``TransientDeliveryError``
401/403 (credentials, balance)         ``TransientDeliveryError`` (code ``auth``): an operator
                                       can fix it, and an alert is better late than lost
invalid or unreachable number          ``Receipt.failed`` with ``PermanentDeliveryError``
=====================================  ===================================================

A transient error of a one-message call is raised for the batch (the engine retries it); within a
bigger batch it becomes that delivery's failed receipt, so accepted messages are never sent twice.
"""

from __future__ import annotations

import asyncio
import base64
from typing import TYPE_CHECKING, ClassVar, Sequence

import aiohttp
from aiohttp import web

from hub.errors import PluginError, TransientDeliveryError
from hub.models import Delivery, Notice, Receipt, Tip

if TYPE_CHECKING:
    from .channel import SmsChannel

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def e164(number: str) -> str:
    """A provider's spelling of a number (``0031…``, ``31…``, ``+31…``) as E.164."""
    number = number.strip().replace(" ", "")
    if number.startswith("+"):
        return number
    if number.startswith("00"):
        return "+" + number[2:]
    return "+" + number


class SmsProvider:
    """One provider's API: sending, and the callbacks it makes (status reports, replies)."""

    name: ClassVar[str]
    title: ClassVar[str]
    default_base_url: ClassVar[str]
    #: how the hub should drive this provider (see the channel docs)
    batch_size: ClassVar[int]
    concurrency: ClassVar[int]
    rate: ClassVar[float | None]
    #: settings this provider cannot work without
    required: ClassVar[tuple[str, ...]]

    def __init__(self, channel: "SmsChannel") -> None:
        self.channel = channel
        self.context = channel.context
        self.settings = channel.settings
        self.base_url = str(self.settings.get("base_url") or self.default_base_url).rstrip("/")

    def check_settings(self) -> None:
        missing = [k for k in self.required if not self.settings.get(k)]
        if missing:
            raise PluginError(f"sms provider {self.name!r} needs the settings: {', '.join(missing)}")

    def session_headers(self) -> dict[str, str]:
        return {"Accept": "application/json", "User-Agent": "burgerhub-sms"}

    async def send(
        self, session: aiohttp.ClientSession, notice: Notice, deliveries: Sequence[Delivery]
    ) -> list[Receipt]:
        raise NotImplementedError

    async def send_text(self, session: aiohttp.ClientSession, to: str, text: str) -> str:
        """Send one text that belongs to no action (a verification code); the provider's id, or a
        :class:`~hub.errors.DeliveryError`."""
        raise NotImplementedError

    def provider_ids(self, deliveries: Sequence[Delivery]) -> dict[int, str] | None:
        """The ids this provider's status reports will carry, when the hub chooses them before
        sending (see :meth:`hub.channel.Channel.provider_ids`); ``None`` when the provider assigns them."""
        return None

    def callback_signed(self, request: web.Request, route: str, body: bytes) -> bool:
        """Whether a callback to ``route`` comes from the provider; decided before the body is parsed."""
        raise NotImplementedError

    async def status_callback(self, request: web.Request, body: bytes) -> web.StreamResponse:
        raise NotImplementedError

    async def inbound(self, request: web.Request, body: bytes) -> web.StreamResponse:
        raise NotImplementedError

    def callback_urls(self) -> dict[str, str]:
        return {"status": self.context.url("status"), "inbound": self.context.url("inbound")}

    # -- shared helpers ---------------------------------------------------------------------
    async def _tip(self, sender: str, text: str) -> str | None:
        """Turn a reply into a tip on the last action that reached ``sender``; the tip id, or None."""
        number = e164(sender)
        text = text.strip()
        if not text:
            return None
        if text.upper().rstrip(".!") in STOP_WORDS:
            if await self.context.optouts.opt_out_address(number):
                self.context.logger.info("sms: a participant replied %s and no longer gets SMS", text.upper())
            return None
        action_id = await self.context.tips.action_for(number)
        if action_id is None:
            self.context.logger.info("sms reply from a number no action reached; ignored")
            return None
        try:
            return await self.context.tips.submit(Tip(action_id=action_id, text=text, channel="sms", sender=number))
        except Exception:  # a reply must never make the provider retry forever
            self.context.logger.exception("storing an sms reply as a tip failed")
            return None


#: replies that switch SMS off for the sender (Dutch and English, as carriers and providers use them)
STOP_WORDS = frozenset({"STOP", "STOPPEN", "AFMELDEN", "UITSCHRIJVEN", "STOP ALLES", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})


def transport_error(provider: str, e: BaseException) -> TransientDeliveryError:
    if isinstance(e, asyncio.TimeoutError):
        return TransientDeliveryError(f"{provider} did not answer in time", code="timeout")
    return TransientDeliveryError(f"cannot reach {provider}: {type(e).__name__}: {e}", code="connection")
