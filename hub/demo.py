"""Sample participants and a scripted action, so a new user sees the whole flow at once."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from dataclasses import replace
from typing import Any, Callable

from .actions import Actor
from .models import Tip

CENTRE = (52.0894, 5.1100)  # Utrecht Centraal
CHANNEL_MIX = [
    (("sms",), 30), (("sms", "voice"), 15), (("voice",), 8), (("email",), 20),
    (("email", "sms"), 12), (("sms", "email", "voice"), 15),
]


def sample_participants(count: int, *, seed: int = 2009, centre: tuple[float, float] = CENTRE) -> list[dict[str, Any]]:
    """``count`` made-up participants around ``centre``: homes, some work addresses, mixed channels."""
    rnd = random.Random(seed)
    channels, weights = zip(*CHANNEL_MIX)
    people = []
    for i in range(count):
        lat = centre[0] + rnd.gauss(0, 0.03)
        lon = centre[1] + rnd.gauss(0, 0.045)
        chosen = list(rnd.choices(channels, weights)[0])
        person: dict[str, Any] = {
            "id": f"demo-{i:05d}",
            "language": "en" if rnd.random() < 0.1 else "nl",
            "phones": [{"number": f"+3161{rnd.randrange(10**6, 10**7)}", "kind": "mobile"}],
            "email": f"deelnemer{i}@example.org",
            "channels": chosen,
            "addresses": [{"label": "home", "lat": round(lat, 5), "lon": round(lon, 5)}],
        }
        if rnd.random() < 0.3:
            person["addresses"].append({
                "label": "work",
                "lat": round(centre[0] + rnd.gauss(0, 0.02), 5),
                "lon": round(centre[1] + rnd.gauss(0, 0.03), 5),
                "availability": [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "18:00"}],
            })
        if rnd.random() < 0.2:
            person["quiet_hours"] = {"from": "23:00", "to": "07:00"}
        if rnd.random() < 0.1:
            person["phones"].append({"number": f"+3130{rnd.randrange(10**6, 10**7)}", "kind": "landline"})
        people.append(person)
    return people


def with_demo_app_keys(config):
    """The demo's config with a VAPID key for the app channel (made once, kept in the data folder), so
    a browser on this machine can install the participant app and get pushes through its own push
    service. A configured key is left alone."""
    settings = dict(config.channels.get("app") or {})
    if settings.get("vapid_private_key"):
        return config
    path = config.data_dir / "vapid.json"
    if path.exists():
        key = json.loads(path.read_text())["private_key"]
    else:
        from cryptography.hazmat.primitives.asymmetric import ec

        number = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
        key = base64.urlsafe_b64encode(number.to_bytes(32, "big")).decode().rstrip("=")
        config.data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"private_key": key}))
        path.chmod(0o600)
    settings.update(vapid_private_key=key, vapid_subject=settings.get("vapid_subject") or "mailto:demo@burgerhub.invalid")
    return replace(config, channels={**config.channels, "app": settings})


def participant_page_help(base_url: str, echo: Callable[[str], None], *,
                          command: str = "burgerhub --config examples/demo.toml", minutes: float | None = 5) -> None:
    """How a newcomer tries the participant page and the app on the demo. ``command``: how to call the
    command line on the demo's configuration; ``minutes``: how long a newcomer's demo action runs
    (``None``: the demo welcomes no newcomers)."""
    echo(f"\nPARTICIPANT PAGE: {base_url}/participant/")
    echo("  1. Sign up there with any e-mail address. Nothing leaves this machine: the link is in the sandbox outbox:")
    echo(f"       {command} outbox --personal --channel email --limit 1")
    echo("  2. Open the link and add an address (type a place, e.g. Utrecht); a mobile number's code is in the outbox too:")
    echo(f"       {command} outbox --personal --channel sms --limit 1")
    if minutes is None:
        echo("  3. Turn notifications on.")
    else:
        echo("  3. Turn notifications on. Once you have an address, a DEMO missing-person action starts around it and")
        echo(f"     ends as 'found' {minutes:g} minutes later; the page shows both (in a browser without a push service")
        echo("     while the page is open).")
    echo(f"  Start more actions near you in the console ({base_url}/console/).")


def _counts_line(counts: dict[str, Any], kind: str) -> str:
    parts = []
    for channel, kinds in sorted(counts.items()):
        k = kinds.get(kind)
        if k:
            done = k.get("sent", 0) + k.get("delivered", 0)
            parts.append(f"{channel} {done}/{k['targeted']}" + (f" ({k['failed']} failed)" if k.get("failed") else ""))
    return ", ".join(parts) or "nothing queued"


async def _follow(hub, action_id: str, kind: str, echo: Callable[[str], None]) -> None:
    for _ in range(200):
        counts = (await hub.actions.get(action_id))["counts"]
        echo(f"  {kind:<5} {_counts_line(counts, kind)}")
        busy = any(
            k.get("queued", 0) + k.get("sending", 0) for kinds in counts.values() for n, k in kinds.items() if n == kind
        )
        if not busy:
            return
        await asyncio.sleep(0.3)


async def run_demo(hub, echo: Callable[[str], None] = print, *, command: str = "burgerhub --config examples/demo.toml",
                   newcomer_minutes: float | None = 5) -> str:
    """Start a missing-person action near Utrecht Centraal, show the fan-out, a tip, and the end; then
    say how a newcomer tries the participant page (``command`` and ``newcomer_minutes``: see
    :func:`participant_page_help`)."""
    dispatcher = Actor("demo-meldkamer", "dispatcher")
    payload = {
        "type": "missing_person",
        "urgency": "time_critical",
        "region": "utrecht",
        "title": "Jongen van 5 vermist",
        "description": "Jongen van 5 jaar, rode jas, blauwe broek, blond krullend haar. Laatst gezien bij Utrecht Centraal.",
        "area": {"type": "circle", "lat": CENTRE[0], "lon": CENTRE[1], "transport": "on_foot"},
    }
    plan = await hub.actions.plan(payload, dispatcher)
    echo("\nDry run (what `burgerhub routes test` shows):")
    echo(f"  routes {', '.join(plan['route']['routes'])} -> channels {', '.join(plan['route']['channels'])}")
    for name, info in plan["audience"]["channels"].items():
        echo(f"  {name:<14} {info.get('targeted', 0):>5} recipients" + (f"  ({info['unavailable']})" if "unavailable" in info else ""))
    action = await hub.actions.start(payload, dispatcher)
    echo(f"\nStarted {action['id']} (radius {action['audience'].get('radius_m', 0):.0f} m, on foot). "
         f"Unless ended, it ends by itself without result at {action['expires_at']} (the console warns before). Fan-out:")
    await _follow(hub, action["id"], "start", echo)
    await hub.api_tips.submit(Tip(action_id=action["id"], text="Ik zie een jongetje met rode jas bij de fietsenstalling.", channel="api"))
    echo("\nA participant sent a tip: 'Ik zie een jongetje met rode jas bij de fietsenstalling.'")
    ended = await hub.actions.end(action["id"], {"result": "found", "text": "Hij is ongedeerd bij zijn ouders."}, dispatcher)
    echo(f"\nEnded as 'found': closing message queued for {ended['queued']['end']} alerted recipients:")
    await _follow(hub, action["id"], "end", echo)
    sample = await hub.store.outbox_list(action_id=action["id"], limit=200)
    echo("\nSANDBOX OUTBOX (no provider credentials configured, nothing left this machine). A few messages:")
    seen = set()
    for m in sample:
        if (m["channel"], m["kind"]) in seen:
            continue
        seen.add((m["channel"], m["kind"]))
        text = " ".join(m["text"].split())
        # closings are shown whole: they end with where to go next
        echo(f"  [{m['channel']}/{m['kind']}] to {m['address']}: {text if m['kind'] == 'end' else text[:150]}")
    echo(f"\nInspect more: burgerhub --config examples/demo.toml outbox --action {action['id']}")
    await _crisis(hub, dispatcher, echo)
    participant_page_help(hub.config.public_url.rstrip("/"), echo, command=command, minutes=newcomer_minutes)
    return action["id"]


async def _crisis(hub, dispatcher: Actor, echo: Callable[[str], None]) -> None:
    """A crisis: the dispatcher's safety advice comes first in every message, and nobody is asked to look out."""
    crisis = await hub.actions.start({
        "type": "crisis", "urgency": "time_critical", "region": "utrecht", "title": "Grote brand Lage Weide",
        "safety_advice": "Houd ramen en deuren gesloten en zet de ventilatie uit",
        "nl_alert": True,
        "description": "Grote brand op bedrijventerrein Lage Weide; veel rook trekt richting Zuilen en Overvecht.",
        "area": {"type": "circle", "lat": 52.1050, "lon": 5.0850, "radius_m": 3000},
    }, dispatcher)
    echo(f"\nA crisis ({crisis['id']}): the safety advice first, in every channel, also during quiet hours:")
    await _follow(hub, crisis["id"], "start", echo)
    await _show_one(hub, crisis["id"], "start", echo)
    await hub.actions.end(crisis["id"], {"result": "all_clear"}, dispatcher)
    echo("Ended as 'all_clear':")
    await _follow(hub, crisis["id"], "end", echo)
    await _show_one(hub, crisis["id"], "end", echo)


async def _show_one(hub, action_id: str, kind: str, echo: Callable[[str], None]) -> None:
    for m in await hub.store.outbox_list(action_id=action_id, channel="sms", limit=1000):
        if m["kind"] == kind and m["language"] == "nl":
            echo(f"  [sms/{kind}] to {m['address']}: {' '.join(m['text'].split())}")
            return
