"""A real ``burgerhub serve`` on SQLite, killed with SIGKILL at 10 %, 50 % and 90 % of a fan-out and
again of its closing, then restarted; every message counted per recipient at a loopback provider.

Bars: 0 recipients without their start, 0 without their closing, 0 closings to anyone who did not get
the start. Messages sent twice are counted and printed:

* per recipient (Twilio's Messages API): the rows the killed process had handed to the provider
  without the answer being written back are sent again; each duplicate must be one of those rows
  (Twilio takes no key from the sender that would let it drop a resend);
* in bulk (CM's JSON gateway): 0. The hub writes each message's ``reference`` to the ledger before
  the request; after the restart those rows are in doubt and wait, and CM's status reports (which
  carry the reference, and which CM posts again until the webhook takes them) settle them.

The kill comes from inside the provider, the moment the message that crosses the fraction arrives and
before it is answered: the hub dies with that request (and whatever else it had in flight) unanswered.
"""

from __future__ import annotations

import asyncio
import collections
import os
import re
import signal
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import hashlib
import hmac

import aiohttp
import pytest
from test_cluster import END_MARK, OTHER_PLUGINS, SENDER, START_MARK, TOKEN, HubProcess, _free_port, _people

from hub.testing import toml_text
from plugins.sms.loopback import LoopbackSmsProvider
from plugins.sms.signing import url_token

from conftest import start_payload

FRACTIONS = (0.1, 0.5, 0.9)
TAG = re.compile(f"({START_MARK}|{END_MARK})-([0-9]+)")
SECRET = "faults-secret-0123456789abcdef0123"


@dataclass
class KillingProvider(LoopbackSmsProvider):
    """The loopback Twilio and CM APIs, counting accepted messages per kind and recipient, and killing
    a process when a kind's count reaches a mark."""

    #: (kind, action tag) -> number -> messages accepted; kind is "start" or "end"
    counts: dict = field(default_factory=lambda: collections.defaultdict(collections.Counter))
    #: (kind, tag, count, pid): SIGKILL ``pid`` when ``count`` messages of ``kind`` were accepted
    kill_at: tuple[str, str, int, int] | None = None
    killed: asyncio.Event = field(default_factory=asyncio.Event)
    #: CM's status reports wait while this is clear; those to ``silent`` numbers are never made
    reporting: asyncio.Event = field(default_factory=asyncio.Event)
    silent: set = field(default_factory=set)

    def __post_init__(self) -> None:
        self.reporting.set()

    def _count(self, number: str, body: str) -> None:
        found = TAG.search(body)
        if found is None:
            return
        key = ("start" if found[1] == START_MARK else "end", found[2])
        counter = self.counts[key]
        counter[number] += 1
        if self.kill_at and self.kill_at[:2] == key and sum(counter.values()) >= self.kill_at[2]:
            os.kill(self.kill_at[3], signal.SIGKILL)  # before this request is answered
            self.kill_at = None
            self.killed.set()

    async def _report(self, reference: str, number: str) -> None:
        await self.reporting.wait()
        if "+" + number[2:] not in self.silent:
            await super()._report(reference, number)

    async def _twilio_message(self, request):
        response = await super()._twilio_message(request)
        if response.status == 201:
            m = self.messages[-1]
            self._count(m["To"], m["Body"])
        return response

    async def _cm_message(self, request):
        response = await super()._cm_message(request)
        if response.status == 200 and self.cm_requests:
            for msg in self.cm_requests[-1]["messages"]["msg"]:
                body = str((msg.get("body") or {}).get("content") or "")
                for recipient in msg.get("to") or []:
                    self._count("+" + str(recipient["number"])[2:], body)
        return response


def _settings(provider: KillingProvider, bulk: bool) -> dict:
    if bulk:  # CM's JSON gateway, many recipients a request (smaller batches: kill points within a fan-out)
        return {"provider": "cm", "base_url": provider.base_url, "product_token": provider.product_token,
                "sender": "Burgernet", "batch_size": 200, "rate": 2000}
    return {"base_url": provider.base_url, "account_sid": provider.account_sid, "auth_token": provider.auth_token,
            "sender": SENDER, "rate": 1000}


