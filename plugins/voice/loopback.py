"""Twilio's Calls API, served on 127.0.0.1 for tests: calls are created, then "played" on request.

``POST /2010-04-01/Accounts/{AccountSid}/Calls.json`` takes the documented form fields (``To``,
``From``, ``Twiml`` or ``Url``, ``StatusCallback``, ``StatusCallbackEvent`` (repeatable),
``StatusCallbackMethod``, ``Timeout``, ``TimeLimit``, ``MachineDetection``) with HTTP Basic auth and
answers ``201`` with the call resource, or an error object ``{"code", "message", "more_info",
"status"}``: 21211 invalid number, 21201/21213 missing ``To``/``From``, 21205 no TwiML or URL, 32018
TwiML over 4,000 characters, 20003 authentication; 429/5xx on demand with :meth:`fail_next`.

Like Twilio, it fetches a call's ``Url`` and posts the call's status events to its
``StatusCallback``, both signed with ``X-Twilio-Signature``. :meth:`press` is a listener pressing a
key during a ``<Gather>``: the digit is posted (signed) to the Gather's ``action``, and what the hub
answers is what Twilio would play or dial next.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from plugins.sms.signing import twilio_signature

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


@dataclass
class LoopbackTwilioCalls:
    account_sid: str = "AC" + "1" * 32
    auth_token: str = "loopback-voice-token"
    invalid: set[str] = field(default_factory=set)
    calls: list[dict[str, Any]] = field(default_factory=list)
    _faults: list[tuple[int, str | None]] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _client: aiohttp.ClientSession | None = None
    base_url: str = ""

    async def __aenter__(self) -> "LoopbackTwilioCalls":
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Calls.json", self._create_call)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        self._client = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(self, status: int, retry_after: str | None = None) -> None:
        self._faults.append((status, retry_after))

    def _error(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
        return web.json_response(body, status=status, headers=headers)

    def _authorized(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        try:
            user, _, password = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return auth.startswith("Basic ") and user == self.account_sid and password == self.auth_token

    async def _create_call(self, request: web.Request) -> web.Response:
        if request.match_info["sid"] != self.account_sid or not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        if self._faults:
            status, retry_after = self._faults.pop(0)
            headers = {"Retry-After": retry_after} if retry_after else None
            if status == 429:
                return self._error(429, 20429, "Too Many Requests", headers)
            return self._error(status, 20500, "Internal Server Error", headers)
        form = await request.post()
        to, sender = form.get("To"), form.get("From")
        twiml, url = form.get("Twiml"), form.get("Url")
        if not to:
            return self._error(400, 21201, "No 'To' number is specified")
        if not sender:
            return self._error(400, 21213, "No 'From' number is specified")
        if not twiml and not url:
            return self._error(400, 21205, "Url parameter is required.")
        if twiml and len(str(twiml)) > 4000:
            return self._error(400, 32018, "Twiml size exceeded maximum allowed value of 4000 characters")
        if not E164.match(str(to)) or to in self.invalid:
            return self._error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        sid = "CA" + secrets.token_hex(16)
        call = {
            "sid": sid,
            "To": str(to),
            "From": str(sender),
            "Twiml": str(twiml) if twiml else None,
            "Url": str(url) if url else None,
            "StatusCallback": str(form.get("StatusCallback", "")),
            "StatusCallbackMethod": str(form.get("StatusCallbackMethod", "POST")),
            "StatusCallbackEvent": [str(v) for v in form.getall("StatusCallbackEvent", [])],
            "Timeout": str(form.get("Timeout", "60")),
            "TimeLimit": str(form.get("TimeLimit", "14400")),
            "MachineDetection": str(form.get("MachineDetection", "")),
        }
        self.calls.append(call)
        return web.json_response(
            {
                "account_sid": self.account_sid,
                "api_version": "2010-04-01",
                "direction": "outbound-api",
                "from": sender,
                "sid": sid,
                "status": "queued",
                "to": to,
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{sid}.json",
            },
            status=201,
        )

    def _call(self, sid: str) -> dict[str, Any]:
        return next(c for c in self.calls if c["sid"] == sid)

    def _params(self, call: dict[str, Any], status: str, **extra: str) -> dict[str, str]:
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": call["sid"],
            "CallStatus": status,
            "Called": call["To"],
            "Caller": call["From"],
            "Direction": "outbound-api",
            "From": call["From"],
            "To": call["To"],
            **extra,
        }

    async def _signed_post(self, url: str, params: dict[str, str], *, signature: str | None = None) -> tuple[int, str]:
        assert self._client is not None
        signature = signature if signature is not None else twilio_signature(self.auth_token, url, params.items())
        async with self._client.post(url, data=params, headers={"X-Twilio-Signature": signature}) as resp:
            return resp.status, await resp.text()

    async def twiml_of(self, sid: str) -> str:
        """The TwiML Twilio would execute: inline, or fetched from the call's ``Url`` as Twilio does."""
        call = self._call(sid)
        if call["Twiml"]:
            return call["Twiml"]
        status, body = await self._signed_post(call["Url"], self._params(call, "in-progress"))
        if status != 200:
            raise RuntimeError(f"fetching TwiML from {call['Url']} gave {status}")
        return body

    async def press(self, sid: str, digits: str, *, twiml: str | None = None) -> str:
        """Press ``digits`` while the call plays ``twiml`` (default: the call's own): Twilio posts
        ``Digits`` to the ``<Gather>``'s action (its method, signed) and plays the answer, returned here."""
        call = self._call(sid)
        document = ET.fromstring((twiml or await self.twiml_of(sid)).encode())
        gather = document.find("Gather")
        if gather is None:
            raise AssertionError("the TwiML has no <Gather>: pressing a key does nothing")
        if gather.get("input", "dtmf") not in ("dtmf", "dtmf speech") or len(digits) > int(gather.get("numDigits", "99")):
            raise AssertionError(f"this <Gather> does not take {digits!r}")
        action = gather.get("action") or call["Url"]
        status, body = await self._signed_post(action, self._params(call, "in-progress", Digits=digits))
        if status != 200:
            raise RuntimeError(f"the Gather action {action} answered {status}")
        return body

    async def status(self, sid: str, call_status: str, *, answered_by: str | None = None,
                     signature: str | None = None, **extra: str) -> int:
        """POST one status callback event for a call to its ``StatusCallback``; the hub's HTTP status."""
        call = self._call(sid)
        params = self._params(call, call_status, **extra)
        if answered_by:
            params["AnsweredBy"] = answered_by
        if call_status == "completed":
            params.setdefault("CallDuration", "38")
        status, _ = await self._signed_post(call["StatusCallback"], params, signature=signature)
        return status


def dials(twiml: str) -> list[str]:
    """The numbers a TwiML document's ``<Dial>`` verbs put the caller through to."""
    return [(d.text or "").strip() for d in ET.fromstring(twiml.encode()).findall("Dial")]


def says(twiml: str) -> list[ET.Element]:
    """The ``<Say>`` elements of a TwiML document (parsing it proves it is well-formed)."""
    return ET.fromstring(twiml.encode()).findall("Say")
