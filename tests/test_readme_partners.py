"""The README's partner examples work as written: the municipality's notice in and next door, and the
fire brigade's CAP Alert and Cancel."""

from __future__ import annotations

import re
from pathlib import Path

from partners_support import bearer

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("## Partners: organisations"):README.index("## Channels\n")]


def heredoc(name: str) -> bytes:
    match = re.search(rf"cat > {re.escape(name)} <<'XML'\n(.*?)\nXML\n", SECTION, re.S)
    assert match, f"no {name} in the README's partner section"
    return match.group(1).encode()


def curl_bodies() -> list[str]:
    return re.findall(r"-d '(\{.*?\})' \\\n", SECTION, re.S)


async def test_the_municipality_example(partners):
    import json

    inside, next_door = (json.loads(b) for b in curl_bodies())
    async with partners() as (client, _, tokens):
        gemeente = bearer(tokens["gemeente-utrecht"])
        r = await client.post("/v1/actions", json=inside, headers=gemeente)
        assert r.status == 201 and (await r.json())["organisation"] == "gemeente-utrecht"
        r = await client.post("/v1/actions", json=next_door, headers=gemeente)
        assert r.status == 403
        reason = (await r.json())["reason"]
        shown = re.search(r'"reason": "(.*?)"\}', SECTION.replace("\n#      ", " "), re.S).group(1)
        assert reason == shown


async def test_the_fire_brigade_example(partners):
    async with partners() as (client, hub, tokens):
        fire = {**bearer(tokens["brandweer-utrecht"]), "Content-Type": "application/cap+xml"}
        r = await client.post("/v1/cap", data=heredoc("alert.xml"), headers=fire)
        assert r.status == 201, await r.text()
        action_id = (await r.json())["action_id"]
        assert (await hub.store.get_action(action_id))["type"] == "crisis"
        r = await client.post("/v1/cap", data=heredoc("cancel.xml"), headers=fire)
        assert r.status == 200, await r.text()
        ended = await hub.store.get_action(action_id)
        assert ended["status"] == "ended" and ended["result_text"] == "Het sein brand meester is gegeven."
