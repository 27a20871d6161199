"""The retention period: deliveries, outbox rows, tips and photos of actions that ended long ago are
removed by the sweep, on both backends; recent and running actions keep theirs; the sweep and the
setting are audited."""

from __future__ import annotations

import time

import pytest

import plugins.email
import plugins.sms
from hub.config import ConfigError, RetentionSettings, config_from_dict
from hub.retention import DAY, RetentionSweeper
from hub.testing import BACKENDS

from conftest import DISPATCHER, UTRECHT, person, start_payload


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    return request.param


def photo_name(tag: str) -> str:
    return (tag * 32)[:32] + ".jpg"


async def count(store, table: str, action_id: str) -> int:
    return (await store._all(f"SELECT count(*) FROM {table} WHERE action_id=?", (action_id,)))[0][0]


async def photos(store) -> set[str]:
    return {r[0] for r in await store._all("SELECT name FROM photos")}


async def test_the_sweep_removes_what_old_actions_left_and_keeps_the_rest(make_hub, tmp_path):
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nchannels: [sms, email]\n")
    config = {"hub": {"routes": str(routes)}, "retention": {"days": 30}}
    async with make_hub(plugins=[plugins.sms, plugins.email], config=config) as hub:
        store = hub.store
        await hub.registry.import_rows([
            person(f"p{i}", UTRECHT[0] + i * 1e-4, UTRECHT[1], channels=("sms", "email"), email=f"p{i}@example.nl")
            for i in range(20)])
        old_photo, shared_photo, new_photo, loose_photo = (photo_name(c) for c in "abcd")
        for name in (old_photo, shared_photo, new_photo, loose_photo):
            await store.photo_put(name, "image/jpeg", b"\xff\xd8" + name.encode())
        url = lambda name: f"/v1/photos/{name}"  # noqa: E731
        old = await hub.actions.start(start_payload(photos=[{"url": url(old_photo)}, {"url": url(shared_photo)}]), DISPATCHER)
        recent = await hub.actions.start(start_payload(photos=[{"url": url(new_photo)}]), DISPATCHER)
        running = await hub.actions.start(start_payload(photos=[{"url": url(shared_photo)}]), DISPATCHER)
        assert await hub.engine.drain(20)
        for a in (old, recent, running):
            await store.add_tip({"action_id": a["id"], "text": "Ik zag Jan de Vries bij de brug.", "channel": "sms",
                                 "participant_id": "p1", "sender": "+31611111111", "photo": b"\xff\xd8tip",
                                 "photo_type": "image/jpeg"})
        for a in (old, recent):
            await hub.actions.end(a["id"], {"result": "ended_without_result"}, DISPATCHER)
        assert await hub.engine.drain(20)
        # the old action ended 31 days ago; the loose photo was uploaded then and never used
        long_ago = time.time() - 31 * DAY
        await store._run("UPDATE actions SET updated_at=? WHERE id=?", (long_ago, old["id"]))
        await store._run("UPDATE photos SET created_at=? WHERE name<>?", (long_ago, new_photo))
        before = {a["id"]: {t: await count(store, t, a["id"]) for t in ("deliveries", "outbox", "tips")}
                  for a in (old, recent, running)}
        assert all(n > 0 for counts in before.values() for n in counts.values()), before

        removed = await hub.retention.sweep()

        assert removed.action_ids == [old["id"]]
        assert removed.counts() == {"actions": 1, **before[old["id"]], "photos": 2}
        assert {t: await count(store, t, old["id"]) for t in ("deliveries", "outbox", "tips")} == dict.fromkeys(
            ("deliveries", "outbox", "tips"), 0)
        for a in (recent, running):
            assert {t: await count(store, t, a["id"]) for t in ("deliveries", "outbox", "tips")} == before[a["id"]]
        # the running action still shows the photo it shares with the old one
        assert await photos(store) == {shared_photo, new_photo}
        assert (await store.get_action(old["id"]))["status"] == "ended"  # the action's own record stays
        [entry] = await store.list_audit(subject="retention")
        assert entry["verb"] == "retention.sweep" and entry["role"] == "system"
        assert entry["detail"]["days"] == 30 and entry["detail"]["deliveries"] == before[old["id"]]["deliveries"]

        # nothing left to remove: no second entry
        assert (await hub.retention.sweep()).total == 0
        assert len(await store.list_audit(subject="retention")) == 1


async def test_the_setting_is_audited_when_it_changes(make_hub):
    async with make_hub(engine=False) as hub:
        sweeper = RetentionSweeper(hub.store, RetentionSettings(days=90), lambda: True)
        await sweeper.note_setting()
        await sweeper.note_setting()  # unchanged: not again
        await RetentionSweeper(hub.store, RetentionSettings(days=14), lambda: True).note_setting()
        entries = await hub.store.list_audit(subject="retention")
        assert [(e["verb"], e["detail"]["before"], e["detail"]["now"]) for e in reversed(entries)] == [
            ("retention.setting", None, {"days": 90}), ("retention.setting", {"days": 90}, {"days": 14})]
        # 0 keeps everything for ever
        assert await RetentionSweeper(hub.store, RetentionSettings(days=0), lambda: True).sweep() is None


async def test_the_hub_sweeps_as_a_duty(make_hub):
    import asyncio

    waits = []

    async def sleep(seconds):  # the loop's waits, without waiting
        waits.append(seconds)
        await asyncio.sleep(3600 if len(waits) > 2 else 0)

    async with make_hub(config={"retention": {"days": 7, "sweep_minutes": 15}}) as hub:
        calls = []
        await hub.retention.stop()
        hub.retention.sweep = lambda: calls.append(1) or _none()
        hub.retention.sleep = sleep
        await hub.retention.start()
        for _ in range(100):
            if len(calls) >= 2:
                break
            await asyncio.sleep(0.01)
        await hub.retention.stop()
        # the first sweep noted the setting in force
        assert [e["verb"] for e in await hub.store.list_audit(subject="retention")] == ["retention.setting"]
    assert len(calls) == 2 and waits[:3] == [5.0, 900.0, 900.0]


async def _none():
    return None


@pytest.mark.parametrize("section, field", [
    ({"days": -1}, "retention.days"), ({"days": "90"}, "retention.days"),
    ({"sweep_minutes": 0}, "retention.sweep_minutes"), ({"weeks": 3}, "retention.weeks"),
])
def test_bad_settings_name_the_field(section, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        config_from_dict({"retention": section})


def test_the_default_period():
    assert config_from_dict({}).retention == RetentionSettings(days=90.0, sweep_minutes=60.0)
