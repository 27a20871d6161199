"""Proving contacts and signing in without a password: :class:`Verifier`.

* **A phone number** is proven by a six-digit code: by SMS to a mobile, by a call that reads it to a
  landline. A code lives ``code_ttl`` seconds, is used once, and allows ``max_attempts`` tries; a new
  code replaces the old one. Codes are kept only as an HMAC.
* **An e-mail address** is proven by a link: confirming an address a participant entered, signing
  up (the link creates the participant, with the address verified) or signing in (the link opens a
  session). A link lives ``link_ttl`` seconds and works once; only its HMAC is kept.
* **Abuse**: sending is rate-limited per number, per address and per client (:mod:`.limits`). The
  answers to sign-up and sign-in are the same whether or not the address is registered, and the
  mail goes out after the answer, so neither the words nor the time tell.
* **Sessions**: a bearer token per signed-in device (``session_ttl``), kept as a hash.

Messages go through the hub's own channels (``sms``, ``voice``, ``email``) with
:meth:`hub.channel.Channel.send_personal`; a sandboxed channel's go to the sandbox outbox. Every change
is audited (subject ``participant:<id>``, or ``signup`` before there is a participant); audit entries
name the kind of contact, never the number or address.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any, Mapping

from ..errors import DeliveryError, HubError, NotFound, ValidationError
from ..models import PersonalMessage
from ..participants import DEFAULT_LANGUAGE, LANGUAGES, Participant, new_id, normalize_phone, with_verified
from ..store import AuditEntry
from .limits import Limits, SendLimiter
from .texts import code_message, link_message

log = logging.getLogger("burgerhub.verification")

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MINIMUM_AGE = 16
DEFAULT_CHANNELS = ("app", "sms", "email")
"""What a new sign-up wants until they choose (only proven contacts are ever reached)."""


class SendFailed(HubError):
    """A code or link could not be handed to the channel (its cause is chained)."""


@dataclass(frozen=True, slots=True)
class VerificationSettings:
    code_ttl: float = 600.0
    link_ttl: float = 1800.0
    max_attempts: int = 5
    session_ttl: float = 90 * 86400.0
    limits: Limits = Limits()
    #: where links point: the participant page, which hands the token to the API
    page_path: str = "/participant/"


def session_hash(token: str) -> str:
    """How a session token is kept (the same digest as the participants' personal tokens)."""
    return hashlib.sha256(token.encode()).hexdigest()


class Verifier:
    """Codes, links, sign-up, sign-in and sessions for one hub."""

    def __init__(
        self,
        *,
        store,
        registry,
        secret: bytes,
        runtimes: Mapping[str, Any],
        public_url: str,
        network_name: str = "Burgernet",
        settings: VerificationSettings | None = None,
    ):
        self.store = store
        self.registry = registry
        self.runtimes = runtimes
        self.public_url = public_url.rstrip("/")
        self.network = network_name
        self.settings = settings or VerificationSettings()
        self._secret = hmac.new(secret, b"verification", hashlib.sha256).digest()
        self.limiter = SendLimiter(store, secret, self.settings.limits)
        self._tasks: set[asyncio.Task] = set()
        self._pruned = 0.0

    # -- small helpers ----------------------------------------------------------------------------
    def _mac(self, *parts: str) -> str:
        return hmac.new(self._secret, "\0".join(parts).encode(), hashlib.sha256).hexdigest()

    def _link(self, token: str) -> str:
        return f"{self.public_url}{self.settings.page_path}#link={token}"

    @staticmethod
    def normalize_email(raw: Any, field: str = "email") -> str:
        if not isinstance(raw, str) or len(raw) > 254 or not EMAIL.match(raw.strip()):
            raise ValidationError(field, "not an e-mail address")
        return raw.strip().lower()

    async def _audit(self, verb: str, subject: str, detail: Mapping[str, Any] | None = None, *,
                     actor: str = "participant", role: str = "participant") -> None:
        await self.store.add_audit(AuditEntry(actor, role, verb, subject, dict(detail or {})))

    async def _prune(self) -> None:
        """Sweep expired proofs (which may name an address), old counters and sessions, at most every
        ten minutes, on the requests that use them."""
        now = time.monotonic()
        if now - self._pruned > 600:
            self._pruned = now
            await self.store.verifications_prune()

    async def _send(self, channel: str, message: PersonalMessage) -> None:
        """Hand one message to a channel now (or to the sandbox outbox); raise SendFailed."""
        rt = self.runtimes.get(channel)
        if rt is None or not getattr(rt.channel, "personal", False):
            raise SendFailed(f"the {channel} channel is not available to send codes and links")
        if rt.sandbox:
            await self.store.outbox_add([{
                "delivery_id": 0, "channel": channel, "action_id": "", "kind": message.purpose,
                "address": message.address, "language": message.language, "subject": message.subject,
                "text": message.text, "html": message.html, "extra": {"personal": True},
            }])
            return
        try:
            await rt.channel.send_personal(message)
        except DeliveryError as e:
            raise SendFailed(f"the {channel} channel could not send it: {e.reason}") from e

    def _later(self, coro) -> None:
        """Send after answering, so the answer's timing tells nothing."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            # the provider's words may quote the address: only the kind of failure goes to the log
            code = getattr(error.__cause__, "code", None) or type(error).__name__
            log.warning("a link by e-mail was not sent (%s)", code)

    async def idle(self) -> None:
        """Wait for the messages being sent in the background (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.idle()

    async def _participant(self, participant_id: str) -> Participant:
        data = await self.store.get_participant(participant_id)
        if data is None:
            raise NotFound(f"participant {participant_id!r} not found")
        return Participant.from_dict(data, validate=False)

    # -- phone numbers --------------------------------------------------------------------------
    async def send_code(self, participant_id: str, raw_number: Any, *, client: str | None) -> dict[str, Any]:
        """Send a code to one of the participant's numbers: SMS to a mobile, a call to a landline."""
        if not isinstance(raw_number, str):
            raise ValidationError("number", "not a phone number")
        number = normalize_phone(raw_number, field="number").number
        participant = await self._participant(participant_id)
        phone = next((p for p in participant.phones if p.number == number), None)
        if phone is None:
            raise ValidationError("number", "not one of your phone numbers: add it first")
        if phone.verified:
            return {"number": number, "verified": True}
        await self.limiter.client(client)
        await self.limiter.number(number)
        await self._prune()
        code = f"{secrets.randbelow(1_000_000):06d}"
        key = self._mac("phone", participant_id, number)
        call = phone.kind != "mobile"
        await self.store.verification_put(
            key, purpose="phone", participant_id=participant_id, target=number,
            secret_hash=self._mac("code", key, code), expires_at=time.time() + self.settings.code_ttl,
        )
        channel = "voice" if call else "sms"
        message = code_message(address=number, language=participant.language, code=code,
                               minutes=int(self.settings.code_ttl // 60), network=self.network, call=call)
        try:
            await self._send(channel, message)
        except SendFailed:
            await self.store.verification_forget(key)
            raise
        await self._audit("participant.code_sent", f"participant:{participant_id}", {"contact": phone.kind, "channel": channel})
        return {"number": number, "verified": False, "sent_by": channel, "expires_in": int(self.settings.code_ttl)}

    async def confirm_code(self, participant_id: str, raw_number: Any, code: Any) -> Participant:
        """Check a code; a right one marks the number verified. Wrong tries are counted and limited."""
        if not isinstance(raw_number, str):
            raise ValidationError("number", "not a phone number")
        number = normalize_phone(raw_number, field="number").number
        if not isinstance(code, str) or not re.fullmatch(r"\s*\d{6}\s*", code):
            raise ValidationError("code", "must be the six digits you received")
        code = code.strip()
        await self._prune()
        key = self._mac("phone", participant_id, number)
        attempt = await self.store.verification_attempt(key, self.settings.max_attempts)
        if attempt is None:
            raise ValidationError("code", "no valid code for this number: ask for a new one")
        stored, attempts = attempt
        given = self._mac("code", key, code)
        if not hmac.compare_digest(stored, given):
            left = self.settings.max_attempts - attempts
            if left <= 0:
                await self.store.verification_forget(key)
            await self._audit("participant.code_wrong", f"participant:{participant_id}", {"attempts_left": left})
            raise ValidationError("code", "wrong code" + (f"; {left} tries left" if left > 0 else "; ask for a new one"))
        if await self.store.verification_take(key, given) is None:
            raise ValidationError("code", "no valid code for this number: ask for a new one")
        participant = await self._participant(participant_id)
        participant = with_verified(participant, number=number)
        await self.registry.store_participant(participant)
        kind = next((p.kind for p in participant.phones if p.number == number), "phone")
        await self._audit("participant.phone_verified", f"participant:{participant_id}", {"contact": kind})
        return participant

    # -- e-mail addresses ----------------------------------------------------------------------
    async def _new_link(self, purpose: str, target: str, participant_id: str | None, data: Mapping[str, Any]) -> str:
        token = secrets.token_urlsafe(32)
        key = self._mac("link", token)
        await self.store.verification_put(
            key, purpose=purpose, participant_id=participant_id, target=target, secret_hash=key,
            expires_at=time.time() + self.settings.link_ttl, data=data,
        )
        return token

    async def _mail(self, purpose: str, address: str, language: str, participant_id: str | None,
                    data: Mapping[str, Any] | None = None) -> None:
        token = await self._new_link(purpose, address, participant_id, data or {})
        message = link_message(purpose=purpose, address=address, language=language, link=self._link(token),
                               minutes=int(self.settings.link_ttl // 60), network=self.network)
        await self._send("email", message)

    async def send_email_link(self, participant_id: str, *, client: str | None) -> dict[str, Any]:
        """Send a confirmation link to the participant's e-mail address (if not confirmed yet)."""
        participant = await self._participant(participant_id)
        if not participant.email:
            raise ValidationError("email", "no e-mail address: add it first")
        if participant.email_verified:
            return {"email": participant.email, "verified": True}
        await self.limiter.client(client)
        await self.limiter.address(participant.email)
        await self._prune()
        await self._mail("verify_email", participant.email, participant.language, participant_id)
        await self._audit("participant.link_sent", f"participant:{participant_id}", {"contact": "email"})
        return {"email": participant.email, "verified": False, "sent_by": "email",
                "expires_in": int(self.settings.link_ttl)}

    def _registered(self, email: str) -> list[str]:
        return self.registry.index.with_email(email)

    async def sign_up(self, data: Mapping[str, Any], *, client: str | None) -> None:
        """Start a sign-up: a link to the address. An address already signed up gets a sign-in link
        instead; the caller's answer is the same either way."""
        email = self.normalize_email(data.get("email"))
        if data.get("age_confirmed") is not True:
            raise ValidationError("age_confirmed", f"participants must be {MINIMUM_AGE} or older: confirm it")
        language = data.get("language") or DEFAULT_LANGUAGE
        if language not in LANGUAGES:
            raise ValidationError("language", f"must be one of {', '.join(LANGUAGES)}")
        await self.limiter.client(client)
        await self.limiter.address(email)
        await self._prune()
        known = self._registered(email)
        if known:
            self._later(self._mail("signin", email, language, known[0]))
        else:
            self._later(self._mail("signup", email, language, None, {"language": language, "age_confirmed": True}))

    async def sign_in(self, data: Mapping[str, Any], *, client: str | None) -> None:
        """Send a sign-in link if the address belongs to a participant; the answer is the same if not."""
        email = self.normalize_email(data.get("email"))
        await self.limiter.client(client)
        await self.limiter.address(email)
        await self._prune()
        known = self._registered(email)
        if known:
            participant = await self._participant(known[0])
            self._later(self._mail("signin", email, participant.language, known[0]))

    async def use_link(self, token: Any) -> dict[str, Any]:
        """Use a link once: confirm an address, complete a sign-up or sign in.

        Returns ``{"purpose", "participant_id", "token"?}``; a sign-up and a sign-in open a session
        (``token``). An unknown, used or expired link is a ValidationError naming ``token``.
        """
        if not isinstance(token, str) or not (20 <= len(token) <= 100):
            raise ValidationError("token", "not a valid link")
        await self._prune()
        key = self._mac("link", token)
        found = await self.store.verification_take(key, key)
        if found is None:
            raise ValidationError("token", "this link is not valid: it expired or was used already")
        purpose, target, pid = found["purpose"], found["target"], found["participant_id"]
        if purpose == "verify_email":
            participant = await self._participant(pid)
            if participant.email != target:
                raise ValidationError("token", "this link is for an address you changed since")
            await self.registry.store_participant(with_verified(participant, email=target))
            await self._audit("participant.email_verified", f"participant:{pid}", {"contact": "email"})
            return {"purpose": purpose, "participant_id": pid}
        if purpose == "signup":
            known = self._registered(target)
            if known:  # signed up twice, both links used: the second signs in
                pid = known[0]
            else:
                pid = new_id()
                participant = Participant(
                    id=pid, addresses=(), language=found["data"].get("language") or DEFAULT_LANGUAGE,
                    email=target, email_verified=True, channels=DEFAULT_CHANNELS,
                )
                await self.registry.store_participant(participant)
                await self._audit("participant.signup", f"participant:{pid}",
                                  {"age_confirmed": bool(found["data"].get("age_confirmed")), "minimum_age": MINIMUM_AGE})
        elif purpose == "signin":
            participant = await self._participant(pid)
            if participant.email != target:
                raise ValidationError("token", "this link is for an address you changed since")
            if not participant.email_verified:  # a sign-in link proves the address too
                await self.registry.store_participant(with_verified(participant, email=target))
        else:
            raise ValidationError("token", "not a valid link")
        session = await self.open_session(pid)
        await self._audit("participant.signin", f"participant:{pid}", {"by": purpose})
        return {"purpose": purpose, "participant_id": pid, "token": session}

    # -- sessions --------------------------------------------------------------------------------
    async def open_session(self, participant_id: str) -> str:
        token = "ps_" + secrets.token_urlsafe(32)
        await self.store.session_put(session_hash(token), participant_id, time.time() + self.settings.session_ttl)
        return token

    async def close_session(self, token: str) -> bool:
        return await self.store.session_delete(session_hash(token))


def with_settings(verifier: Verifier, **changes: Any) -> None:
    """Change a verifier's settings (tests: short lifetimes, small bounds)."""
    verifier.settings = replace(verifier.settings, **changes)
    verifier.limiter.limits = verifier.settings.limits
