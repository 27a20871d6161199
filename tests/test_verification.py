"""Citizens prove their contacts: sign-up and sign-in by e-mail link, codes by SMS and by call, on both
backends, through the real channels against their loopback providers (Twilio Messages and Calls, an
SMTP server); and the abuse bounds: code guessing, resend floods, enumeration, expired and reused links."""

from __future__ import annotations

import asyncio
import re
import socket
from contextlib import asynccontextmanager
from email import message_from_bytes, policy

import aiohttp
import pytest
from aiosmtpd.controller import Controller

import plugins.email
import plugins.sms
import plugins.voice
from hub.actions import Actor
from hub.testing import BACKENDS, serving
from hub.verification import Bound, Limits, with_settings
from plugins.sms.loopback import LoopbackSmsProvider
from plugins.voice.loopback import LoopbackTwilioCalls

DISPATCHER = Actor("meldkamer", "dispatcher")
UTRECHT = (52.0894, 5.1100)
MOBILE = "+31612345678"
LANDLINE = "+31302345678"
OPERATOR_TOKEN = "op-" + "x" * 30
OPERATE = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    return request.param


class Mailbox:
    """aiosmtpd handler keeping every accepted mail."""

    def __init__(self) -> None:
        self.mails: list = []

    async def handle_DATA(self, server, session, envelope):
        self.mails.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 2.0.0 Ok: queued"

    def link_for(self, address: str) -> str:
        for mail in reversed(self.mails):
            if mail["To"] == address:
                text = mail.get_body(("plain",)).get_content()
                return re.search(r"#link=([A-Za-z0-9_-]+)", text).group(1)
        raise AssertionError(f"no mail to {address}")


def free_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def citizen_hub(make_hub, tmp_path, *, sandbox: bool = False):
    """A hub with sms, voice and email on their loopback providers, served over HTTP."""
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nchannels: [sms, voice, email]\n")
    sock = free_socket()
    public_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_socket().getsockname()[1], ready_timeout=5)
    smtp.start()
    try:
        async with LoopbackSmsProvider() as sms, LoopbackTwilioCalls() as calls:
            channels = {
                "sms": {"base_url": sms.base_url, "account_sid": sms.account_sid, "auth_token": sms.auth_token,
                        "sender": "+3197010000000"},
                "voice": {"base_url": calls.base_url, "account_sid": calls.account_sid,
                          "auth_token": calls.auth_token, "caller_id": "+31301234567", "machine_detection": False},
                "email": {"host": "127.0.0.1", "port": smtp.port, "security": "none",
                          "from_address": "noreply@burgernet.example.org", "timeout": 5},
            }
            config = {
                "hub": {"routes": str(routes), "public_url": public_url},
                "api": {"tokens": [{"name": "beheer", "role": "operator", "token": OPERATOR_TOKEN}]},
                "channels": {} if sandbox else channels,
            }
            async with make_hub(plugins=[plugins.sms, plugins.voice, plugins.email], config=config) as hub:
                async with serving(hub, sock), aiohttp.ClientSession(public_url) as http:
                    yield hub, http, sms, calls, mailbox
    finally:
        smtp.stop()


async def sign_up(hub, http, mailbox, email: str) -> tuple[str, str]:
    """Sign up by link; the session token and participant id."""
    r = await http.post("/v1/me/signup", json={"email": email, "age_confirmed": True, "language": "nl"})
    assert r.status == 202, await r.text()
    await hub.verifier.idle()
    r = await http.post("/v1/me/link", json={"token": mailbox.link_for(email.lower())})
    assert r.status == 200, await r.text()
    body = await r.json()
    return body["token"], body["participant_id"]


def start(lat: float = UTRECHT[0], lon: float = UTRECHT[1]) -> dict:
    return {
        "type": "missing_person", "urgency": "time_critical", "description": "Jongen van 5, rode jas.",
        "area": {"type": "circle", "lat": lat, "lon": lon, "radius_m": 2000},
    }


