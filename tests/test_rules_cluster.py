"""One rule set for a cluster: rules loaded on one hub are stored as a version every hub puts in force;
a hub that starts later takes the stored version, not its file; on SQLite nothing is stored."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from hub.testing import BACKENDS

from conftest import DISPATCH, OPERATE

FIRST = "channels: [recording]\n"
SECOND = "channels: [recording]\nroutes:\n  - name: crisis\n    match: {type: crisis}\n"
THIRD = "channels: [recording]\nroutes:\n  - name: burglary\n    match: {type: burglary}\n"


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    return request.param


async def test_stored_rules_are_versions_and_a_seed_only_fills_an_empty_store(store):
    assert await store.active_rules() is None and await store.rules_version() == 0
    assert await store.store_rules(FIRST, "a" * 64, source="rules file", actor="burgerhub", role="system",
                                   seed=True) == 1
    # a second hub's file does not seed a store that holds rules
    assert await store.store_rules(SECOND, "b" * 64, source="rules file", actor="burgerhub", role="system",
                                   seed=True) is None
    assert await store.store_rules(SECOND, "b" * 64, source="PUT /v1/routes", actor="beheer", role="operator") == 2
    active = await store.active_rules()
    assert (active.version, active.text, active.sha256, active.actor) == (2, SECOND, "b" * 64, "beheer")
    assert await store.rules_version() == 2


async def test_old_versions_are_pruned(store, monkeypatch):
    from hub.store import rules

    monkeypatch.setattr(rules, "KEEP_VERSIONS", 2)
    for i in range(5):
        await store.store_rules(f"channels: [recording]\n# {i}\n", f"{i}" * 64, source="t", actor="a", role="r")
    assert await store.rules_version() == 5
    assert [r[0] for r in await store._all("SELECT version FROM routing_rules ORDER BY version")] == [4, 5]


@contextlib.asynccontextmanager
async def _served(api, tmp_path, name: str, rules_text: str):
    """A hub of the cluster (the shared ``api`` fixture) on a rules file of its own."""
    rules = tmp_path / f"{name}-routes.yaml"
    rules.write_text(rules_text)
    async with api(hub={"routes": str(rules)}) as (client, hub):
        yield client, hub, rules


async def _rules_of(client) -> dict:
    r = await client.get("/v1/routes", headers=DISPATCH)
    assert r.status == 200
    return await r.json()


async def _until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "the other hub did not take the new rules"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("hub_backend", ["postgresql"])
async def test_a_rules_change_on_one_hub_reaches_every_hub_of_the_cluster(api, tmp_path):
    async with _served(api, tmp_path, "a", FIRST) as (a, hub_a, _), \
            _served(api, tmp_path, "b", THIRD) as (b, hub_b, file_b):
        # the first hub seeded the store with its file; the second takes the stored version, not its file
        assert (await _rules_of(a))["version"] == 1
        got = await _rules_of(b)
        assert got["rules"] == FIRST and got["version"] == 1 and hub_b.rules.current.route_names() == ["root"]

        r = await a.put("/v1/routes", data=SECOND, headers=OPERATE)
        assert r.status == 200, await r.text()
        body = await r.json()
        assert body["version"] == 2 and body["changed"]
        await _until(lambda: _version_text(b, 2, SECOND))
        assert hub_b.rules.current.route_names() == ["root", "crisis"]
        [entry] = await hub_a.store.list_audit(subject="routes")
        assert entry["actor"] == "beheer" and entry["detail"]["version"] == 2

        # a reload from a hub's file puts that file in force for the cluster
        r = await b.post("/v1/routes/reload", headers=OPERATE)
        assert r.status == 200, await r.text()
        assert (await r.json())["version"] == 3
        await _until(lambda: _version_text(a, 3, THIRD))
        assert hub_a.rules.current.route_names() == ["root", "burglary"]
        assert file_b.read_text() == THIRD


async def _version_text(client, version: int, text: str) -> bool:
    got = await _rules_of(client)
    return got["version"] == version and got["rules"] == text


@pytest.mark.parametrize("hub_backend", ["postgresql"])
async def test_a_hub_starting_later_takes_the_stored_rules_and_checks_for_missed_versions(api, tmp_path):
    async with _served(api, tmp_path, "a", FIRST) as (a, hub_a, _):
        r = await a.put("/v1/routes", data=SECOND, headers=OPERATE)
        assert r.status == 200, await r.text()
    async with _served(api, tmp_path, "c", THIRD) as (c, hub_c, _):
        got = await _rules_of(c)
        assert got["rules"] == SECOND and got["version"] == 2
        # a version whose notification never came (a lost listening connection) is found by the check
        await hub_c.store._run(
            "INSERT INTO routing_rules (version, text, sha256, source, actor, role, loaded_at)"
            " VALUES (3, ?, 'x', 'test', 'beheer', 'operator', 0)", (THIRD,))
        assert hub_c.rules.version == 2
        assert await hub_c.cluster_rules.check() is True
        assert hub_c.rules.text == THIRD and hub_c.rules.version == 3
        assert await hub_c.cluster_rules.check() is False


@pytest.mark.parametrize("hub_backend", ["postgresql"])
async def test_a_stored_version_naming_a_channel_this_hub_lacks_leaves_its_rules(api, tmp_path, caplog):
    async with _served(api, tmp_path, "a", FIRST) as (a, hub_a, _):
        await hub_a.store.store_rules("channels: [pigeon]\n", "p" * 64, source="elsewhere", actor="beheer",
                                      role="operator")
        assert await hub_a.cluster_rules.check() is False
        assert hub_a.rules.text == FIRST and "cannot be used on this hub" in caplog.text
        assert await hub_a.cluster_rules.check() is False  # not tried again


@pytest.mark.parametrize("hub_backend", ["sqlite"])
async def test_on_sqlite_the_rules_file_stays_the_rules_in_force(api, tmp_path):
    async with _served(api, tmp_path, "a", FIRST) as (a, hub_a, rules):
        r = await a.put("/v1/routes", data=SECOND, headers=OPERATE)
        assert r.status == 200 and (await r.json())["version"] is None
        assert await hub_a.store.active_rules() is None and rules.read_text() == SECOND
        assert (await _rules_of(a))["version"] is None


@pytest.mark.parametrize("hub_backend", ["postgresql"])
async def test_routes_show_prints_the_clusters_stored_version(api, tmp_path, database_url, monkeypatch):
    from click.testing import CliRunner

    from hub.cli import cli

    async with _served(api, tmp_path, "a", FIRST) as (a, hub_a, _):
        assert (await a.put("/v1/routes", data=SECOND, headers=OPERATE)).status == 200
    rules = tmp_path / "own.yaml"
    rules.write_text(THIRD)
    config = tmp_path / "burgerhub.toml"
    config.write_text(f'[hub]\ndata_dir = "{tmp_path / "cli"}"\ndatabase = "{database_url}"\nroutes = "{rules}"\n')
    monkeypatch.delenv("BURGERHUB_CONFIG", raising=False)
    # the command runs its own event loop: in a thread of its own, away from the test's
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["--config", str(config), "routes", "show"])
    assert result.exit_code == 0, result.output
    assert SECOND in result.output and "version 2 stored for the cluster" in result.output


@pytest.mark.parametrize("hub_backend", ["postgresql"])
async def test_two_loads_at_once_leave_every_hub_on_the_later_version(api, tmp_path):
    async with _served(api, tmp_path, "a", FIRST) as (a, hub_a, _), \
            _served(api, tmp_path, "b", FIRST) as (b, hub_b, _):
        answers = await asyncio.gather(a.put("/v1/routes", data=SECOND, headers=OPERATE),
                                       b.put("/v1/routes", data=THIRD, headers=OPERATE),
                                       a.put("/v1/routes", data=THIRD, headers=OPERATE))
        assert sorted([(await r.json())["version"] for r in answers]) == [2, 3, 4]
        active = await hub_a.store.active_rules()

        async def settled() -> bool:
            return all(await asyncio.gather(*(_version_text(c, 4, active.text) for c in (a, b))))

        await _until(settled)


@pytest.mark.parametrize("hub_backend", ["postgresql"])
async def test_a_notification_after_stop_starts_no_check(api, tmp_path):
    from hub.store.postgres import TOPICS

    async with _served(api, tmp_path, "a", FIRST) as (a, hub_a, _):
        await hub_a.cluster_rules.stop()
        # a notification arriving once the rules stopped following (as the listening connection delivers it)
        hub_a.store._dispatch(None, 0, TOPICS["rules"], "")
        assert hub_a.cluster_rules._checking is None
        assert hub_a.cluster_rules._notified not in hub_a.store._handlers[TOPICS["rules"]]
        assert not [t for t in asyncio.all_tasks() if "_check_until_settled" in repr(t.get_coro())]


@pytest.mark.parametrize("hub_backend", ["postgresql"])
async def test_a_version_stored_while_a_hub_starts_is_taken_without_waiting_for_the_check(
        api, tmp_path, monkeypatch):
    from hub.store.postgres import PostgresStore

    listen = PostgresStore.listen

    async def listen_after_a_store(self, topic, handler):
        if topic == "rules":
            # another hub stores a version after this one read the stored rules, before it listens
            await self.store_rules(SECOND, "s" * 64, source="elsewhere", actor="beheer", role="operator")
        await listen(self, topic, handler)

    monkeypatch.setattr(PostgresStore, "listen", listen_after_a_store)
    async with _served(api, tmp_path, "a", FIRST) as (a, hub_a, _):
        await _until(lambda: _version_text(a, 2, SECOND), timeout=5.0)


@pytest.mark.parametrize("hub_backend", ["postgresql"])
async def test_a_hub_refusing_the_stored_version_at_start_does_not_log_it_is_used(api, tmp_path, caplog):
    async with _served(api, tmp_path, "a", FIRST) as (a, hub_a, _):
        await hub_a.store.store_rules("channels: [pigeon]\n", "p" * 64, source="elsewhere", actor="beheer",
                                      role="operator")
        await hub_a.cluster_rules.stop()  # not to take it here
    caplog.clear()
    async with _served(api, tmp_path, "b", FIRST) as (b, hub_b, _):
        assert "cannot be used on this hub" in caplog.text
        assert "the stored version is used" not in caplog.text and "runs on its rules file" in caplog.text
        assert hub_b.rules.text == FIRST
