"""The console's evaluation page and its two new facts, in real headless Chromium.

A hub holds a synthetic month of history (the benchmark's participant set, scaled down). The dispatcher
opens the evaluation page, picks the month, sees the seeds' figures, charts and maps, and downloads a
table as CSV; on a live action they log a telephone tip and end it as solved thanks to participants.

Set ``BURGERHUB_SCREENSHOT=1`` to refresh ``docs/evaluation-console.png`` (also written when missing).
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path

from playwright.async_api import expect

from bench import dataset, history
from hub.testing import RecordingPlugin

from conftest import needs_chromium, start_payload
from console_support import DISPATCHER_TOKEN, add_participants, hub_config, serve
from test_console_browser import open_console, sign_in

DOCS_SHOT = Path(__file__).resolve().parents[2] / "docs" / "evaluation-console.png"

pytestmark = needs_chromium


async def test_the_evaluation_page_shows_the_figures_charts_and_map(
    browser, make_hub, recording_channel, routes_to_recording, tmp_path
):
    cols = dataset.generate(6_000, 4)
    async with make_hub(plugins=[RecordingPlugin()], config=hub_config(routes_to_recording)) as hub:
        await hub.store.put_participants([(pid, json.loads(text)) for pid, text in dataset.records(cols, 0, len(cols))])
        history.write_sqlite(hub.store.path, history.generate(
            cols, first_month=datetime(2026, 1, 1, tzinfo=history.TZ), months=1, actions_per_month=250, seed=9))
        async with serve(hub) as base:
            page = await open_console(browser, base)
            await sign_in(page, DISPATCHER_TOKEN)
            await page.get_by_role("link", name="Evaluatie").click()
            await expect(page.get_by_role("heading", name="Evaluatie", exact=True)).to_be_visible()
            await page.get_by_label("Van").fill("2026-01-01")
            await page.get_by_label("Tot en met").fill("2026-01-31")
            await page.get_by_role("button", name="Tonen").click()
            cards = page.locator(".eval-card")
            await expect(cards.first).to_contain_text("250", timeout=20000)
            await expect(cards.nth(1)).to_contain_text("%")
            share = await cards.nth(1).locator("b").inner_text()
            assert re.fullmatch(r"\d+,\d %", share), share  # Dutch: a decimal comma
            await expect(page.locator(".eval-charts svg")).to_have_count(7)
            await expect(page.locator(".eval-charts svg circle").first).to_be_attached()
            await expect(page.locator(".eval-table")).to_have_count(8)
            async with page.expect_download() as info:
                await page.locator(".eval-table").nth(4).get_by_role("button", name="CSV").click()
            download = await info.value
            text = Path(await download.path()).read_text()
            assert text.startswith("times_reached,participants,share")
            # tables and charts are worded in the console's language: Dutch, then English after the switch
            await expect(page.locator(".eval-table summary").first).to_contain_text("De cijfers van het netwerk")
            await expect(page.locator(".eval-charts svg title").first).to_have_text("De kerncijfers")
            await page.locator("#lang button[lang=en]").click()
            await expect(page.locator(".eval-table summary").first).to_contain_text("The network's figures")
            await expect(cards.nth(1).locator("b")).to_have_text(re.compile(r"^\d+\.\d %$"))
            await expect(page.locator(".eval-charts svg title").first).to_have_text("The seeds' figures")
            await page.locator("#lang button[lang=nl]").click()
            await expect(page.locator(".eval-table summary").first).to_contain_text("De cijfers van het netwerk")
            assert page.errors == []  # type: ignore[attr-defined]
            shot = tmp_path / "evaluation-console.png"
            await page.set_viewport_size({"width": 1440, "height": 1500})
            await page.evaluate("() => { window.scrollTo(0, 0); document.getElementById('main').scrollTo(0, 0); }")
            await page.screenshot(path=str(shot))
            if os.environ.get("BURGERHUB_SCREENSHOT") == "1" or not DOCS_SHOT.exists():
                DOCS_SHOT.parent.mkdir(parents=True, exist_ok=True)
                DOCS_SHOT.write_bytes(shot.read_bytes())


async def test_a_dispatcher_logs_a_phone_tip_and_ends_an_action_as_solved(
    browser, make_hub, recording_channel, routes_to_recording  # noqa: F811
):
    async with make_hub(plugins=[RecordingPlugin()], config=hub_config(routes_to_recording)) as hub:
        await add_participants(hub)
        action = await hub.actions.start(start_payload(), _dispatcher())
        async with serve(hub) as base:
            page = await open_console(browser, base)
            await sign_in(page, DISPATCHER_TOKEN)
            await page.goto(f"{base}/console/#/action/{action['id']}")
            await page.get_by_text("Telefonische tip vastleggen").click()
            await page.get_by_label("Wat de beller zag").fill("Beller zag de jongen bij de Domtoren")
            await page.get_by_role("button", name="Vastleggen").click()
            await expect(page.locator(".tips li")).to_contain_text("Beller zag de jongen bij de Domtoren")
            await page.get_by_label("Opgelost dankzij informatie van deelnemers").check()
            await page.get_by_role("button", name="Beëindigen…").click()
            await page.get_by_role("dialog").get_by_role("button", name="Ja, beëindigen").click()
            await expect(page.locator(".meta")).to_contain_text("Beëindigd")
        stored = await hub.store.get_action(action["id"])
        assert stored["solved_by_participants"] is True
        tips = await hub.store.list_tips(action["id"])
        assert [t["channel"] for t in tips] == ["phone"]


def _dispatcher():
    from hub.actions import Actor

    return Actor("meldkamer", "dispatcher")
