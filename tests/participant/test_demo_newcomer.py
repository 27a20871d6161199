"""The demo as a newcomer meets it: ``burgerhub demo`` runs its scripted action and serves on; in
headless Chromium (without a push service, as Debian's) a newcomer opens the printed participant page,
signs up with the link and proves a mobile with the code that the printed outbox commands show, adds
an address and turns alerts on; the demo starts a demo action around that address, the page shows it,
and a little later its closing. Set ``BURGERHUB_SCREENSHOT=1`` to refresh ``docs/participant-demo.png``."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import socket
import sys
from pathlib import Path

import pytest
from playwright.async_api import expect

from conftest import needs_chromium
from test_participant_current import NO_PUSH_SERVICE

BURGERHUB = Path(sys.executable).with_name("burgerhub")
#: the README's picture of a received demo alert; set BURGERHUB_SCREENSHOT=1 to make it again
DOCS_SHOT = Path(__file__).resolve().parents[2] / "docs" / "participant-demo.png"

pytestmark = needs_chromium


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def line_matching(stream, pattern: str, seen: list[str], timeout: float = 90) -> re.Match:
    async def read() -> re.Match:
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError("the demo stopped:\n" + "".join(seen))
            seen.append(line)
            if m := re.search(pattern, line):
                return m

    try:
        return await asyncio.wait_for(read(), timeout)
    except asyncio.TimeoutError as e:  # still a timeout (a test may expect one), now saying what was printed
        raise asyncio.TimeoutError(f"no line matching {pattern!r} in {timeout:.0f} s:\n" + "".join(seen)) from e


async def run(command: list[str], cwd: Path) -> str:
    proc = await asyncio.create_subprocess_exec(*command, cwd=cwd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, env={**os.environ, "BURGERHUB_CONFIG": ""})
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def look_until(page, locator, text: str, rounds: int = 20) -> None:
    """Let the page's 30-second look-ups run (its clock is the test's) until ``locator`` shows ``text``."""
    for _ in range(rounds):
        await page.clock.run_for(31_000)
        if text in (await locator.all_inner_texts() or [""])[0]:
            return
        await asyncio.sleep(1)
    await expect(locator.first).to_contain_text(text)


async def test_a_newcomer_signs_up_on_the_demo_and_receives_its_demo_action(browser, config_file, tmp_path):
    port = free_port()
    demo = await asyncio.create_subprocess_exec(
        str(BURGERHUB), "--config", str(config_file), "demo", "--port", str(port), "--participants", "50",
        "--newcomer-minutes", "0.3", cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "BURGERHUB_CONFIG": ""})
    seen: list[str] = []
    try:
        page_url = (await line_matching(demo.stdout, r"PARTICIPANT PAGE: (\S+)", seen)).group(1)
        mail_command = (await line_matching(demo.stdout, r"^\s+(.+ outbox --personal --channel email --limit 1)$", seen)).group(1)
        sms_command = (await line_matching(demo.stdout, r"^\s+(.+ outbox --personal --channel sms --limit 1)$", seen)).group(1)
        assert page_url == f"http://127.0.0.1:{port}/participant/"
        assert shlex.split(mail_command)[:3] == [str(BURGERHUB), "--config", str(config_file)]

        context = await browser.new_context(viewport={"width": 412, "height": 900}, locale="nl-NL",
                                            permissions=["geolocation", "notifications"])
        await context.add_init_script(NO_PUSH_SERVICE)
        page = await context.new_page()
        page.set_default_timeout(15000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.clock.install()
        await page.goto(page_url)

        # sign up: the link is in the sandbox outbox, shown by the printed command
        await page.get_by_label("E-mailadres").first.fill("nieuw@example.net")
        await page.get_by_label("Ik ben 16 jaar of ouder").check()
        await page.get_by_role("button", name="Stuur mij een link").click()
        await expect(page.locator("#status")).to_contain_text("link onderweg")
        for _ in range(50):
            if m := re.search(r"(http://\S+#link=[A-Za-z0-9_-]+)", await run(shlex.split(mail_command), tmp_path)):
                break
            await asyncio.sleep(0.2)
        await page.goto(m.group(1))
        await expect(page.locator("#status")).to_have_text("U bent ingelogd.")

        # an address; the device is there
        await page.get_by_label("Plaats").fill("Utrecht")
        await page.get_by_role("button", name="Gebruik").first.click()
        chosen = re.search(r"Gekozen: (-?\d+\.\d+), (-?\d+\.\d+)", await page.get_by_text("Gekozen: ").inner_text())
        await context.set_geolocation({"latitude": float(chosen.group(1)), "longitude": float(chosen.group(2))})
        await page.get_by_role("button", name="Adres toevoegen").click()
        await expect(page.locator("#addresses-h + p + ul")).to_contain_text("Thuis")

        # a mobile, proven by the SMS code in the outbox
        await page.get_by_label("Telefoonnummer").fill("06 12345678")
        await page.get_by_role("button", name="Toevoegen", exact=True).click()
        await page.get_by_role("button", name="Stuur code").click()
        await expect(page.locator("#status")).to_contain_text("sms")
        code = re.search(r"\b(\d{6})\b", await run(shlex.split(sms_command), tmp_path)).group(1)
        await page.get_by_label("Code voor +31612345678").fill(code)
        await page.get_by_role("button", name="Bevestig").click()
        await expect(page.locator("#status")).to_have_text("+31612345678 is bevestigd.")

        # alerts on, without a push service: the demo action around the address arrives while the page is open
        await page.get_by_role("button", name="Meldingen aanzetten").click()
        await expect(page.locator("#app-mode")).to_contain_text("zolang deze pagina open is")
        action_id = (await line_matching(demo.stdout, r"demo action (act-demo-[0-9a-f]+) started", seen)).group(1)
        alert = page.locator(f"#alerts li[data-action='{action_id}']")
        await look_until(page, alert, "DEMO, geen echte vermissing")
        assert await page.evaluate(
            "navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => ns.map(n => n.title))") \
            == ["Burgernet: Vermissing"]
        if os.environ.get("BURGERHUB_SCREENSHOT") or not DOCS_SHOT.exists():
            await page.evaluate("document.getElementById('app').scrollIntoView({block: 'start'})")
            await page.screenshot(path=str(DOCS_SHOT))
        # the closing follows a little later
        await line_matching(demo.stdout, rf"Demo action {action_id} ended as 'found'", seen)
        await look_until(page, alert, "ongedeerd gevonden")
        # once per newcomer: a change of theirs later starts nothing new
        await page.get_by_role("button", name="Opslaan").click()
        await expect(page.locator("#status")).to_have_text("Opgeslagen.")
        with pytest.raises(asyncio.TimeoutError):
            await line_matching(demo.stdout, "started around their address", seen, timeout=6)
        assert errors == []
        await context.close()
    finally:
        if demo.returncode is None:
            demo.send_signal(signal.SIGINT)
            await asyncio.wait_for(demo.wait(), 30)
    assert demo.returncode == 0, "".join(seen)
