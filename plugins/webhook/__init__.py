"""The ``webhook`` channel: every action, as signed JSON, signed CAP 1.2 or Slack-style text, to the
operator's own endpoints and partners' systems.

Each configured endpoint is one recipient (its ``name`` is the address), so an action reaches an endpoint
once, and its closing message reaches every endpoint that got the start. Uses: a bridge that forwards to
neighbourhood WhatsApp groups, a municipality's own system, Slack, Mattermost or Rocket.Chat incoming webhooks.

``json`` endpoints get the whole notice, signed: ``X-Burgerhub-Signature: sha256=<hex>`` is the
HMAC-SHA256, keyed with the endpoint's ``secret``, of ``<X-Burgerhub-Timestamp>.<raw body>``. Signing
the timestamp lets a receiver refuse old copies (replays); ``delivery.id`` in the body stays the same
across retries, so it can drop duplicates too. ``slack`` endpoints get ``{"text": ...}``.

``cap`` endpoints get the action's OASIS CAP 1.2 message for that moment of its life (``Alert``,
``Update``, ``Cancel`` with ``references``; Dutch and English ``info``; no personal data) as
``application/cap+xml``, signed the same way: a partner's alerting system, such as a neighbouring
country's for a cross-border action. The document comes from the hub (``context.cap``).

URLs are checked against SSRF: the host is resolved, every address must be public (no loopback,
private, link-local - which includes cloud metadata - or reserved range), and the request is sent to
the address that was checked, so a second DNS answer cannot differ (DNS rebinding). Redirects are
followed by hand, at most three, each checked the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import socket
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import httpx

from hub import __version__
from hub.channel import AudienceKind, Channel
from hub.errors import DeliveryError, NotFound, PermanentDeliveryError, PluginError, TransientDeliveryError
from hub.hookspecs import hookimpl
from hub.models import ActionView, Circle, Delivery, Notice, Receipt, Recipient, Rendered
from hub.retry import parse_retry_after

SETTINGS_SCHEMA = json.loads((Path(__file__).parent / "settings.schema.json").read_text(encoding="utf-8"))
MAX_REDIRECTS = 3
REDIRECTS = {301, 302, 307, 308}  # re-POSTed as they are; a 303 means the POST was accepted
MAX_RETRY_AFTER = 3600.0  # an alert an hour late is of no use: never wait longer than this


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Burgerhub-Signature`` value for a body sent at ``timestamp`` (Unix seconds)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether a webhook may call this address: globally routable, not multicast.

    An IPv6 address that carries an IPv4 one (mapped, 6to4, NAT64) is judged by the IPv4 address.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address in NAT64:
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        else:
            address = address.ipv4_mapped or address.sixtofour or address
    return address.is_global and not address.is_multicast


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (a number or an HTTP date), at most an hour."""
    return parse_retry_after(value, max_seconds=MAX_RETRY_AFTER)


def notice_json(notice: Notice, texts: Mapping[str, str]) -> dict[str, Any]:
    """The ``json`` format's body, less ``delivery`` (added per delivery)."""
    a = notice.action
    if isinstance(a.area, Circle):
        area = {"kind": "circle", "lat": a.area.lat, "lon": a.area.lon, "radius_m": a.area.radius_m}
    else:
        area = {"kind": "polygon", "points": [list(p) for p in a.area.points]}
    return {
        "event": f"action.{notice.kind.value}",
        "kind": notice.kind.value,
        "changes": list(notice.changes),
        "action": {
            "id": a.id,
            "reference": a.reference,
            "type": a.type.value,
            "urgency": a.urgency.value,
            "domain": a.domain.value,
            "status": a.status.value,
            "region": a.region,
            "title": a.title,
            "description": a.description,
            "area": area,
            "photos": [{"url": p.url, "caption": p.caption} for p in a.photos],
            "result": a.result.value if a.result else None,
            "result_text": a.result_text,
            "callback_number": a.callback_number,
            "version": a.version,
            "started_at": a.started_at.isoformat() if a.started_at else None,
            "ended_at": a.ended_at.isoformat() if a.ended_at else None,
        },
        "text": dict(texts),
    }


def slack_text(text: str, photo_urls: Sequence[str]) -> str:
    """Slack treats ``&``, ``<`` and ``>`` as markup (``<!channel>`` pings everyone): escape them."""
    lines = [text, *photo_urls]
    return "\n".join(s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for s in lines)


