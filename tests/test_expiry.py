"""An action nobody ends still ends: at its expires_at it ends without result, its closing goes out to
everyone reached, and the audit says why. A dispatcher may extend it before."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hub.testing import BACKENDS, RecordingPlugin

from conftest import DISPATCHER, UTRECHT, person, start_payload

LAT, LON = UTRECHT


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    return request.param


async def test_an_expired_action_ends_without_result_and_its_closing_goes_out(make_hub, recording_channel, hub_cfg):
    async with make_hub(plugins=[RecordingPlugin()], config=hub_cfg) as hub:
        await hub.registry.register(person("near", LAT, LON))
        action = await hub.actions.start(start_payload(type="missing_person", expires_in_minutes=30), DISPATCHER)
        other = await hub.actions.start(start_payload(expires_in_minutes=120), DISPATCHER)
        assert await hub.engine.drain(10)
        expires = datetime.fromisoformat(action["expires_at"])

        assert await hub.expiry.sweep(now=expires - timedelta(seconds=1)) == []
        assert await hub.expiry.sweep(now=expires + timedelta(seconds=1)) == [action["id"]]
        assert await hub.expiry.sweep(now=expires + timedelta(seconds=2)) == []  # once only

        ended = await hub.actions.get(action["id"])
        assert ended["status"] == "ended" and ended["result"] == "ended_without_result"
        assert ended["end_reason"] == "expired" and ended["ended_by"] == "burgerhub"
        assert (await hub.actions.get(other["id"]))["status"] == "active"

        assert await hub.engine.drain(10)
        closing = [text for kind, _, text in recording_channel.delivered if kind == "end"]
        assert len(closing) == 1
        assert "nog niet gevonden" in closing[0] and "vanzelf beëindigd" in closing[0]
        assert "0900 8844" in closing[0]

        [entry] = [e for e in await hub.store.list_audit(subject=action["id"]) if e["verb"] == "action.end"]
        assert entry["actor"] == "burgerhub" and entry["role"] == "system"
        assert entry["detail"] == {"result": "ended_without_result", "reason": "expired",
                                   "expires_at": action["expires_at"], "solved_by_participants": False}


async def test_a_dispatcher_can_extend_an_action_before_it_expires(make_hub, hub_cfg):
    async with make_hub(plugins=[RecordingPlugin()], config=hub_cfg) as hub:
        action = await hub.actions.start(start_payload(expires_in_minutes=10), DISPATCHER)
        first = datetime.fromisoformat(action["expires_at"])
        updated = await hub.actions.update(action["id"], {"expires_in_minutes": 120}, DISPATCHER)
        later = datetime.fromisoformat(updated["expires_at"])
        assert later - first > timedelta(minutes=100)
        assert updated["queued"] == {"start": 0, "update": 0}  # nobody is messaged about it
        assert await hub.expiry.sweep(now=first + timedelta(minutes=1)) == []
        assert (await hub.actions.get(action["id"]))["status"] == "active"


async def test_a_hub_sweeps_by_itself_and_an_action_ended_by_hand_is_left_alone(make_hub, hub_cfg):
    async with make_hub(plugins=[RecordingPlugin()], config=hub_cfg) as hub:
        assert hub.expiry._task is not None and not hub.expiry._task.done()
        action = await hub.actions.start(start_payload(expires_in_minutes=5), DISPATCHER)
        await hub.actions.end(action["id"], {"result": "arrested"}, DISPATCHER)
        later = datetime.now(timezone.utc) + timedelta(hours=1)
        assert await hub.expiry.sweep(now=later) == []
        assert (await hub.actions.get(action["id"]))["result"] == "arrested"
