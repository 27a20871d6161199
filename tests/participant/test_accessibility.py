"""Accessibility of the participant page and the dispatcher console: axe-core (vendored from the npm
registry in tests/vendor/axe-core) finds no violation of WCAG 2.0/2.1 level A or AA, in Dutch and in
English, signed out and signed in."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from conftest import needs_chromium
from hub.participants import Participant, with_verified
from test_verification import OPERATOR_TOKEN, citizen_hub

AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

pytestmark = needs_chromium


async def violations(page) -> list[str]:
    await page.add_script_tag(path=str(AXE))
    found = await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}}).then(r => r.violations"
        ".map(v => v.id + ': ' + v.help + ' @ ' + v.nodes.map(n => n.target.join(' ')).join(', ')))",
        TAGS,
    )
    return found


async def test_the_participant_page_and_the_console_have_no_a_or_aa_violations(browser, make_hub, tmp_path):
    async with citizen_hub(make_hub, tmp_path, sandbox=True) as (hub, http, *_):
        base = str(http._base_url).rstrip("/")
        # the pages' Content-Security-Policy would refuse the injected checker, not the pages themselves
        context = await browser.new_context(viewport={"width": 412, "height": 900}, locale="nl-NL", bypass_csp=True)
        page = await context.new_page()
        page.set_default_timeout(15000)
        found: dict[str, list[str]] = {}

        await page.goto(f"{base}/participant/")
        await expect(page.get_by_role("heading", name="Aanmelden als deelnemer")).to_be_visible()
        found["participant, signed out, nl"] = await violations(page)
        # the checker does find problems: an unlabelled field and an image without a text
        await page.evaluate("document.querySelector('main').insertAdjacentHTML('beforeend',"
                            " '<div id=bad><input type=text><img src=icon.svg></div>')")
        caught = await page.evaluate("axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a']}})"
                                     ".then(r => r.violations.map(v => v.id))")
        assert {"label", "image-alt"} <= set(caught)
        await page.evaluate("document.getElementById('bad').remove()")
        await page.get_by_role("button", name="Switch to English").click()
        found["participant, signed out, en"] = await violations(page)

        phones = [{"number": "+31612345678"}, {"number": "+31302345678"}, {"number": "+31687654321"}]
        await hub.registry.register({"id": "p1", "email": "p1@example.net", "phones": phones,
                                     "channels": ["sms", "email"],
                                     "addresses": [{"label": "home", "lat": 52.09, "lon": 5.11}]}, verified=False)
        # two numbers proven (each shows what it is used for), one still waiting for its code
        p1 = Participant.from_dict(await hub.registry.get("p1"), validate=False)
        p1 = with_verified(with_verified(p1, number="+31612345678"), number="+31302345678")
        await hub.registry.store_participant(p1)
        token = await hub.verifier.open_session("p1")
        await page.evaluate("t => localStorage.setItem('burgerhub.session', t)", token)
        await page.reload()
        await expect(page.get_by_role("heading", name="Addresses")).to_be_visible()
        await expect(page.get_by_role("group", name="Use +31302345678 for")).to_be_visible()
        found["participant, signed in, en"] = await violations(page)
        await page.get_by_role("button", name="Schakel naar Nederlands").click()
        found["participant, signed in, nl"] = await violations(page)

        await page.goto(f"{base}/console/")
        await expect(page.get_by_label("Token")).to_be_visible()
        found["console, signed out"] = await violations(page)
        await page.get_by_label("Token").fill(OPERATOR_TOKEN)
        await page.get_by_role("button", name="Aanmelden").click()
        await expect(page.locator("#who")).to_be_visible()
        found["console, signed in"] = await violations(page)
    assert {k: v for k, v in found.items() if v} == {}
