"""Twilio's Messages API and CM.com's JSON gateway, served on 127.0.0.1 for tests and benchmarks.

It implements the documented request and answer shapes, not a mock of this plugin:

* Twilio ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``: HTTP Basic auth, form fields
  ``To``, ``From`` or ``MessagingServiceSid``, ``Body``, ``StatusCallback``; ``201`` with the message
  resource, or ``{"code", "message", "more_info", "status"}`` (21211 invalid number, 21614 not a
  mobile, 21602 no body, 20003 authentication). Status callbacks and replies are POSTed back with an
  ``X-Twilio-Signature`` made with the auth token.
* CM ``POST /v1.0/message``: ``{"messages": {"authentication": {"producttoken"}, "msg": [...]}}``;
  per-recipient results ``{"to", "status": "Accepted"|"Rejected", "reference", "parts",
  "messageDetails", "messageErrorCode"}`` with ``errorCode`` 0, 201 (some rejected) or 101
  (authentication); status reports and incoming messages in CM's JSON webhook format.

Faults (429 with ``Retry-After``, 5xx) are injected with :meth:`LoopbackSmsProvider.fail_next`.

Status reports as CM makes them, when ``cm_report_url`` is set (what an operator registers in CM's
Channels app): every accepted CM message is reported "delivered" (code 2) ``cm_report_after`` seconds
later, with the ``reference`` the sender gave it; a report the webhook does not take (no answer, or
not 2xx) is posted again every ``cm_report_retry`` seconds, as CM retries for up to seven days.
Run it standalone with ``python -m plugins.sms.loopback --port 0``.

For benchmarks it also counts what it accepted, with wall-clock arrival times (``time.time()``, so a
client in another process can compare them with its own clock):

* ``GET /_stats`` - ``{"requests", "messages", "first", "last"}``: requests answered, messages
  accepted (one per Twilio request, one per CM recipient, one per generic notification), and when
  the first and the last accepted message arrived. ``?messages=N&timeout=S`` waits (at most ``S``
  seconds) until ``N`` messages were accepted, so a client need not poll;
* ``POST /_stats/reset`` - start counting afresh;
* ``POST /notify/{anything}`` - a generic JSON notification (the shape Apprise's ``json://`` sends:
  ``{"version", "title", "message", "type"}``): ``200`` when it has a ``message``, else ``400``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from . import gsm
from .signing import twilio_signature

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
CM_NUMBER = re.compile(r"^00[1-9][0-9]{6,14}$")


@dataclass
class Fault:
    status: int
    retry_after: str | None = None
    times: int = 1


@dataclass
class Arrivals:
    """Messages accepted since the last reset, and the wall-clock times the first and last arrived."""

    requests: int = 0
    messages: int = 0
    first: float | None = None
    last: float | None = None
    #: (count, future) pairs of clients waiting for ``messages`` to reach ``count``
    _waiters: list[tuple[int, asyncio.Future]] = field(default_factory=list)

    def accepted(self, n: int, at: float | None = None) -> None:
        """Count ``n`` messages accepted, which arrived ``at`` (their request's body read; default now)."""
        if n <= 0:
            return
        now = time.time() if at is None else at
        if self.first is None:
            self.first = now
        self.last = now
        self.messages += n
        if self._waiters:
            for count, future in self._waiters:
                if count <= self.messages and not future.done():
                    future.set_result(True)
            self._waiters = [(c, f) for c, f in self._waiters if not f.done()]

    async def wait_for(self, messages: int, timeout: float) -> bool:
        """Wait until at least ``messages`` were accepted; False if ``timeout`` seconds passed first."""
        if self.messages >= messages:
            return True
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((messages, future))
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def reset(self) -> None:
        self.requests, self.messages, self.first, self.last = 0, 0, None, None

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "messages": self.messages, "first": self.first, "last": self.last}