class WebhookChannel(Channel):
    name = "webhook"
    title = "Signed JSON or Slack-style messages to the operator's own endpoints"
    settings_schema = SETTINGS_SCHEMA
    credentials = ("endpoints",)
    requirements = ("httpx",)
    audience = AudienceKind.OWN
    contact = None
    batch_size = 1
    concurrency = 4

    def __init__(self, context) -> None:
        super().__init__(context)
        self.endpoints = {e["name"]: e for e in self.settings.get("endpoints", [])}
        self.client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        if len(self.endpoints) != len(self.settings.get("endpoints", [])):
            raise PluginError("webhook endpoint names must be unique")
        self.client = httpx.AsyncClient(
            timeout=self.settings.get("timeout", 10),
            follow_redirects=False,  # followed by hand, so that each hop is checked
            trust_env=False,  # no proxy from the environment: the address checked is the one called
            # no keep-alive: requests go to a checked address under another name, and a kept
            # connection must never carry a request for a host whose certificate it did not verify
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"User-Agent": f"burgerhub/{__version__}"},
        )

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    async def resolve_audience(self, action: ActionView) -> Sequence[Recipient]:
        return [
            Recipient(address=name, language=e.get("language", "nl"))
            for name, e in self.endpoints.items()
            if action.region in e.get("regions", [action.region]) and action.type in e.get("types", [action.type])
        ]

    def render(self, notice: Notice, recipient: Recipient) -> Rendered:
        text = self.context.templates.text(notice, recipient.language)
        if self.endpoints.get(recipient.address, {}).get("format") == "cap":
            # the CAP document is read from the hub when delivered; this says which one
            payload = {"format": "cap", "action_id": notice.action.id, "version": notice.action.version}
        elif self.endpoints.get(recipient.address, {}).get("format") == "slack":
            payload = {"text": slack_text(text, [p.url for p in notice.action.photos])}
        else:
            texts = {lang: self.context.templates.text(notice, lang) for lang in ("nl", "en")}
            payload = notice_json(notice, texts)
        return Rendered(text=text, extra={"payload": payload})

    async def deliver(self, notice: Notice, deliveries: Sequence[Delivery]) -> Sequence[Receipt]:
        return await asyncio.gather(*(self._deliver_one(notice, d) for d in deliveries))

    async def _deliver_one(self, notice: Notice, delivery: Delivery) -> Receipt:
        endpoint = self.endpoints.get(delivery.recipient.address)
        if endpoint is None:
            error = PermanentDeliveryError("endpoint is no longer configured", code="unknown_endpoint")
            return Receipt.failed(delivery, error)
        if endpoint.get("format") == "cap":
            try:
                body = await self._cap(notice)
            except DeliveryError as e:
                return Receipt.failed(delivery, e)
            headers = {"Content-Type": "application/cap+xml; charset=utf-8"}
        else:
            payload = self.render(notice, delivery.recipient).extra["payload"]
            if endpoint.get("format", "json") == "json":
                payload = {**payload, "delivery": {"id": delivery.id, "attempt": delivery.attempt}}
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
            headers = {"Content-Type": "application/json"}
        if secret := endpoint.get("secret"):
            timestamp = str(int(time.time()))
            headers |= {"X-Burgerhub-Timestamp": timestamp, "X-Burgerhub-Signature": sign(secret, timestamp, body)}
        try:
            status = await self._post(endpoint["url"], body, headers)
        except DeliveryError as e:
            return Receipt.failed(delivery, e)
        return Receipt.sent(delivery, status=status)

    async def _cap(self, notice: Notice) -> bytes:
        if self.context.cap is None:
            raise PermanentDeliveryError("this hub offers no CAP documents to channels", code="no_cap")
        try:
            return await self.context.cap.cap_document(notice.action.id, notice.action.version)
        except NotFound as e:
            raise PermanentDeliveryError(str(e), code="no_action") from e

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST, following up to three redirects; the final status, or a typed error."""
        target = httpx.URL(url)
        for _ in range(MAX_REDIRECTS + 1):
            pinned, host_header, sni = await self._check(target)
            try:
                async with self.client.stream(
                    "POST", pinned, content=body, headers={**headers, "Host": host_header},
                    extensions={"sni_hostname": sni},
                ) as response:
                    status = response.status_code
                    if 200 <= status < 300 or status == 303:
                        return status
                    location = response.headers.get("Location")
                    if status in REDIRECTS and location:
                        target = target.join(location)
                        continue
                    detail = (await _peek(response)).decode("utf-8", "replace")
            except httpx.TimeoutException as e:
                # ambiguous: it may have arrived; receivers drop duplicates by delivery id
                raise TransientDeliveryError(f"no answer in time ({type(e).__name__})", code="timeout") from e
            except httpx.TransportError as e:
                raise TransientDeliveryError(f"{type(e).__name__}: {e}", code="connection") from e
            reason = f"HTTP {status}: {detail[:200]}".strip()
            if status in (408, 429) or status >= 500:
                wait = retry_after(response.headers.get("Retry-After"))
                raise TransientDeliveryError(reason, code=f"http_{status}", retry_after=wait, provider_status=status)
            raise PermanentDeliveryError(reason, code=f"http_{status}", provider_status=status)
        raise PermanentDeliveryError(f"more than {MAX_REDIRECTS} redirects", code="redirects")

    async def _check(self, url: httpx.URL) -> tuple[httpx.URL, str, str]:
        """Refuse a URL that is not http(s) or reaches a non-public address; pin it to the address checked."""
        if url.scheme not in ("http", "https") or not url.host:
            raise PermanentDeliveryError(f"not an http(s) URL: {url.scheme}://", code="bad_url")
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise TransientDeliveryError(f"cannot resolve {host}: {e.strerror}", code="dns") from e
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        refused = [a for a in addresses if not is_public(a)]
        if refused and not self.settings.get("allow_private_addresses", False):
            raise PermanentDeliveryError(
                f"{host} resolves to {refused[0]}, which is not a public address", code="forbidden_address"
            )
        return url.copy_with(host=str(addresses[0])), url.netloc.decode("ascii"), host

    def describe(self) -> Mapping[str, Any]:
        return {
            "endpoints": [
                {"name": name, "format": e.get("format", "json"), "signed": bool(e.get("secret"))}
                for name, e in self.endpoints.items()
            ]
        }


async def _peek(response: httpx.Response, limit: int = 1024) -> bytes:
    """At most ``limit`` bytes of a response body: enough to explain an error, never an unbounded read."""
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    return data[:limit]


@hookimpl
def register_channels(register) -> None:
    register(WebhookChannel)