def _hub(tmp: Path, provider: KillingProvider, bulk: bool) -> tuple[HubProcess, Path]:
    port = _free_port()
    data_dir = tmp / "hub"
    data_dir.mkdir()
    routes = tmp / "routes.yaml"
    routes.write_text("version: 1\nchannels: [sms]\n")
    config = {
        "hub": {"data_dir": str(data_dir), "secret": SECRET, "routes": str(routes),
                "public_url": f"http://127.0.0.1:{port}"},
        "api": {"host": "127.0.0.1", "port": port,
                "tokens": [{"name": "meldkamer", "role": "dispatcher", "token": TOKEN}]},
        "plugins": {"blocked": OTHER_PLUGINS},
        # rows in doubt after the crash wait this long for CM's status reports
        "engine": {"poll_interval": 0.2, "backoff_base": 0.2, "in_doubt_seconds": 8},
        "channels": {"sms": _settings(provider, bulk)},
    }
    if bulk:  # the status report webhook, as registered in CM's Channels app
        channel_secret = hmac.new(SECRET.encode(), b"channel:sms", hashlib.sha256).digest()
        provider.cm_report_url = (f"http://127.0.0.1:{port}/v1/channels/sms/status"
                                  f"?token={url_token(channel_secret, 'status')}")
        provider.cm_report_after, provider.cm_report_retry = 0.3, 0.3
    path = tmp / "hub.toml"
    path.write_text(toml_text(config))
    return HubProcess("hub", path, port, tmp / "hub.log"), data_dir / "burgerhub.sqlite3"


async def _register(db: Path, people: list[dict]) -> None:
    from hub.participants import Participant
    from hub.store.sqlite import SQLiteStore

    store = SQLiteStore(db)
    await store.open()
    try:
        normal = [Participant.from_dict(p).to_dict() for p in people]
        await store.put_participants([(p["id"], p) for p in normal])
    finally:
        await store.close()


def _rows(db: Path, action_id: str, kind: str, *statuses: str, reason: str | None = None) -> list[tuple[int, str, str]]:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        sql = "SELECT id, address, status FROM deliveries WHERE action_id=? AND kind=?"
        if reason is not None:
            sql += f" AND reason='{reason}'"
        args: tuple = (action_id, kind)
        if statuses:
            sql, args = sql + f" AND status IN ({','.join('?' * len(statuses))})", (*args, *statuses)
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


async def _until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


async def _up(hub: HubProcess, session: aiohttp.ClientSession) -> None:
    hub.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert hub.alive, f"the hub exited:\n{hub.tail()}"
        try:
            async with session.get(f"{hub.url}/v1/health") as r:
                if r.status == 200 and (await r.json())["channels"].get("sms") == "running":
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"the hub did not come up:\n{hub.tail()}")


async def _crash_and_recover(hub, session, provider, db, action_id, kind: str, tag: str, numbers) -> set[str]:
    """Wait for the kill, note what the dead hub had in flight, restart it and wait until every row of
    ``kind`` is sent. Returns the addresses of the rows it had in flight."""
    await asyncio.wait_for(provider.killed.wait(), 30)
    hub.kill()
    in_flight = {address for _, address, _ in _rows(db, action_id, kind, "sending")}
    provider.killed.clear()
    await _up(hub, session)
    counter = provider.counts[(kind, tag)]
    # "delivered" when a status report came first (always so for a row in doubt that a report settled)
    await _until(lambda: set(counter) == numbers
                 and len(_rows(db, action_id, kind, "sent", "delivered")) == len(numbers),
                 30, f"every {kind} sent after the restart")
    return in_flight


@pytest.mark.slow
@pytest.mark.parametrize("bulk", [False, True], ids=["per-recipient", "bulk"])
async def test_a_hub_killed_mid_fan_out_and_mid_closing_loses_nothing(tmp_path, bulk):
    """One action per fraction, each killed at that fraction of its start and of its closing."""
    count = 1000
    people = _people(count, seed=3)
    numbers = {p["phones"][0]["number"] for p in people}
    report = []
    async with KillingProvider() as provider:
        hub, db = _hub(tmp_path, provider, bulk)
        await _register(db, people)
        session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"},
                                        timeout=aiohttp.ClientTimeout(total=30))
        try:
            await _up(hub, session)
            for i, fraction in enumerate(FRACTIONS):
                tag, mark = str(i), max(1, int(count * fraction))
                provider.kill_at = ("start", tag, mark, hub.pid)
                body = start_payload(description=f"{START_MARK}-{tag}: man, zwarte hoodie, grijze fiets.")
                async with session.post(f"{hub.url}/v1/actions", json=body) as r:
                    assert r.status == 201, await r.text()
                    action = await r.json()
                assert action["audience"]["channels"]["sms"]["targeted"] == count
                start_held = await _crash_and_recover(hub, session, provider, db, action["id"], "start", tag, numbers)

                provider.kill_at = ("end", tag, mark, hub.pid)
                async with session.post(f"{hub.url}/v1/actions/{action['id']}/end",
                                        json={"result": "arrested", "text": f"{END_MARK}-{tag}"}) as r:
                    assert r.status == 200, await r.text()
                    assert (await r.json())["queued"]["end"] == count
                end_held = await _crash_and_recover(hub, session, provider, db, action["id"], "end", tag, numbers)

                starts, ends = provider.counts[("start", tag)], provider.counts[("end", tag)]
                assert set(starts) == numbers, f"{len(numbers - set(starts))} never got the start"
                assert set(ends) == numbers, f"{len(numbers - set(ends))} never got the closing"
                assert set(ends) <= set(starts), "a closing went to someone who never got the start"
                twice_start = {n for n, c in starts.items() if c > 1}
                twice_end = {n for n, c in ends.items() if c > 1}
                # a message arrives twice only when the dead hub had it in flight (handed over, not written back)
                assert twice_start <= start_held and twice_end <= end_held
                assert max(starts.values()) <= 2 and max(ends.values()) <= 2
                if bulk:  # CM's reports, carrying the references written before the requests, settled them
                    assert not twice_start and not twice_end
                report.append(f"killed at {fraction:.0%}: start {len(twice_start)} sent twice of {len(start_held)}"
                              f" in flight, closing {len(twice_end)} of {len(end_held)}")
        except BaseException:
            print(f"--- hub log:\n{hub.tail(40)}")
            raise
        finally:
            hub.kill()
            await session.close()
    print(f"\n{'bulk (CM)' if bulk else 'per-recipient (Twilio)'}: " + "; ".join(report))