@dataclass
class LoopbackSmsProvider:
    account_sid: str = "AC" + "0" * 32
    auth_token: str = "loopback-auth-token"
    product_token: str = "00000000-0000-0000-0000-000000000000"
    #: keep every accepted message (off for benchmarks)
    record: bool = True
    #: numbers (E.164) the providers reject as invalid; landlines Twilio refuses as non-mobile
    invalid: set[str] = field(default_factory=set)
    landlines: set[str] = field(default_factory=set)
    messages: list[dict[str, str]] = field(default_factory=list)
    cm_requests: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    #: generic notifications received on ``/notify/...`` (when ``record`` is on)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    arrivals: Arrivals = field(default_factory=Arrivals)
    #: CM status reports (see the module's docstring): the webhook, the delay, the retry interval
    cm_report_url: str | None = None
    cm_report_after: float = 0.5
    cm_report_retry: float = 1.0
    #: CM status reports the webhook took
    cm_reports: int = 0
    _reporting: set = field(default_factory=set)
    _faults: list[Fault] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _client: aiohttp.ClientSession | None = None
    base_url: str = ""

    # -- lifecycle ----------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._twilio_message)
        app.router.add_post("/v1.0/message", self._cm_message)
        app.router.add_post("/notify/{tail:.*}", self._notification)
        app.router.add_get("/_stats", self._stats)
        app.router.add_post("/_stats/reset", self._stats_reset)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        self.base_url = f"http://{host}:{sock.getsockname()[1]}"
        return self.base_url

    async def close(self) -> None:
        for task in list(self._reporting):
            task.cancel()
        if self._reporting:
            await asyncio.gather(*self._reporting, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> "LoopbackSmsProvider":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def fail_next(self, status: int, *, times: int = 1, retry_after: str | None = None) -> None:
        """Answer the next ``times`` send requests with ``status`` (e.g. 429 or 503)."""
        self._faults.append(Fault(status, retry_after, times))

    def _fault(self) -> Fault | None:
        if not self._faults:
            return None
        fault = self._faults[0]
        fault.times -= 1
        if fault.times <= 0:
            self._faults.pop(0)
        return fault

    # -- Twilio -------------------------------------------------------------------------------
    def _twilio_error(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
        return web.json_response(body, status=status, headers=headers)

    def _authorized(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == self.account_sid and password == self.auth_token

    async def _twilio_message(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.arrivals.requests += 1
        if request.match_info["sid"] != self.account_sid or not self._authorized(request):
            return self._twilio_error(401, 20003, "Authenticate")
        fault = self._fault()
        if fault is not None:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
            if fault.status == 429:
                return self._twilio_error(429, 20429, "Too Many Requests", headers)
            return self._twilio_error(fault.status, 20500, "Internal Server Error", headers)
        form = await request.post()
        to, body = form.get("To"), form.get("Body")
        sender = form.get("From") or form.get("MessagingServiceSid")
        if not to:
            return self._twilio_error(400, 21604, "A 'To' phone number is required.")
        if not sender:
            return self._twilio_error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return self._twilio_error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return self._twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if not E164.match(to) or to in self.invalid:
            return self._twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to in self.landlines:
            return self._twilio_error(400, 21614, f"'To' number {to} is not a valid mobile number")
        sid = "SM" + secrets.token_hex(16)
        self.arrivals.accepted(1)
        if self.record:
            self.messages.append(
                {
                    "sid": sid,
                    "To": to,
                    "From": str(sender),
                    "Body": str(body),
                    "StatusCallback": str(form.get("StatusCallback", "")),
                    "ValidityPeriod": str(form.get("ValidityPeriod", "")),
                }
            )
        return web.json_response(
            {
                "account_sid": self.account_sid,
                "api_version": "2010-04-01",
                "body": body,
                "direction": "outbound-api",
                "from": form.get("From"),
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "num_segments": str(gsm.segments(str(body))),
                "sid": sid,
                "status": "queued",
                "to": to,
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            },
            status=201,
        )

    async def _post_signed(self, url: str, params: dict[str, str]) -> int:
        if self._client is None:
            self._client = aiohttp.ClientSession()
        signature = twilio_signature(self.auth_token, url, params.items())
        async with self._client.post(url, data=params, headers={"X-Twilio-Signature": signature}) as resp:
            await resp.read()
            return resp.status

    async def twilio_status(self, sid: str, status: str, *, error_code: str | None = None) -> int:
        """POST a signed status callback for a message, as Twilio does; the hub's HTTP status."""
        message = next(m for m in self.messages if m["sid"] == sid)
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": message["From"],
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": message["To"],
        }
        if error_code:
            params["ErrorCode"] = error_code
        return await self._post_signed(message["StatusCallback"], params)

    async def twilio_reply(self, url: str, sender: str, body: str, *, to: str = "+3197010000000") -> tuple[int, str]:
        """POST an incoming SMS to ``url`` as Twilio's messaging webhook does; (status, body)."""
        if self._client is None:
            self._client = aiohttp.ClientSession()
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "Body": body,
            "From": sender,
            "MessageSid": "SM" + secrets.token_hex(16),
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsSid": "SM" + secrets.token_hex(16),
            "To": to,
        }
        signature = twilio_signature(self.auth_token, url, params.items())
        async with self._client.post(url, data=params, headers={"X-Twilio-Signature": signature}) as resp:
            return resp.status, await resp.text()

    # -- CM -----------------------------------------------------------------------------------
    async def _cm_message(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.arrivals.requests += 1
        fault = self._fault()
        if fault is not None:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
            return web.json_response(
                {"details": "Too many requests" if fault.status == 429 else "Internal error", "errorCode": 500, "messages": []},
                status=fault.status,
                headers=headers,
            )
        try:
            raw = await request.read()
            arrived = time.time()
            payload = _lower_keys(json.loads(raw))
            messages = payload["messages"]
            token = messages["authentication"]["producttoken"]
            msgs = messages["msg"]
        except (ValueError, KeyError, TypeError):
            return web.json_response({"details": "Invalid JSON", "errorCode": 202, "messages": []}, status=400)
        if token != self.product_token:
            return web.json_response(
                {"details": "No account found for the given authentication", "errorCode": 101, "messages": []}, status=400
            )
        if self.record:
            self.cm_requests.append(payload)
        results = []
        accepted = 0
        for msg in msgs:
            content = str((msg.get("body") or {}).get("content") or "")
            parts = gsm.segments(content)
            for recipient in msg.get("to") or []:
                number = str(recipient.get("number", ""))
                entry = {"to": number, "status": "Accepted", "reference": msg.get("reference"), "parts": parts,
                         "messageDetails": None, "messageErrorCode": 0}
                as_e164 = "+" + number[2:] if number.startswith("00") else number
                if not content:
                    entry.update(status="Rejected", parts=0, messageDetails="A body without content was found",
                                 messageErrorCode=304)
                elif not CM_NUMBER.match(number) or as_e164 in self.invalid:
                    entry.update(status="Rejected", parts=0, messageDetails=f"Gsm '{number}' is not a number.",
                                 messageErrorCode=303)
                else:
                    accepted += 1
                    if self.cm_report_url:
                        self._report_later(str(msg.get("reference") or ""), number)
                results.append(entry)
        self.arrivals.accepted(accepted, arrived)
        rejected = len(results) - accepted
        body = {"details": f"Created {accepted} message(s)", "errorCode": 201 if rejected else 0, "messages": results}
        return web.json_response(body, status=200 if accepted or not results else 400)

    # -- generic notifications and counters --------------------------------------------------
    async def _notification(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.arrivals.requests += 1
        try:
            payload = await request.json()
            message = payload["message"]
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "a JSON object with a 'message' is required"}, status=400)
        if not message:
            return web.json_response({"error": "'message' is empty"}, status=400)
        self.arrivals.accepted(1)
        if self.record:
            self.notifications.append({"path": request.match_info["tail"], **payload})
        return web.json_response({"status": "accepted"})

    async def _stats(self, request: web.Request) -> web.Response:
        try:
            wanted = int(request.query.get("messages", "0"))
            timeout = min(float(request.query.get("timeout", "30")), 600.0)
        except ValueError:
            return web.json_response({"error": "messages and timeout must be numbers"}, status=400)
        if wanted > 0:
            await self.arrivals.wait_for(wanted, timeout)
        return web.json_response(self.arrivals.to_dict())

    async def _stats_reset(self, request: web.Request) -> web.Response:
        self.arrivals.reset()
        return web.json_response(self.arrivals.to_dict())

    async def cm_status_report(self, url: str, *, reference: str, to: str, code: str, error: str = "") -> int:
        """POST a status report in CM's JSON webhook format (``to`` as CM spells it: ``0031…``)."""
        if self._client is None:
            self._client = aiohttp.ClientSession()
        report = {
            "messages": {
                "msg": {
                    "received": "2026-11-23T14:00:05",
                    "to": to,
                    "reference": reference,
                    "status": {"code": code, "errorCode": error, "errorDescription": "Unknown subscriber" if error else ""},
                    "operator": "20408",
                }
            }
        }
        async with self._client.post(url, json=report) as resp:
            await resp.read()
            return resp.status

    def _report_later(self, reference: str, number: str) -> None:
        task = asyncio.get_running_loop().create_task(self._report(reference, number))
        self._reporting.add(task)
        task.add_done_callback(self._reporting.discard)

    async def _report(self, reference: str, number: str) -> None:
        await asyncio.sleep(self.cm_report_after)
        while True:
            try:
                if 200 <= await self.cm_status_report(self.cm_report_url, reference=reference, to=number, code="2") < 300:
                    self.cm_reports += 1
                    return
            except (aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(self.cm_report_retry)

    async def cm_reply(self, url: str, *, sender: str, text: str, reference: str | None = None) -> int:
        """POST an incoming message in CM's JSON webhook format."""
        if self._client is None:
            self._client = aiohttp.ClientSession()
        message = {
            "from": {"number": sender, "name": ""},
            "to": {"number": "3197010000000"},
            "message": {"text": text, "media": {}, "custom": {}},
            "reference": reference,
            "groupings": ["", "", ""],
            "timeUtc": "2026-11-23T14:03:00",
            "channel": "SMS",
        }
        async with self._client.post(url, json=message) as resp:
            await resp.read()
            return resp.status


def _lower_keys(value: Any) -> Any:
    """CM reads JSON keys case-insensitively."""
    if isinstance(value, dict):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


async def _serve(port: int) -> None:
    provider = LoopbackSmsProvider(record=False)
    url = await provider.start(port=port)
    print(f"listening on {url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await provider.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        asyncio.run(_serve(args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
