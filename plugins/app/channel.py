"""Push to installed apps with geofencing on the device.

The hub sends the action's area (circle or polygon) to every install subscribed to a grid cell that
the area's bounding box touches; the app compares the area with its own location and stays silent
when it is outside. The hub never receives or stores a device location: only the coarse cells the
app chose to subscribe to (see :mod:`plugins.app.regions`).

Messages travel as Web Push (RFC 8030) with aes128gcm encryption (RFC 8291) and VAPID (RFC 8292).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import aiohttp
from py_vapid import VapidException

from hub.channel import AudienceKind, Channel
from hub.errors import PermanentDeliveryError, PluginError, TransientDeliveryError
from hub.models import ActionView, Delivery, MessageKind, Notice, Receipt, Recipient, Rendered, Urgency
from hub.retry import parse_retry_after

from . import payload as payloads
from .current import CurrentActions
from .installs import Installs
from .push import BadSubscription, VapidSigner, b64url, encrypt
from .regions import cells_covering
from .web import AppRoutes, endpoint_problem

HERE = Path(__file__).parent
DEFAULT_PUSH_HOSTS = ["fcm.googleapis.com", "push.services.mozilla.com", "web.push.apple.com", "notify.windows.com"]


class AppChannel(Channel):
    name = "app"
    title = "Burgernet app: Web Push with geofencing on the device"
    settings_schema = json.loads((HERE / "settings.schema.json").read_text())
    credentials = ("vapid_private_key",)
    requirements = ("pywebpush", "py_vapid", "http_ece")
    audience = AudienceKind.OWN
    contact = None
    batch_size = 32
    concurrency = 8
    templates_dir = HERE / "templates"

    def __init__(self, context) -> None:
        super().__init__(context)
        s = self.settings
        self.installs = Installs(context.records, context.secret)
        self.allowed_hosts: list[str] = list(s.get("allowed_push_hosts", DEFAULT_PUSH_HOSTS))
        self.allow_insecure = bool(s.get("allow_insecure_endpoints", False))
        self.max_regions = int(s.get("max_regions", 64))
        self.max_photo_bytes = int(s.get("max_photo_bytes", 8 * 1024 * 1024))
        self.ttl_time_critical = int(s.get("ttl_time_critical", 3600))
        self.ttl_non_urgent = int(s.get("ttl_non_urgent", 86400))
        self.timeout = float(s.get("request_timeout", 10))
        self.signer: VapidSigner | None = None
        self._session: aiohttp.ClientSession | None = None
        #: the answer to devices asking for the actions around them (``GET current``)
        self.current = CurrentActions(self)
        self._routes = AppRoutes(self)

    async def start(self) -> None:
        key = self.settings.get("vapid_private_key")
        if key:
            subject = self.settings.get("vapid_subject")
            if not subject:
                raise PluginError("app: vapid_subject (mailto: or https: contact) is required with vapid_private_key")
            try:
                self.signer = VapidSigner(key, subject)
            except (ValueError, TypeError) as e:
                raise PluginError(f"app: vapid_private_key is not a usable P-256 key: {e}") from e
        elif not self.context.sandbox:
            raise PluginError("app: vapid_private_key is required outside the sandbox")
        if not self.context.sandbox:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(limit=256, limit_per_host=64),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def web_routes(self) -> Sequence[Any]:
        return self._routes.route_defs()

    def describe(self) -> dict[str, Any]:
        return {
            "transport": "web-push (RFC 8030, aes128gcm, VAPID)",
            "vapid_public_key": self.signer.public_key if self.signer else None,
            "allowed_push_hosts": self.allowed_hosts,
            "grid": "0.1 degree cells, r:<lat>:<lon>",
        }

    def endpoint_problem(self, endpoint: str) -> str | None:
        return endpoint_problem(endpoint, self.allowed_hosts, self.allow_insecure)

    # -- audience ---------------------------------------------------------------------------------

    async def resolve_audience(self, action: ActionView) -> Sequence[Recipient]:
        try:
            cells = cells_covering(action.area)
        except ValueError as e:
            self.context.logger.warning("app: area of action %s too large for the grid: %s", action.id, e)
            return []
        found = await self.installs.linked_in_cells(cells)
        # an install its participant linked carries their id, so "the app first, then SMS" can wait for it
        return [Recipient(address=install_id, language=language, participant_id=pid)
                for install_id, (language, pid) in sorted(found.items())]

    # -- messages ---------------------------------------------------------------------------------

    def payload_for(self, notice: Notice, language: str) -> dict[str, Any]:
        """The payload of a notice in a language, as pushed (before :func:`~plugins.app.payload.fit`)."""
        templates = self.context.templates
        action = notice.action
        title = templates.render("push_title.txt.j2", language, action=action, notice=notice, ref=action.reference)
        text = templates.text(notice, language, variant="long")
        return payloads.build_payload(notice, title=title, text=text, tip_url=self.context.url("tips"))

    def render(self, notice: Notice, recipient: Recipient) -> Rendered:
        body = self.payload_for(notice, recipient.language)
        return Rendered(text=body["text"], subject=body["title"], extra={"payload": body})

    def _headers(self, notice: Notice, now: datetime | None = None) -> dict[str, str]:
        action = notice.action
        urgent = action.urgency is Urgency.TIME_CRITICAL and notice.kind is not MessageKind.END
        ttl = self.ttl_time_critical if urgent else self.ttl_non_urgent
        if urgent and action.expires_at is not None:
            now = now or datetime.now(timezone.utc)
            ttl = max(0, min(ttl, int((action.expires_at - now).total_seconds())))
        return {
            "TTL": str(ttl),
            "Urgency": "high" if urgent else "normal",
            # A newer message about the same action replaces one the push service still holds.
            "Topic": b64url(hashlib.sha256(action.id.encode()).digest()[:24]),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
        }

    async def deliver(self, notice: Notice, deliveries: Sequence[Delivery]) -> Sequence[Receipt]:
        if self._session is None or self.signer is None:
            raise TransientDeliveryError("app channel is not started", code="not_started")
        headers = self._headers(notice)
        bodies: dict[str, bytes] = {}
        return await asyncio.gather(*(self._push_isolated(notice, d, headers, bodies) for d in deliveries))

    async def _push_isolated(
        self, notice: Notice, delivery: Delivery, headers: dict[str, str], bodies: dict[str, bytes]
    ) -> Receipt:
        # One broken delivery must not fail the batch: the others would be pushed again on the retry.
        try:
            return await self._push(notice, delivery, headers, bodies)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.context.logger.exception("app: delivery %s failed unexpectedly", delivery.id)
            return Receipt.failed(delivery, _transient(f"{type(e).__name__}: {e}", "crash", None, e))

    async def _push(self, notice: Notice, delivery: Delivery, headers: dict[str, str], bodies: dict[str, bytes]) -> Receipt:
        install_id = delivery.recipient.address
        install = await self.installs.get(install_id)
        if install is None:
            return Receipt.failed(delivery, PermanentDeliveryError("the install has unsubscribed", code="unsubscribed"))
        language = install.get("language") or delivery.recipient.language
        if language not in bodies:
            bodies[language] = payloads.fit(self.payload_for(notice, language))
        endpoint = install["endpoint"]
        try:
            body = encrypt(endpoint, install["keys"], bodies[language])
        except BadSubscription as e:  # a stored key that no longer parses: this install can never be reached
            await self.installs.remove(install_id)
            return Receipt.failed(delivery, PermanentDeliveryError(f"unusable subscription keys: {e}", code="bad_keys"))
        try:
            authorization = self.signer.authorization(endpoint)
        except VapidException as e:  # e.g. an endpoint origin py_vapid cannot put in "aud"
            return Receipt.failed(delivery, PermanentDeliveryError(f"cannot sign VAPID for {endpoint!r}: {e}", code="vapid_error"))
        request_headers = {**headers, "Authorization": authorization}
        assert self._session is not None
        try:
            async with self._session.post(endpoint, data=body, headers=request_headers, allow_redirects=False) as resp:
                await resp.read()
                return await self._receipt(delivery, install_id, resp, notice)
        except asyncio.TimeoutError as e:
            return Receipt.failed(delivery, _transient("push service timed out", "timeout", None, e))
        except aiohttp.ClientError as e:
            return Receipt.failed(delivery, _transient(f"push service unreachable: {type(e).__name__}", "network", None, e))

    async def _receipt(
        self, delivery: Delivery, install_id: str, resp: aiohttp.ClientResponse, notice: Notice
    ) -> Receipt:
        status = resp.status
        if status in (200, 201, 202):
            # an id the app can name when it confirms (see the ``received`` route); the push
            # service's own message URL stays in the receipt's detail
            return Receipt.sent(delivery, provider_id=payloads.confirmation_id(notice, install_id),
                                push_message=resp.headers.get("Location"))
        if status in (404, 410):
            await self.installs.remove(install_id)
            return Receipt.failed(
                delivery,
                PermanentDeliveryError("push subscription expired or unsubscribed", code="subscription_expired", provider_status=status),
            )
        if status == 429 or status >= 500:
            code = "rate_limited" if status == 429 else "push_service_error"
            return Receipt.failed(
                delivery,
                TransientDeliveryError(
                    f"push service answered {status}", code=code,
                    retry_after=parse_retry_after(resp.headers.get("Retry-After")), provider_status=status,
                ),
            )
        code = {400: "rejected", 401: "vapid_rejected", 403: "vapid_rejected", 413: "payload_too_large"}.get(status, "rejected")
        return Receipt.failed(delivery, PermanentDeliveryError(f"push service answered {status}", code=code, provider_status=status))


def _transient(reason: str, code: str, status: int | None, cause: BaseException) -> TransientDeliveryError:
    error = TransientDeliveryError(reason, code=code, provider_status=status)
    error.__cause__ = cause
    return error