async def test_sign_up_confirm_by_link_verify_a_mobile_by_sms_and_a_landline_by_call(make_hub, tmp_path):
    async with citizen_hub(make_hub, tmp_path) as (hub, http, sms, calls, mailbox):
        token, pid = await sign_up(hub, http, mailbox, "Ann@Example.net")
        me = {"Authorization": f"Bearer {token}"}
        [mail] = mailbox.mails
        assert mail["Subject"] == "Aanmelden bij Burgernet" and mail["To"] == "ann@example.net"

        r = await http.get("/v1/me", headers=me)
        data = await r.json()
        assert (data["email"], data["email_verified"], data["addresses"]) == ("ann@example.net", True, [])

        # the person adds numbers and an address: the numbers stay unverified, so nobody alerts them
        data.update(
            phones=[{"number": "06 12345678"}, {"number": "030 234 5678"}],
            channels=["sms", "voice", "email"],
            addresses=[{"label": "home", "lat": UTRECHT[0], "lon": UTRECHT[1]}],
        )
        r = await http.put(f"/v1/participants/{pid}", json=data, headers=me)
        assert r.status == 200, await r.text()
        assert [p["verified"] for p in (await r.json())["phones"]] == [False, False]
        first = await hub.actions.start(start(), DISPATCHER)
        channels = first["audience"]["channels"]
        assert channels["sms"]["targeted"] == 0 and channels["voice"]["targeted"] == 0
        assert channels["email"]["targeted"] == 1  # the address was proven by the sign-up link

        # a code by SMS for the mobile
        r = await http.post("/v1/me/phones/code", json={"number": MOBILE}, headers=me)
        assert r.status == 202 and (await r.json())["sent_by"] == "sms"
        [text] = [m for m in sms.messages if m["To"] == MOBILE]
        code = re.search(r"\b(\d{6})\b", text["Body"]).group(1)
        assert "Burgernet" in text["Body"]
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        r = await http.post("/v1/me/phones/confirm", json={"number": MOBILE, "code": wrong}, headers=me)
        assert r.status == 422 and (await r.json())["field"] == "code"
        r = await http.post("/v1/me/phones/confirm", json={"number": "0612345678", "code": code}, headers=me)
        assert r.status == 200, await r.text()
        assert [p["verified"] for p in (await r.json())["phones"]] == [True, False]
        # the code worked once
        r = await http.post("/v1/me/phones/confirm", json={"number": MOBILE, "code": code}, headers=me)
        assert r.status == 422

        # a call that reads the code for the landline
        r = await http.post("/v1/me/phones/code", json={"number": LANDLINE}, headers=me)
        assert r.status == 202 and (await r.json())["sent_by"] == "voice"
        [call] = calls.calls
        assert call["To"] == LANDLINE
        spoken = re.search(r"code is\s*(?:<[^>]+>)*([\d, ]+)", call["Twiml"]).group(1)
        code = re.sub(r"\D", "", spoken)
        assert len(code) == 6
        r = await http.post("/v1/me/phones/confirm", json={"number": LANDLINE, "code": code}, headers=me)
        assert [p["verified"] for p in (await r.json())["phones"]] == [True, True]

        second = await hub.actions.start(start(), DISPATCHER)
        assert second["audience"]["channels"]["sms"]["targeted"] == 1
        assert await hub.engine.drain(10)
        alerts = [m for m in sms.messages if m["To"] == MOBILE and "Jongen van 5" in m["Body"]]
        assert len(alerts) == 1

        # changing the number makes it unverified again; keeping the landline keeps its proof
        data = await (await http.get("/v1/me", headers=me)).json()
        data["phones"] = [{"number": "+31687654321"}, {"number": LANDLINE}]
        r = await http.put(f"/v1/participants/{pid}", json=data, headers=me)
        assert [p["verified"] for p in (await r.json())["phones"]] == [False, True]

        audit = [e["verb"] for e in await hub.store.list_audit(subject=f"participant:{pid}")]
        for verb in ("participant.signup", "participant.signin", "participant.code_sent", "participant.code_wrong",
                     "participant.phone_verified"):
            assert verb in audit
        assert all(MOBILE not in str(e["detail"]) for e in await hub.store.list_audit())

        # erasure removes the sessions and pending proofs with the rest
        r = await http.post("/v1/me/phones/code", json={"number": "+31687654321"}, headers=me)
        assert r.status == 202
        r = await http.delete(f"/v1/participants/{pid}", headers=me)
        assert r.status == 204
        assert (await http.get("/v1/me", headers=me)).status == 401
        rows = await hub.store._all("SELECT count(*) FROM verifications WHERE participant_id=?", (pid,))
        assert rows[0][0] == 0
        rows = await hub.store._all("SELECT count(*) FROM participant_sessions WHERE participant_id=?", (pid,))
        assert rows[0][0] == 0


