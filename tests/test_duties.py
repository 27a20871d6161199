"""Once-only duties on PostgreSQL: one holder while both live, another within seconds after it dies."""

from __future__ import annotations

import asyncio
import time

import pytest

from hub import duties as duties_module
from hub.duties import Duties


@pytest.fixture
def hub_backend():
    return "postgresql"


@pytest.fixture(autouse=True)
def quick_tries(monkeypatch):
    monkeypatch.setattr(duties_module, "TRY_SECONDS", 0.2)


async def held_by(*holders: Duties, name: str = "sweeps") -> list[int]:
    return [i for i, d in enumerate(holders) if d.holds(name)]


async def test_one_holder_at_a_time_and_a_take_over_when_it_dies(database_url):
    first, second = Duties(database_url), Duties(database_url)
    for d in (first, second):
        d.want("sweeps", "channel:matrix_boards")
    await first.start()
    await second.start()
    try:
        for _ in range(5):  # both alive, several rounds of tries: never both
            assert await held_by(first, second) == [0]
            assert await held_by(first, second, name="channel:matrix_boards") == [0]
            await asyncio.sleep(0.2)
        # the holder's session ends as if its process were killed (no clean release)
        first._task.cancel()
        await asyncio.gather(first._task, return_exceptions=True)
        first._conn.terminate()
        t0 = time.monotonic()
        # the duties are taken one after another: wait for both
        while second.held() != ["channel:matrix_boards", "sweeps"]:
            assert time.monotonic() - t0 < 10, f"no take-over within 10 s: {second.held()}"
            await asyncio.sleep(0.05)
        assert not first.holds("sweeps")
    finally:
        await first.stop()
        await second.stop()


async def test_on_the_embedded_store_the_one_process_holds_every_duty():
    local = Duties(None)
    local.want("sweeps")
    await local.start()
    assert local.holds("sweeps") and local.held() == ["sweeps"]
    await local.stop()
