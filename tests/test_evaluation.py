"""Evaluation: a synthetic history over the benchmark's participant set, and the report's figures
checked against counts made here from the raw rows, on both store backends; the API, CSV and CLI."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import sqlite3
from collections import Counter, defaultdict
from datetime import date, datetime

import pytest

from bench import dataset, history
from hub.evaluation import Selection, build
from hub.evaluation.html import render
from hub.evaluation.tables import PEOPLE
from hub.store.select import open_store
from hub.testing import BACKENDS, RecordingPlugin

from conftest import DISPATCH, OPERATE, UTRECHT, person, start_payload

PARTICIPANTS = 4_000
#: the benchmark's rate (4,000 a month) scaled to the small participant set, so the test runs in seconds
ACTIONS_PER_MONTH = 160
JAN = datetime(2026, 1, 1, tzinfo=history.TZ)


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    return request.param


@pytest.fixture(scope="module")
def participants():
    cols = dataset.generate(PARTICIPANTS, 11)
    return cols, [(pid, json.loads(text)) for pid, text in dataset.records(cols, 0, len(cols))]


@pytest.fixture
async def filled(tmp_path, database_url, participants):
    """A store holding the participants and two months of synthetic history (the first month's
    figures kept at writing, the second's left for the report to keep)."""
    cols, records = participants
    path = tmp_path / "db.sqlite3"
    store = open_store(database_url, path)
    await store.open()
    await store.put_participants(records)
    items = list(history.generate(cols, first_month=JAN, months=2, actions_per_month=ACTIONS_PER_MONTH, seed=5))
    first = [i for i in items if i[0]["started_at"] < "2026-02"]
    second = [i for i in items if i[0]["started_at"] >= "2026-02"]
    if store.backend == "sqlite":
        history.write_sqlite(path, first, keep=True)
        history.write_sqlite(path, second, keep=False)
    else:
        await history.write_postgres(database_url, first, keep=True)
        await history.write_postgres(database_url, second, keep=False)
    yield store
    await store.close()


async def raw(store, sql):
    return [tuple(r) for r in await store._all(sql)]


async def independent(store, first: date, last: date):
    """The figures, counted here from the raw rows with none of the report's code."""
    lo = datetime(first.year, first.month, first.day, tzinfo=history.TZ).timestamp()
    hi = datetime(last.year, last.month, last.day, tzinfo=history.TZ).timestamp() + 86400
    actions = {}
    for aid, data, created in await raw(store, "SELECT id, data, created_at FROM actions"):
        if lo <= created < hi:
            actions[aid] = json.loads(data)
    tips = defaultdict(list)
    for aid, channel, at in await raw(store, "SELECT action_id, channel, created_at FROM tips"):
        if aid in actions:
            tips[aid].append((channel, at))
    starts = Counter()
    per_person = defaultdict(set)
    first_start = {}
    for aid, channel, kind, status, pid, at in await raw(
            store, "SELECT action_id, channel, kind, status, participant_id, updated_at FROM deliveries"):
        if aid not in actions:
            continue
        if kind == "start":
            starts[(channel, status)] += 1
            if status in ("sent", "delivered"):
                per_person[pid].add(aid)
                first_start[aid] = min(first_start.get(aid, at), at)
    critical = [a for a in actions.values() if a["urgency"] == "time_critical"]
    ended = [a for a in actions.values() if a["status"] == "ended"]
    reach = Counter(len(s) for s in per_person.values())
    reach[0] = PARTICIPANTS - len(per_person)
    return {
        "actions": len(actions),
        "time_critical": len(critical),
        "responded": sum(1 for a in critical if tips[a["id"]]),
        "solved": sum(1 for a in ended if a.get("solved_by_participants")),
        "ended": len(ended),
        "tips": Counter(c for ts in tips.values() for c, _ in ts),
        "starts": starts,
        "reach": reach,
        "first_start": {aid: at - datetime.fromisoformat(actions[aid]["started_at"]).timestamp()
                        for aid, at in first_start.items()},
        "actions_data": actions,
    }


async def test_the_report_counts_what_the_raw_rows_hold(filled):
    store = filled
    for first, last in ((date(2026, 1, 1), date(2026, 1, 31)), (date(2026, 1, 1), date(2026, 2, 28)),
                        (date(2026, 2, 10), date(2026, 2, 20))):
        report = await build(store, Selection(first, last))
        want = await independent(store, first, last)
        h = report.headline
        assert h["actions"] == want["actions"] > 0
        assert h["time_critical"] == want["time_critical"]
        assert h["time_critical_with_response"] == want["responded"]
        assert h["response_share"] == pytest.approx(want["responded"] / want["time_critical"])
        assert h["solved_by_participants"] == want["solved"]
        assert h["solved_share"] == pytest.approx(want["solved"] / want["ended"])
        assert h["participants"] == PARTICIPANTS
        assert report.reach | {0: PARTICIPANTS - sum(report.reach.values())} == dict(want["reach"])
        tips = {row["channel"]: row["tips"] for row in report.table("tips").rows if row["channel"] != "all"}
        assert tips == dict(want["tips"])
        for row in report.table("channels").rows:
            if row["kind"] == "start":
                for status in ("delivered", "sent", "failed", "skipped"):
                    assert row[status] == want["starts"][(row["channel"], status)], (row["channel"], status)
        per_action = Counter()
        for row in report.table("action_messages").rows:
            per_action[(row["kind"], row["delivered"] > 0)] += row["delivered"]
        assert sum(v for (k, _), v in per_action.items() if k == "start") == sum(
            n for (c, s), n in want["starts"].items() if s == "delivered")
        for a in report.actions:
            if a.id in want["first_start"]:
                assert a.first_start_s == pytest.approx(want["first_start"][a.id])
        # every action counted in a municipality or abroad, and the municipality table adds up
        munis = report.table("municipalities").rows
        assert sum(r["actions"] for r in munis) == sum(1 for a in report.actions if a.municipality)
    # the report kept the figures of the settled second month; the kept figures equal the ledger's
    rows = await raw(store, "SELECT action_id, figures FROM action_figures")
    assert len(rows) == 2 * ACTIONS_PER_MONTH
    for aid, figures in rows[:: len(rows) // 10]:
        live = await store.action_figures(aid)
        assert json.loads(figures)["channels"] == live["channels"]


async def test_filters_and_reach_of_a_subset(filled):
    store = filled
    whole = await build(store, Selection(date(2026, 1, 1), date(2026, 1, 31)))
    critical = await build(store, Selection(date(2026, 1, 1), date(2026, 1, 31), urgency="time_critical"))
    assert critical.headline["actions"] == whole.headline["time_critical"]
    missing = await build(store, Selection(date(2026, 1, 1), date(2026, 1, 31), type="missing_person"))
    assert all(a.type == "missing_person" for a in missing.actions)
    # reach of the subset: counted from the raw rows of those actions only
    ids = {a.id for a in missing.actions}
    per_person = defaultdict(set)
    for aid, pid in await raw(store, "SELECT action_id, participant_id FROM deliveries WHERE kind='start'"
                                     " AND status IN ('sent','delivered')"):
        if aid in ids:
            per_person[pid].add(aid)
    assert missing.reach == dict(Counter(len(s) for s in per_person.values()))
    region = whole.actions[0].region
    in_region = await build(store, Selection(date(2026, 1, 1), date(2026, 1, 31), region=region))
    assert {a.region for a in in_region.actions} == {region}
    assert all(r["province"] for r in in_region.table("municipalities").rows)
    town = whole.actions[0].municipality
    in_town = await build(store, Selection(date(2026, 1, 1), date(2026, 1, 31), municipality=town))
    assert {a.municipality for a in in_town.actions} == {town}
    # an organisation filter matches what actions record; none record one here
    assert (await build(store, Selection(date(2026, 1, 1), date(2026, 1, 31), organisation="x"))).actions == []


async def test_a_report_counts_actions_without_kept_figures_from_their_ledger(filled):
    selection = Selection(date(2026, 1, 1), date(2026, 2, 28))
    kept_before = (await raw(filled, "SELECT count(*) FROM action_figures"))[0][0]
    live = await build(filled, selection, keep=False)
    assert kept_before < len(live.actions)
    kept = await build(filled, selection)
    assert [t.to_csv() for t in kept.tables] == [t.to_csv() for t in live.tables]


async def test_no_small_count_of_people_and_no_personal_data_leaves(filled, participants):
    report = await build(filled, Selection(date(2026, 1, 1), date(2026, 2, 28)))
    for table in report.tables:
        people = [i for i, c in enumerate(table.columns) if c.kind == PEOPLE]
        for row in csv.reader(io.StringIO(table.to_csv())):
            for i in people:
                assert row[i] not in ("1", "2", "3", "4"), (table.name, row)
    page = render(report)
    assert "< 5" in page or "&lt; 5" in page
    _, records = participants
    for _, p in records[:200]:
        for phone in p["phones"]:
            assert phone["number"] not in page
        if p.get("email"):
            assert p["email"] not in page
        assert p["id"] not in page
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_small_counts_print_as_less_than_five():
    from hub.evaluation.tables import SHARE, Column, Table

    t = Table("t", "t", (Column("n", "n", PEOPLE), Column("s", "s", SHARE, of="n")),
              [{"n": 0, "s": 0.0}, {"n": 3, "s": 0.3}, {"n": 5, "s": 0.5}])
    assert t.cells() == [["0", "0.0 %"], ["< 5", "–"], ["5", "50.0 %"]]


async def test_solved_by_participants_phone_tips_and_the_evaluation_api(api):
    async with api() as (client, hub):
        r = await client.post("/v1/actions", json=start_payload(), headers=DISPATCH)
        action = await r.json()
        aid = action["id"]
        r = await client.post(f"/v1/actions/{aid}/phone-tips", json={"text": "Beller zag de man"}, headers=DISPATCH)
        assert r.status == 201 and (await r.json())["channel"] == "phone"
        r = await client.post(f"/v1/actions/{aid}/phone-tips", json={}, headers=OPERATE)
        assert r.status == 403
        for body, field in (({"received_at": "yesterday"}, "received_at"), ({"text": ""}, "text"),
                            ({"received_at": "2000-01-01T00:00:00+00:00"}, "received_at"), ({"x": 1}, "x")):
            r = await client.post(f"/v1/actions/{aid}/phone-tips", json=body, headers=DISPATCH)
            assert r.status == 422 and (await r.json())["field"] == field, body
        r = await client.post("/v1/actions/act-nope/phone-tips", json={}, headers=DISPATCH)
        assert r.status == 404
        r = await client.post(f"/v1/actions/{aid}/end", json={"result": "arrested", "solved_by_participants": "yes"},
                              headers=DISPATCH)
        assert r.status == 422
        r = await client.post(f"/v1/actions/{aid}/end", json={"result": "arrested", "solved_by_participants": True},
                              headers=DISPATCH)
        assert r.status == 200 and (await r.json())["solved_by_participants"] is True
        tips = (await (await client.get(f"/v1/actions/{aid}/tips", headers=DISPATCH)).json())["tips"]
        assert [t["channel"] for t in tips] == ["phone"]

        today = datetime.now(history.TZ).date().isoformat()
        r = await client.get(f"/v1/evaluation?from={today}&to={today}", headers=OPERATE)
        assert r.status == 200
        body = await r.json()
        assert body["headline"]["actions"] == 1 and body["headline"]["solved_share"] == 1.0
        r = await client.get(f"/v1/evaluation?from={today}&to={today}&municipality=Den%20Haag", headers=OPERATE)
        assert (await r.json())["selection"]["municipality"] == "'s-Gravenhage"
        assert body["headline"]["time_critical_with_response"] == 1
        assert set(body["charts"]) >= {"reach", "map_participation", "map_actions"}
        assert body["charts"]["reach"].startswith("<svg") and "style=" not in body["charts"]["reach"]
        r = await client.get(f"/v1/evaluation/tables/tips.csv?from={today}&to={today}", headers=DISPATCH)
        assert r.status == 200 and r.content_type == "text/csv"
        assert (await r.text()).splitlines()[1].startswith("phone,< 5,1")
        r = await client.get(f"/v1/evaluation/report.html?from={today}&to={today}", headers=DISPATCH)
        assert r.status == 200 and "<svg" in await r.text() and '<html lang="nl">' in await r.text()
        r = await client.get(f"/v1/evaluation/report.html?from={today}&to={today}&lang=en", headers=DISPATCH)
        assert '<html lang="en">' in await r.text()
        dutch = body["tables"][0]
        english = (await (await client.get(f"/v1/evaluation?from={today}&to={today}&lang=en",
                                           headers=OPERATE)).json())["tables"][0]
        assert (dutch["title"], english["title"]) == ("De cijfers van het netwerk", "The network's figures")
        assert [c["key"] for c in dutch["columns"]] == [c["key"] for c in english["columns"]]
        for query, field in (("from=2026-13-01", "from"), ("from=2026-02-01&to=2026-01-01", "from"), ("lang=fr", "lang"),
                             ("type=theft", "type"), ("urgency=now", "urgency"),
                             ("municipality=Atlantis", "municipality"), ("from=2020-01-01&to=2026-01-01", "from")):
            r = await client.get(f"/v1/evaluation?{query}", headers=DISPATCH)
            assert r.status == 422 and (await r.json())["field"] == field, query
        r = await client.get("/v1/evaluation/tables/nope.csv", headers=DISPATCH)
        assert r.status == 404
        r = await client.get("/v1/evaluation")
        assert r.status == 401


def test_cli_report_writes_html_and_csv(tmp_path, participants):
    from click.testing import CliRunner

    from hub.cli import cli
    from hub.store.sqlite import SQLiteStore

    cols, records = participants
    data = tmp_path / "var"

    async def prepare():
        store = SQLiteStore(data / "burgerhub.sqlite3")
        await store.open()
        await store.put_participants(records[:500])
        await store.close()

    asyncio.run(prepare())
    history.write_sqlite(data / "burgerhub.sqlite3",
                         history.generate(cols, first_month=JAN, months=1, actions_per_month=30, seed=2))
    config = tmp_path / "hub.toml"
    config.write_text(f'[hub]\ndata_dir = "{data}"\n')
    out = tmp_path / "report.html"
    runner = CliRunner()
    result = runner.invoke(cli, ["-c", str(config), "report", "--from", "2026-01-01", "--to", "2026-01-31",
                                 "--out", str(out), "--csv", str(tmp_path / "csv")])
    assert result.exit_code == 0, result.output
    assert "30 acties" in result.output
    page = out.read_text()
    assert page.startswith('<!doctype html><html lang="nl">') and "Berichten en tips" in page
    result = runner.invoke(cli, ["-c", str(config), "report", "--from", "2026-01-01", "--to", "2026-01-31",
                                 "--out", str(tmp_path / "en.html"), "--language", "en"])
    assert result.exit_code == 0 and "30 actions" in result.output, result.output
    english = (tmp_path / "en.html").read_text()
    assert english.startswith('<!doctype html><html lang="en">') and "Messages and tips" in english
    assert "Berichten en tips" not in english
    assert {p.name for p in (tmp_path / "csv").iterdir()} >= {"summary.csv", "reach.csv", "municipalities.csv",
                                                              "actions.csv", "tips.csv", "channels.csv",
                                                              "action_messages.csv"}
    pytest.importorskip("weasyprint")
    result = runner.invoke(cli, ["-c", str(config), "report", "--from", "2026-01-01", "--to", "2026-01-31",
                                 "--type", "burglary", "--out", str(out), "--pdf", str(tmp_path / "report.pdf")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
    result = runner.invoke(cli, ["-c", str(config), "report", "--from", "2026-01-31", "--to", "2026-01-01"])
    assert result.exit_code != 0 and "--from" in result.output
    result = runner.invoke(cli, ["-c", str(config), "report", "--from", "2026-01-01", "--to", "2026-01-31",
                                 "--municipality", "Atlantis"])
    assert result.exit_code != 0 and "--municipality" in result.output
    with sqlite3.connect(data / "burgerhub.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM action_figures").fetchone()[0] == 30


async def test_the_keeper_keeps_the_figures_of_settled_actions_only(make_hub, recording_channel, routes_to_recording):
    from hub.actions import Actor
    from hub.evaluation.keeper import keep_figures

    cfg = {"hub": {"routes": routes_to_recording}, "channels": {"recording": {"token": "x"}}}
    async with make_hub(plugins=[RecordingPlugin()], config=cfg) as hub:
        for i in range(6):
            await hub.registry.register(person(f"k{i}", UTRECHT[0] + i * 0.001, UTRECHT[1]))
        actor = Actor("meldkamer", "dispatcher")
        ended = await hub.actions.start(start_payload(), actor)
        active = await hub.actions.start(start_payload(), actor)
        for _ in range(200):  # the start messages go out (ended before, those still queued get no closing)
            if not (await hub.store.action_figures(ended["id"]))["busy"]:
                break
            await asyncio.sleep(0.05)
        await hub.actions.end(ended["id"], {"result": "arrested", "solved_by_participants": True}, actor)
        for _ in range(200):  # the closing messages go out
            live = await hub.store.action_figures(ended["id"])
            if not live["busy"] and live["channels"]["recording"].get("end"):
                break
            await asyncio.sleep(0.05)
        # not yet settled: its ledger changed within the settling time
        assert await hub.store.keep_settled_figures() == 0
        task = asyncio.create_task(keep_figures(hub.store, interval=0.01))
        try:
            await asyncio.sleep(0.2)
            assert await raw(hub.store, "SELECT action_id FROM action_figures") == []
            assert await hub.store.keep_settled_figures(now=live["changed_at"] + 901) == 1
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        kept = json.loads((await raw(hub.store, "SELECT figures FROM action_figures"))[0][0])
        assert kept["channels"] == live["channels"] and kept["channels"]["recording"]["end"]
        assert await hub.store.keep_settled_figures(now=live["changed_at"] + 901) == 0  # kept once
        assert active["id"] not in {r[0] for r in await raw(hub.store, "SELECT action_id FROM action_figures")}


async def test_participants_per_municipality_are_counted_again_only_when_changed_or_old(filled, participants):
    from hub.evaluation import ParticipantCells

    store = filled
    calls = []
    count = store.participant_cells

    async def counting(step):
        calls.append(step)
        return await count(step)

    store.participant_cells = counting
    first = await ParticipantCells(max_age=3600).get(store)
    assert len(calls) == 1 and sum(n for *_, n in first) > 0
    # another process (the command line) finds the kept count while nothing changed
    assert await ParticipantCells(max_age=0).get(store) == first and len(calls) == 1
    _, records = participants
    await store.put_participants([records[0]])  # participants changed
    assert await ParticipantCells(max_age=3600).get(store) == first and len(calls) == 1  # young enough
    await ParticipantCells(max_age=0).get(store)
    assert len(calls) == 2


async def test_the_report_is_dutch_by_default_and_english_on_request_with_the_same_figures(filled):
    from hub.evaluation.charts import charts

    selection = Selection(date(2026, 1, 1), date(2026, 1, 31))
    dutch = await build(filled, selection)
    english = await build(filled, selection, language="en")
    assert dutch.language == "nl" and english.language == "en"
    assert dutch.headline == english.headline
    # the same cells, codes worded in each language; the CSV (keys and codes) is the same in both,
    # but for the summary's description of each figure
    assert [t.to_csv() for t in dutch.tables[1:]] == [t.to_csv() for t in english.tables[1:]]
    # the summary's figures too, each written as its language writes decimals: "47,4 %" and "47.4 %"
    swap = str.maketrans(",.", ".,")
    dutch_values = [(r["figure"], r["value"].translate(swap)) for r in dutch.table("summary").rows]
    assert dutch_values == [(r["figure"], r["value"]) for r in english.table("summary").rows]
    shares = {r["figure"]: r["value"] for r in dutch.table("summary").rows}
    assert re.fullmatch(r"\d+,\d %", shares["response_share"]), shares["response_share"]
    # and so do the other tables' shares, cards and charts; the CSV writes them machine-readable
    channels = dutch.table("channels")
    share_at = [c.key for c in channels.columns].index("delivered_share")
    shown = [row[share_at] for row in channels.cells() if row[share_at] not in ("", "–")]
    assert shown and all(re.fullmatch(r"\d+,\d %", v) for v in shown), shown
    assert all(re.fullmatch(r"\d+\.\d %", v) for v in (row[share_at] for row in english.table("channels").cells())
               if v not in ("", "–"))
    assert ",".join(shown) not in channels.to_csv() and shown[0].replace(",", ".") in channels.to_csv()
    assert re.search(r"\d,\d %", charts(dutch)["shares"]) and not re.search(r"\d\.\d %", charts(dutch)["shares"])
    cards = re.findall(r'<div class="card"><b>([^<]*)</b>', render(dutch))
    assert any(re.fullmatch(r"\d+,\d %", c) for c in cards), cards
    d, e = dutch.table("types"), english.table("types")
    assert d.title == "Acties, reacties en resultaten per soort actie"
    assert e.title == "Actions, responses and results per action type"
    assert [c.label for c in d.columns][:2] == ["Soort actie", "Acties"]
    assert "Inbraak" in {row[0] for row in d.cells()} and "Burglary" in {row[0] for row in e.cells()}
    dutch_charts, english_charts = charts(dutch), charts(english)
    assert "Hoe vaak deelnemers werden bereikt" in dutch_charts["reach"] and "keren bereikt" in dutch_charts["reach"]
    assert "How often participants were reached" in english_charts["reach"]
    page = render(dutch)
    assert '<html lang="nl">' in page and "evaluatie" in page and "Per soort actie" in page
    assert '<html lang="en">' in render(english)
    # no English heading is left in the Dutch page, no Dutch one in the English page
    for word in ("Per action type", "Messages and tips", "Reach per participant", "times reached"):
        assert word not in page, word
    assert "Berichten en tips" not in render(english)


async def test_participation_is_a_share_of_residents_aged_16_and_over(filled):
    from hub import places
    from hub.evaluation import where

    report = await build(filled, Selection(date(2026, 1, 1), date(2026, 1, 31)))
    rows = {row["municipality"]: row for row in report.table("municipalities").rows}
    for p, k in zip(where.municipalities(), report.municipality_participants.tolist()):
        row = rows[p.name]
        assert row["inhabitants_16_plus"] == round(p.population * places.SHARE_16_PLUS) < p.population
        assert row["participation"] == pytest.approx(k / row["inhabitants_16_plus"])
    living = int(report.municipality_participants.sum())
    adults = sum(p.population_16_plus for p in where.municipalities())
    assert report.headline["participation_16_plus"] == pytest.approx(living / adults)
    labels = {row["figure"]: row["label"] for row in report.table("summary").rows}
    assert "16" in labels["participation_16_plus"] and "geschat" in labels["participation_16_plus"]
    assert "16+" in report.table("municipalities").columns[-1].label
    assert "83 %" in report.table("municipalities").note


def _small_report(language: str = "nl", *, reach=None, living: int = 0):
    """A report of one action built from figures given here: sms reached 3 people, e-mail 50; three
    participants registered, each reached once (or as ``reach`` says), ``living`` of them in the first
    municipality."""
    import time

    import numpy as np

    from hub.evaluation import where
    from hub.evaluation.figures import ActionFigures, Report, headline
    from hub.evaluation.report_tables import tables

    n = len(where.municipalities())
    action = ActionFigures(
        id="act-1", started=JAN.timestamp(), type="burglary", urgency="time_critical", region=None,
        municipality=None, status="ended", result="arrested", solved=False,
        channels={"sms": {"start": {"delivered": 1, "failed": 2}}, "email": {"start": {"delivered": 40, "sent": 10}}},
        targeted=53, reached=53, first_start_s=3.0, last_start_s=9.0, tips={"phone": 2, "app": 7},
    )
    report = Report(selection=Selection(date(2026, 1, 1), date(2026, 1, 31)), generated_at=time.time(),
                    actions=[action], reach=reach or {1: 3}, registered=3,
                    municipality_actions=np.zeros(n, dtype=np.int64),
                    municipality_participants=np.zeros(n, dtype=np.int64), headline={}, tables=[],
                    language=language)
    report.municipality_participants[0] = living
    report.headline = headline(report)
    report.tables = tables(report)
    return report


def _svg_texts(svg: str) -> list[str]:
    import re

    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_the_delivered_chart_withholds_the_share_of_a_small_count_as_the_table_does():
    from hub.evaluation.charts import charts

    report = _small_report()
    sms = next(row for row in report.table("channels").cells() if row[0] == "sms")
    assert sms[2] == "< 5" and sms[-2] == "–"  # the table withholds the share of 3 people
    texts = _svg_texts(charts(report)["delivered"])
    shown = texts[texts.index("sms") + 1]
    assert shown == "–", texts  # not "100.0 %" (1 of the 1 sent)


def test_the_reach_chart_axis_does_not_show_a_small_count():
    from hub.evaluation.charts import charts

    report = _small_report()
    assert report.table("reach").cells() == [["0", "0", "0,0 %"], ["1", "< 5", "–"]]  # Dutch: decimal comma
    texts = _svg_texts(charts(report)["reach"])
    assert texts[2] not in ("1", "2", "3", "4"), texts  # the axis's top: not the largest count, 3


def test_the_per_action_channel_counts_are_worded_in_the_reports_language():
    dutch, english = _small_report(), _small_report("en")
    columns = [c.key for c in dutch.table("actions").columns]
    tips, starts = columns.index("tips_by_channel"), columns.index("channels")
    row = dutch.table("actions").cells()[0]
    assert row[tips] == "app 7; telefoon < 5" and row[starts] == "e-mail 50; sms < 5"
    row = english.table("actions").cells()[0]
    assert row[tips] == "app 7; phone < 5" and row[starts] == "e-mail 50; sms < 5"
    # the CSV keeps the codes, in either language, and hides the small counts all the same
    assert dutch.table("actions").to_csv() == english.table("actions").to_csv()
    assert "app 7; phone < 5" in dutch.table("actions").to_csv()
    assert "email 50; sms < 5" in dutch.table("actions").to_csv()


def test_figures_computed_from_fewer_than_5_people_are_withheld_in_the_summary_charts_and_cards():
    """A share or mean of fewer than 5 people tells about them as a count would: the summary withholds
    it (as the tables withhold such a share), and so do the seeds' chart and the report's cards."""
    import re

    from hub.evaluation.charts import charts

    report = _small_report(reach={1: 1, 4: 2}, living=3)  # 3 registered: 2 reached 4 times, 1 once
    h = report.headline
    assert h["share_reached_more_than_3"] == pytest.approx(2 / 3) and h["mean_times_reached_if_reached"] == 3.0
    values = {row["figure"]: row["value"] for row in report.table("summary").rows}
    for key in ("participation_16_plus", "mean_times_reached", "mean_times_reached_if_reached",
                "share_reached_more_than_3"):
        assert values[key] == "–", (key, values[key])
    assert values["participants"] == values["participants_reached"] == "< 5"
    assert values["share_reached_more_than_5"] == "0,0 %"  # zero tells nothing about anybody
    assert values["actions"] == "1"  # counts of actions as they are
    assert "66,7 %" not in charts(report)["shares"] and "66.7 %" not in charts(report)["shares"]
    page = render(report)
    assert "66,7 %" not in page and "66.7 %" not in page
    cards = re.findall(r'<div class="card"><b>([^<]*)</b>', page)
    assert cards[-1] == "–", cards  # the mean times a reached participant was reached: of 3 people
    # the JSON the console draws its cards from says no more than the report
    data = report.to_dict()
    for key in ("participants", "participants_reached", "median_times_reached", "mean_times_reached_if_reached",
                "share_reached_more_than_3", "participation_16_plus"):
        assert data["headline"][key] is None and key in data["withheld"], key
    assert data["headline"]["actions"] == 1 and data["headline"]["share_reached_more_than_5"] == 0.0