async def test_sandboxed_channels_put_codes_and_links_in_the_outbox_and_erasure_clears_them(make_hub, tmp_path):
    async with citizen_hub(make_hub, tmp_path, sandbox=True) as (hub, http, sms, calls, mailbox):
        r = await http.post("/v1/me/signup", json={"email": "bo@example.net", "age_confirmed": True})
        assert r.status == 202
        await hub.verifier.idle()
        [row] = await hub.store.outbox_list(channel="email")
        assert row["kind"] == "signup" and row["address"] == "bo@example.net"
        token = re.search(r"#link=([A-Za-z0-9_-]+)", row["text"]).group(1)
        body = await (await http.post("/v1/me/link", json={"token": token})).json()
        me = {"Authorization": f"Bearer {body['token']}"}
        data = await (await http.get("/v1/me", headers=me)).json()
        data.update(phones=[{"number": MOBILE}], addresses=[{"lat": UTRECHT[0], "lon": UTRECHT[1]}])
        assert (await http.put(f"/v1/participants/{body['participant_id']}", json=data, headers=me)).status == 200
        assert (await http.post("/v1/me/phones/code", json={"number": MOBILE}, headers=me)).status == 202
        [row] = await hub.store.outbox_list(channel="sms")
        code = re.search(r"\b(\d{6})\b", row["text"]).group(1)
        r = await http.post("/v1/me/phones/confirm", json={"number": MOBILE, "code": code}, headers=me)
        assert r.status == 200 and (await r.json())["phones"][0]["verified"] is True
        assert not sms.messages and not mailbox.mails  # nothing left the sandbox
        assert (await http.delete(f"/v1/participants/{body['participant_id']}", headers=me)).status == 204
        assert await hub.store.outbox_list() == []


async def test_code_guessing_resend_floods_and_clients_are_bounded(make_hub, tmp_path):
    async with citizen_hub(make_hub, tmp_path, sandbox=True) as (hub, http, *_):
        with_settings(hub.verifier, max_attempts=3,
                      limits=Limits(per_number=Bound(2, 3600), per_address=Bound(3, 3600), per_client=Bound(6, 3600)))
        await hub.registry.register({"id": "p1", "phones": [{"number": MOBILE}], "addresses": [{"lat": 52, "lon": 5}]},
                                    verified=False)
        token = await hub.verifier.open_session("p1")
        me = {"Authorization": f"Bearer {token}"}
        assert (await http.post("/v1/me/phones/code", json={"number": MOBILE}, headers=me)).status == 202
        [row] = await hub.store.outbox_list(channel="sms")
        code = re.search(r"\b(\d{6})\b", row["text"]).group(1)
        wrong = f"{(int(code) + 7) % 1_000_000:06d}"
        for left in (2, 1, 0):
            r = await http.post("/v1/me/phones/confirm", json={"number": MOBILE, "code": wrong}, headers=me)
            assert r.status == 422
        # out of tries: even the right code is refused now
        r = await http.post("/v1/me/phones/confirm", json={"number": MOBILE, "code": code}, headers=me)
        assert r.status == 422 and "new" in (await r.json())["reason"]
        # a second code replaces the first; a third within the hour is refused with Retry-After
        assert (await http.post("/v1/me/phones/code", json={"number": MOBILE}, headers=me)).status == 202
        r = await http.post("/v1/me/phones/code", json={"number": MOBILE}, headers=me)
        assert r.status == 429 and 3000 < int(r.headers["Retry-After"]) <= 3600
        assert (await r.json())["error"] == "too_many_requests"
        [newest, *_] = await hub.store.outbox_list(channel="sms")
        code = re.search(r"\b(\d{6})\b", newest["text"]).group(1)
        r = await http.post("/v1/me/phones/confirm", json={"number": MOBILE, "code": code}, headers=me)
        assert r.status == 200
        # the client has made 3 sends of its 6; sign-ups to fresh addresses use up the rest
        for i in range(3):
            r = await http.post("/v1/me/signup", json={"email": f"x{i}@example.net", "age_confirmed": True})
            assert r.status == 202
        r = await http.post("/v1/me/signup", json={"email": "x9@example.net", "age_confirmed": True})
        assert r.status == 429 and int(r.headers["Retry-After"]) > 0


