"""A signed-in participant manages themselves: choices (a dry run honours them, the weekly cap and
the pause included), the actions that reached them and how they ended, their data as JSON, erasure."""

from __future__ import annotations

import pytest

from hub.actions import Actor
from hub.testing import BACKENDS
from test_verification import UTRECHT, citizen_hub, start

DISPATCHER = Actor("meldkamer", "dispatcher")
MOBILE = "+31612345678"


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    return request.param


async def signed_in(hub, pid: str = "p1", **extra) -> dict[str, str]:
    await hub.registry.register({
        "id": pid, "phones": [{"number": MOBILE}], "email": f"{pid}@example.net", "channels": ["sms", "email"],
        "addresses": [{"label": "home", "lat": UTRECHT[0], "lon": UTRECHT[1]}], **extra,
    })
    return {"Authorization": f"Bearer {await hub.verifier.open_session(pid)}"}


async def test_my_choices_are_honoured_by_a_dry_run(make_hub, tmp_path):
    async with citizen_hub(make_hub, tmp_path, sandbox=True) as (hub, http, *_):
        me = await signed_in(hub)
        data = await (await http.get("/v1/me", headers=me)).json()

        async def plan() -> dict:
            channels = (await hub.actions.plan(start(), DISPATCHER))["audience"]["channels"]
            for c in channels.values():
                c["skipped"] = {k: v for k, v in c["skipped"].items() if v}
            return channels

        assert (await plan())["sms"]["targeted"] == 1
        # a pause until a date far ahead
        r = await http.put("/v1/me", json={**data, "paused_until": "2999-01-01"}, headers=me)
        assert r.status == 200, await r.text()
        assert (await plan())["sms"]["skipped"] == {"paused": 1}
        # quiet hours all day long for SMS only; e-mail still reaches me
        quiet = {"from": "00:00", "to": "23:59", "channels": ["sms"]}
        r = await http.put("/v1/me", json={**data, "quiet_hours": quiet}, headers=me)
        channels = await plan()
        assert channels["sms"]["skipped"] == {"quiet_hours": 1} and channels["email"]["targeted"] == 1
        # only e-mail chosen
        await http.put("/v1/me", json={**data, "channels": ["email"]}, headers=me)
        channels = await plan()
        assert channels["sms"]["skipped"] == {"channel_not_chosen": 1} and channels["email"]["targeted"] == 1
        # another address (work, weekdays in office hours) and English
        work = {"label": "work", "lat": 52.37, "lon": 4.89, "availability": [{"days": ["mon", "tue"], "from": "08:00", "to": "18:00"}]}
        r = await http.put("/v1/me", json={**data, "language": "en", "addresses": [*data["addresses"], work]}, headers=me)
        body = await r.json()
        assert body["language"] == "en" and body["addresses"][1]["availability"][0]["days"] == ["mon", "tue"]
        # a bad value is named
        r = await http.put("/v1/me", json={**data, "max_actions_per_week": 0}, headers=me)
        assert r.status == 422 and (await r.json())["field"] == "max_actions_per_week"
        fields = [e["detail"]["fields"] for e in await hub.store.list_audit(subject="participant:p1")
                  if e["verb"] == "participant.update"]
        assert fields[-1] == ["paused_until"] and fields[0] == ["language", "channels", "addresses"]  # newest first


async def test_a_weekly_cap_leaves_me_out_once_reached(make_hub, tmp_path):
    async with citizen_hub(make_hub, tmp_path, sandbox=True) as (hub, http, *_):
        me = await signed_in(hub)
        await signed_in(hub, "p2")  # no cap (shares the number, so e-mail tells them apart)
        data = await (await http.get("/v1/me", headers=me)).json()
        r = await http.put("/v1/me", json={**data, "max_actions_per_week": 2}, headers=me)
        assert r.status == 200 and (await r.json())["max_actions_per_week"] == 2
        for _ in range(2):
            action = await hub.actions.start(start(), DISPATCHER)
            assert action["audience"]["channels"]["email"]["targeted"] == 2
        third = await hub.actions.start(start(), DISPATCHER)
        email = third["audience"]["channels"]["email"]
        assert email["targeted"] == 1 and email["skipped"]["weekly_cap"] == 1
        rows = await hub.store.ledger_rows(third["id"])
        assert "p1" not in {r["participant_id"] for r in rows}
        # lifting the cap lets the next one through
        await http.put("/v1/me", json={**data, "max_actions_per_week": None}, headers=me)
        fourth = await hub.actions.start(start(), DISPATCHER)
        assert fourth["audience"]["channels"]["email"]["targeted"] == 2


async def test_my_actions_my_data_and_erasing_me(make_hub, tmp_path):
    async with citizen_hub(make_hub, tmp_path, sandbox=True) as (hub, http, *_):
        me = await signed_in(hub)
        action = await hub.actions.start(start(), DISPATCHER)
        assert await hub.engine.drain(10)
        await hub.actions.end(action["id"], {"result": "found", "text": "Het kind is terecht."}, DISPATCHER)
        assert await hub.engine.drain(10)
        r = await http.post(f"/v1/actions/{action['id']}/tips", json={"text": "Gezien bij de Dom"}, headers=me)
        assert r.status == 201, await r.text()
        [mine] = (await (await http.get("/v1/me/actions", headers=me)).json())["actions"]
        assert (mine["id"], mine["status"], mine["result"]) == (action["id"], "ended", "found")
        assert {(m["channel"]) for m in mine["messages"]} == {"sms", "email"}

        r = await http.get("/v1/me/export", headers=me)
        assert r.status == 200 and "attachment" in r.headers["Content-Disposition"]
        export = await r.json()
        assert export["participant"]["id"] == "p1" and export["actions"][0]["id"] == action["id"]
        assert export["tips"][0]["text"] == "Gezien bij de Dom" and len(export["sessions"]) == 1

        r = await http.delete("/v1/me", headers=me)
        assert r.status == 422 and (await r.json())["field"] == "confirm"
        assert (await http.delete("/v1/me?confirm=true", headers=me)).status == 204
        assert (await http.get("/v1/me", headers=me)).status == 401
        assert "p1" not in hub.audience
        rows = await hub.store.ledger_rows(action["id"])
        assert all(r["participant_id"] is None and r["address"].startswith("erased:") for r in rows)
        [erasure] = [e for e in await hub.store.list_audit() if e["verb"] == "participant.erase"]
        assert erasure["actor"] == "participant:p1"
