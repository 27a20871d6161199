"""The participant page end to end in headless Chromium (Debian's ``chromium``, driven by Playwright):
sign up with the link taken from the SMTP server, verify a phone with the code taken from the loopback
SMS provider, add an address by place, set preferences that a dry run honours, download, switch to
English, erase. Set ``BURGERHUB_SCREENSHOT=1`` to refresh ``docs/participant.png``."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from hub.actions import Actor
from hub.errors import NotFound

from conftest import needs_chromium
from test_verification import MOBILE, citizen_hub, start

DISPATCHER = Actor("meldkamer", "dispatcher")
DOCS_SHOT = Path(__file__).resolve().parents[2] / "docs" / "participant.png"

pytestmark = needs_chromium



def watch(page, errors: list[str]) -> None:
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text else None)


def base_of(http) -> str:
    return str(http._base_url).rstrip("/")


async def test_a_citizen_signs_up_proves_a_phone_chooses_and_leaves(browser, make_hub, tmp_path):
    async with citizen_hub(make_hub, tmp_path) as (hub, http, sms, calls, mailbox):
        base = base_of(http)
        context = await browser.new_context(viewport={"width": 412, "height": 900}, locale="nl-NL",
                                            accept_downloads=True)
        page = await context.new_page()
        page.set_default_timeout(15000)
        errors: list[str] = []
        watch(page, errors)
        await page.goto(f"{base}/participant/")
        await expect(page.get_by_role("heading", name="Aanmelden als deelnemer")).to_be_visible()

        # sign up: refused without the age, then the link arrives by mail
        await page.get_by_label("E-mailadres").first.fill("ann@example.net")
        await page.get_by_role("button", name="Stuur mij een link").click()
        await expect(page.locator("#status")).to_contain_text("age_confirmed")
        await page.get_by_label("Ik ben 16 jaar of ouder").check()
        await page.get_by_role("button", name="Stuur mij een link").click()
        await expect(page.locator("#status")).to_contain_text("link onderweg")
        await hub.verifier.idle()
        [mail] = mailbox.mails
        link = re.search(r"(http://\S+#link=\S+)", mail.get_body(("plain",)).get_content()).group(1)
        await page.goto(link)
        await expect(page.locator("#status")).to_have_text("U bent ingelogd.")
        assert "#link" not in page.url

        # an address by a place from the table
        await page.get_by_label("Plaats").fill("Utrecht")
        await page.get_by_role("button", name="Gebruik").first.click()
        await expect(page.get_by_text("Gekozen: 52.")).to_be_visible()
        await page.get_by_role("button", name="Adres toevoegen").click()
        await expect(page.locator("#addresses-h + p + ul")).to_contain_text("Thuis")

        # a mobile, proven by the code the SMS provider received
        await page.get_by_label("Telefoonnummer").fill("06 12345678")
        await page.get_by_role("button", name="Toevoegen", exact=True).click()
        await expect(page.get_by_text("niet bevestigd")).to_be_visible()
        await page.get_by_role("button", name="Stuur code").click()
        await expect(page.locator("#status")).to_contain_text("sms")
        code = re.search(r"\b(\d{6})\b", sms.messages[-1]["Body"]).group(1)
        await page.get_by_label(f"Code voor {MOBILE}").fill(code)
        await page.get_by_role("button", name="Bevestig").click()
        await expect(page.locator("#status")).to_have_text(f"{MOBILE} is bevestigd.")
        plan = await hub.actions.plan(start(), DISPATCHER)
        assert plan["audience"]["channels"]["sms"]["targeted"] == 1

        # preferences: only SMS, a pause; a dry run honours them
        await page.get_by_label("E-mail", exact=True).uncheck()
        await page.get_by_label("Pauze tot en met").fill("2999-12-31")
        await page.get_by_label("Hoogstens zoveel acties per week").fill("3")
        await page.get_by_role("button", name="Opslaan").click()
        await expect(page.locator("#status")).to_have_text("Opgeslagen.")
        plan = (await hub.actions.plan(start(), DISPATCHER))["audience"]["channels"]
        assert plan["sms"]["skipped"]["paused"] == 1 and plan["email"]["skipped"]["paused"] == 1
        [pid] = hub.registry.index.with_email("ann@example.net")
        stored = await hub.registry.get(pid)
        assert stored["channels"] == ["app", "sms"] and stored["max_actions_per_week"] == 3

        # download all my data
        async with page.expect_download() as info:
            await page.get_by_role("button", name="Download al mijn gegevens (JSON)").click()
        download = await info.value
        exported = json.loads(Path(await download.path()).read_text())
        assert exported["participant"]["id"] == pid and exported["participant"]["phones"][0]["verified"] is True

        # English with one click
        await page.get_by_role("button", name="Switch to English").click()
        await expect(page.get_by_role("heading", name="Actions that reached me")).to_be_visible()
        if os.environ.get("BURGERHUB_SCREENSHOT") or not DOCS_SHOT.exists():
            await page.get_by_role("button", name="Schakel naar Nederlands").click()
            await page.screenshot(path=str(DOCS_SHOT), full_page=True)
            await page.get_by_role("button", name="Switch to English").click()

        # erase me, confirmed once
        page.once("dialog", lambda d: d.accept())
        await page.get_by_role("button", name="Erase me as a participant").click()
        await expect(page.locator("#status")).to_contain_text("You have been erased")
        with pytest.raises(NotFound):
            await hub.registry.get(pid)
        assert errors == []
        await context.close()


async def test_a_citizen_texts_on_the_mobile_and_is_called_on_the_landline(browser, make_hub, tmp_path):
    """Per verified number, checkboxes say what it is used for; operated by keyboard alone, and a dry
    run then texts the mobile and calls the landline."""
    async with citizen_hub(make_hub, tmp_path, sandbox=True) as (hub, http, *_):
        landline = "+31302345678"
        await hub.registry.register({"id": "p1", "email": "p1@example.net", "channels": ["sms", "voice"],
                                     "phones": [{"number": MOBILE}, {"number": landline}],
                                     "addresses": [{"label": "home", "lat": 52.0894, "lon": 5.11}]})
        context = await browser.new_context(viewport={"width": 412, "height": 900}, locale="nl-NL")
        page = await context.new_page()
        page.set_default_timeout(15000)
        errors: list[str] = []
        watch(page, errors)
        await page.goto(f"{base_of(http)}/participant/")
        await page.evaluate("t => localStorage.setItem('burgerhub.session', t)", await hub.verifier.open_session("p1"))
        await page.reload()

        mobile_uses = page.get_by_role("group", name=f"Gebruik {MOBILE} voor")
        landline_uses = page.get_by_role("group", name=f"Gebruik {landline} voor")
        await expect(mobile_uses.get_by_role("checkbox", name="Sms", exact=True)).to_be_checked()
        calls = mobile_uses.get_by_role("checkbox", name="Bellen", exact=True)
        await expect(calls).to_be_checked()
        await expect(landline_uses.get_by_role("checkbox", name="Bellen", exact=True)).to_be_checked()
        await expect(landline_uses.get_by_role("checkbox", name="Sms", exact=True)).to_have_count(0)
        await expect(landline_uses).to_contain_text("geen sms")

        # by keyboard: focus the mobile's "Bellen", untick it with Space, Tab to its save button, Enter
        await calls.focus()
        await page.keyboard.press("Space")
        await expect(calls).not_to_be_checked()
        await page.keyboard.press("Tab")
        await expect(page.get_by_role("button", name=f"Bewaar keuze voor {MOBILE}")).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(page.locator("#status")).to_have_text("Opgeslagen.")
        stored = await hub.registry.get("p1")
        assert [p.get("channels") for p in stored["phones"]] == [["sms"], None]  # the landline's is its default
        await expect(page.get_by_role("group", name=f"Gebruik {MOBILE} voor").get_by_role(
            "checkbox", name="Bellen", exact=True)).not_to_be_checked()

        action = await hub.actions.start(start(), DISPATCHER)
        rows = {r["channel"]: r["address"] for r in await hub.store.ledger_rows(action["id"])}
        assert rows == {"sms": MOBILE, "voice": landline}

        await page.get_by_role("button", name="Switch to English").click()
        landline_uses = page.get_by_role("group", name=f"Use {landline} for")
        await expect(landline_uses.get_by_role("checkbox", name="Calls")).to_be_visible()
        assert errors == []
        await context.close()