async def test_answers_do_not_tell_whether_an_address_is_registered(make_hub, tmp_path):
    async with citizen_hub(make_hub, tmp_path, sandbox=True) as (hub, http, *_):
        await hub.registry.register({"id": "known", "email": "known@example.net", "addresses": [{"lat": 52, "lon": 5}]})
        answers = []
        for path, email in (("signup", "known@example.net"), ("signup", "new@example.net"),
                            ("signin", "known@example.net"), ("signin", "nobody@example.net")):
            r = await http.post(f"/v1/me/{path}", json={"email": email, "age_confirmed": True})
            answers.append((path, r.status, await r.text()))
        assert answers[0][1:] == answers[1][1:] and answers[2][1:] == answers[3][1:]
        await hub.verifier.idle()
        kinds = sorted((row["address"], row["kind"]) for row in await hub.store.outbox_list(channel="email"))
        # the known address gets sign-in links (also when it signs up again); the unknown one nothing
        assert kinds == [("known@example.net", "signin"), ("known@example.net", "signin"), ("new@example.net", "signup")]
        # the age must be confirmed, the address must be one
        r = await http.post("/v1/me/signup", json={"email": "kid@example.net"})
        assert r.status == 422 and (await r.json())["field"] == "age_confirmed"
        r = await http.post("/v1/me/signup", json={"email": "not an address", "age_confirmed": True})
        assert r.status == 422 and (await r.json())["field"] == "email"


async def test_links_expire_and_work_once(make_hub, tmp_path):
    async with citizen_hub(make_hub, tmp_path, sandbox=True) as (hub, http, *_):
        with_settings(hub.verifier, link_ttl=0.5)
        for email in ("late@example.net", "twice@example.net"):
            assert (await http.post("/v1/me/signup", json={"email": email, "age_confirmed": True})).status == 202
        await hub.verifier.idle()
        links = {row["address"]: re.search(r"#link=([A-Za-z0-9_-]+)", row["text"]).group(1)
                 for row in await hub.store.outbox_list(channel="email")}
        r = await http.post("/v1/me/link", json={"token": links["twice@example.net"]})
        assert r.status == 200
        r = await http.post("/v1/me/link", json={"token": links["twice@example.net"]})
        assert r.status == 422 and (await r.json())["field"] == "token"
        await asyncio.sleep(0.6)
        r = await http.post("/v1/me/link", json={"token": links["late@example.net"]})
        assert r.status == 422
        r = await http.post("/v1/me/link", json={"token": "x" * 43})
        assert r.status == 422
        # an expired proof names an address: the sweep deletes it
        assert await hub.store.verifications_prune() == 1
        assert (await hub.store._all("SELECT count(*) FROM verifications"))[0][0] == 0


async def test_the_existing_participant_routes_follow_the_verification_rules(make_hub, tmp_path):
    async with citizen_hub(make_hub, tmp_path, sandbox=True) as (hub, http, *_):
        person = {"phones": [{"number": MOBILE, "verified": True}], "email": "c@example.net", "email_verified": True,
                  "channels": ["sms", "email"], "addresses": [{"lat": UTRECHT[0], "lon": UTRECHT[1]}]}
        # registering oneself: the flags in the input prove nothing
        r = await http.post("/v1/participants", json=person)
        mine = await r.json()
        assert r.status == 201 and mine["participant"]["phones"][0]["verified"] is False
        assert mine["participant"]["email_verified"] is False
        # an operator: unverified unless they vouch for it, which is audited
        r = await http.post("/v1/participants", json={**person, "id": "o1"}, headers=OPERATE)
        assert (await r.json())["participant"]["phones"][0]["verified"] is False
        r = await http.post("/v1/participants?verified=true", json={**person, "id": "o2"}, headers=OPERATE)
        assert (await r.json())["participant"]["phones"][0]["verified"] is True
        [entry] = [e for e in await hub.store.list_audit() if e["verb"] == "participant.verified_by_import"]
        assert entry["actor"] == "beheer" and entry["detail"]["ids"] == ["o2"]
        csv = f"id,mobile,home_lat,home_lon,channels\nc1,{MOBILE},52.09,5.11,sms\n"
        r = await http.post("/v1/participants/import", data=csv, headers={**OPERATE, "Content-Type": "text/csv"})
        assert r.status == 200
        assert (await hub.registry.get("c1"))["phones"][0]["verified"] is False
        action = await hub.actions.start(start(), DISPATCHER)
        assert action["audience"]["channels"]["sms"]["targeted"] == 1  # o2 only
        # the personal token from self-registration works for /v1/me
        r = await http.get("/v1/me", headers={"Authorization": f"Bearer {mine['token']}"})
        assert r.status == 200 and (await r.json())["id"] == mine["participant"]["id"]