@pytest.mark.slow
async def test_an_action_ended_while_starts_are_in_doubt_closes_for_everyone_the_provider_had(tmp_path):
    """Killed mid fan-out (CM, bulk) with CM's reports held back; restarted, and the action ended while
    the starts the dead hub handed over are in doubt. Then the reports come, but for some of those
    starts never: everyone who got the start gets the closing once, nobody else gets one, and no start
    goes out after the end."""
    count = 1000
    people = _people(count, seed=5)
    async with KillingProvider() as provider:
        hub, db = _hub(tmp_path, provider, bulk=True)
        await _register(db, people)
        session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"},
                                        timeout=aiohttp.ClientTimeout(total=30))
        try:
            await _up(hub, session)
            provider.reporting.clear()
            provider.kill_at = ("start", "0", count // 2, hub.pid)
            body = start_payload(description=f"{START_MARK}-0: man, zwarte hoodie, grijze fiets.")
            async with session.post(f"{hub.url}/v1/actions", json=body) as r:
                assert r.status == 201, await r.text()
                action_id = (await r.json())["id"]
            await asyncio.wait_for(provider.killed.wait(), 30)
            hub.kill()
            in_doubt = {address for _, address, _ in _rows(db, action_id, "start", "sending", reason="handed_over")}
            assert in_doubt, "the dead hub had handed nothing over"
            await _up(hub, session)
            # the restarted hub sends the starts nobody had; those in doubt wait (8 s) for CM's reports
            await _until(lambda: len(_rows(db, action_id, "start", "sent", "delivered")) == count - len(in_doubt),
                         6, "the starts that were not in doubt")
            assert {a for _, a, _ in _rows(db, action_id, "start", "queued", reason="in_doubt")} == in_doubt

            starts = provider.counts[("start", "0")]
            # every start not in doubt reached the provider; of those in doubt, the ones whose request was
            # still on its way when the hub died never did (nothing tells the hub which)
            assert set(starts) >= {p["phones"][0]["number"] for p in people} - in_doubt
            async with session.post(f"{hub.url}/v1/actions/{action_id}/end",
                                    json={"result": "arrested", "text": f"{END_MARK}-0"}) as r:
                assert r.status == 200, await r.text()
                assert (await r.json())["queued"]["end"] == count
            # CM reports half of the starts in doubt (and everything else); the other half never
            provider.silent = set(sorted(in_doubt)[::2])
            provider.reporting.set()
            ends = provider.counts[("end", "0")]
            await _until(lambda: not _rows(db, action_id, "end", "queued", "sending") and len(ends) == count,
                         20, "every closing sent")
            await asyncio.sleep(1)  # anything sent twice would arrive now
            assert set(ends) >= set(starts), f"{len(set(starts) - set(ends))} got the start and no closing"
            # a closing without a start only where a start in doubt never reached the provider, so no
            # report could come: counted as sent when its wait ran out (the documented rule)
            assert set(ends) - set(starts) <= in_doubt
            assert max(ends.values()) == 1 and max(starts.values()) == 1
            closings = _rows(db, action_id, "end")
            assert len(closings) == count and {s for _, _, s in closings} <= {"sent", "delivered"}
        except BaseException:
            print(f"--- hub log:\n{hub.tail(40)}")
            raise
        finally:
            hub.kill()
            await session.close()
    print(f"\nended with {len(in_doubt)} starts in doubt, {len(provider.silent)} of them never reported on;"
          f" {len(set(ends) - set(starts))} closings to people whose start never reached the provider")