async def test_a_changed_address_is_confirmed_by_link_and_sign_in_opens_a_session(make_hub, tmp_path):
    async with citizen_hub(make_hub, tmp_path) as (hub, http, sms, calls, mailbox):
        token, pid = await sign_up(hub, http, mailbox, "old@example.net")
        me = {"Authorization": f"Bearer {token}"}
        data = await (await http.get("/v1/me", headers=me)).json()
        data.update(email="New@Example.net", addresses=[{"lat": UTRECHT[0], "lon": UTRECHT[1]}])
        r = await http.put("/v1/me", json=data, headers=me)
        assert (await r.json())["email_verified"] is False
        r = await http.post("/v1/me/email/link", headers=me)
        assert r.status == 202
        r = await http.post("/v1/me/link", json={"token": mailbox.link_for("new@example.net")})
        assert r.status == 200 and (await r.json()) == {"purpose": "verify_email", "participant_id": pid}
        assert (await (await http.get("/v1/me", headers=me)).json())["email_verified"] is True
        # a confirmed address needs no second link
        assert (await http.post("/v1/me/email/link", headers=me)).status == 200

        # signing out ends this session; a sign-in link opens a new one
        assert (await http.post("/v1/me/signout", headers=me)).status == 204
        assert (await http.get("/v1/me", headers=me)).status == 401
        assert (await http.post("/v1/me/signin", json={"email": "new@example.net"})).status == 202
        await hub.verifier.idle()
        assert mailbox.mails[-1]["Subject"] == "Inloggen bij Burgernet"
        r = await http.post("/v1/me/link", json={"token": mailbox.link_for("new@example.net")})
        body = await r.json()
        assert body["purpose"] == "signin" and body["participant_id"] == pid
        r = await http.get("/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
        assert r.status == 200
        # the old address no longer signs in
        before = len(mailbox.mails)
        assert (await http.post("/v1/me/signin", json={"email": "old@example.net"})).status == 202
        await hub.verifier.idle()
        assert len(mailbox.mails) == before


async def test_racing_requests_use_a_code_once_and_count_every_try(make_hub, tmp_path):
    """Many requests at once: only one of them uses a right code; wrong tries never exceed the bound."""
    async with citizen_hub(make_hub, tmp_path, sandbox=True) as (hub, http, *_):
        with_settings(hub.verifier, max_attempts=5)
        await hub.registry.register({"id": "p1", "phones": [{"number": MOBILE}], "addresses": [{"lat": 52, "lon": 5}]},
                                    verified=False)
        me = {"Authorization": f"Bearer {await hub.verifier.open_session('p1')}"}
        assert (await http.post("/v1/me/phones/code", json={"number": MOBILE}, headers=me)).status == 202
        [row] = await hub.store.outbox_list(channel="sms")
        code = re.search(r"\b(\d{6})\b", row["text"]).group(1)

        async def confirm(c: str) -> int:
            r = await http.post("/v1/me/phones/confirm", json={"number": MOBILE, "code": c}, headers=me)
            return r.status

        statuses = await asyncio.gather(*(confirm(code) for _ in range(8)))
        assert sorted(statuses) == [200] + [422] * 7

        # a fresh code for a second number: twenty wrong guesses at once use up the tries, no more
        data = await (await http.get("/v1/me", headers=me)).json()
        data["phones"].append({"number": "+31687654321"})
        assert (await http.put("/v1/me", json=data, headers=me)).status == 200
        assert (await http.post("/v1/me/phones/code", json={"number": "+31687654321"}, headers=me)).status == 202
        [newest, *_] = await hub.store.outbox_list(channel="sms")
        code = re.search(r"\b(\d{6})\b", newest["text"]).group(1)
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"

        async def guess() -> int:
            r = await http.post("/v1/me/phones/confirm", json={"number": "+31687654321", "code": wrong}, headers=me)
            return r.status

        assert set(await asyncio.gather(*(guess() for _ in range(20)))) == {422}
        r = await http.post("/v1/me/phones/confirm", json={"number": "+31687654321", "code": code}, headers=me)
        assert r.status == 422  # the five tries are gone: the right code comes too late
        wrongs = [e for e in await hub.store.list_audit(subject="participant:p1") if e["verb"] == "participant.code_wrong"]
        assert len(wrongs) == 5


async def test_opting_out_of_a_channel_proves_nothing(make_hub, tmp_path):
    async with citizen_hub(make_hub, tmp_path, sandbox=True) as (hub, *_):
        await hub.registry.register({"id": "p1", "phones": [{"number": MOBILE}], "email": "p1@example.net",
                                     "channels": ["sms", "email"], "addresses": [{"lat": 52, "lon": 5}]}, verified=False)
        assert await hub.registry.opt_out("p1", "sms")
        stored = await hub.registry.get("p1")
        assert stored["channels"] == ["email"] and stored["phones"][0]["verified"] is False
        assert stored["email_verified"] is False
