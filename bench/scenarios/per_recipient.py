"""Per-recipient SMS fan-out: the hub next to a raw aiohttp client and Apprise, on one provider.

The loopback provider (Twilio's Messages API plus a generic JSON notification route) runs in its own
process on 127.0.0.1. Against that one server, in the same run and taking turns round by round:

1. **hub**: a real hub (store, ledger, engine, HTTP API) whose SMS channel uses the Twilio adapter;
   a dispatcher starts an action reaching 20,000 participants with ``POST /v1/actions`` and the
   engine sends one request per recipient. Its rate limit is set far above what is reached
   (``[channels.sms] rate``), so the limiter is not the bound; concurrency is the adapter's 64.
2. **raw**: a plain aiohttp client posting the same 20,000 Twilio form requests, 64 at a time.
3. **apprise**: Apprise delivering the same 20,000 notifications to ``json://`` URLs on the same
   server, through its own ``async_notify`` (one Apprise object holding the 20,000 URLs; Apprise runs
   its synchronous ``requests`` calls on its shared thread pool).

A rate is messages over the time from the start (for the hub: the API's answer) to the provider's
wall-clock arrival time of the last message. Ratios are taken per round, between runs that are
neighbours in time. Hub and raw take turns going first; Apprise, at about 300 messages/s on two
cores more than a minute for 20,000, runs once, in the first round, between the hub and raw runs.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bench.common import BenchContext, Figure, Scenario
from bench.scenarios._delivery import (
    SENDER,
    TWILIO_SID,
    TWILIO_TOKEN,
    Dispatcher,
    ProviderProcess,
    action_payload,
    build_participants,
    fresh_store,
    served_hub,
)

NAME = "per_recipient"
TITLE = "Per-recipient SMS (Twilio adapter): hub vs raw aiohttp vs Apprise, 20,000 messages"

CONCURRENCY = 64
#: far above what one process reaches on loopback, so the token bucket never waits
RATE = 1_000_000
RAW_RATIO_TARGET = 0.70
APPRISE_RATIO_TARGET = 8.0


async def run(ctx: BenchContext, *, with_apprise: bool = True) -> Scenario:
    messages = 1_000 if ctx.quick else 20_000
    rounds = 1 if ctx.quick else min(max(1, ctx.rounds), 3)
    plan = [("hub", "apprise", "raw")] + [("raw", "hub") if n % 2 else ("hub", "raw") for n in range(1, rounds)]
    if not with_apprise:
        plan = [tuple(who for who in order if who != "apprise") for order in plan]
    work = ctx.work / "per_recipient"
    cache = await build_participants(
        work / f"participants-{messages}-{ctx.seed}.sqlite3", messages, ctx.seed, ctx.progress
    )
    fresh_store(cache, work / "hub")
    numbers = [f"+316{10_000_000 + i:08d}" for i in range(messages)]

    rates: dict[str, list[float]] = {"hub": [], "raw": [], "apprise": []}
    raw_ratio, apprise_ratio = [], []
    async with ProviderProcess() as provider:
        sms = {
            "provider": "twilio",
            "base_url": provider.url,
            "account_sid": TWILIO_SID,
            "auth_token": TWILIO_TOKEN,
            "sender": SENDER,
            "rate": RATE,
        }
        ctx.progress.step(f"per_recipient: hub on {messages:,} participants, Apprise with {messages:,} URLs")
        async with served_hub(work / "hub", sms) as (hub, url):
            runtime = hub.runtimes["sms"]
            text = _text(hub)
            callback = runtime.channel.context.url("status")
            t0 = time.perf_counter()
            apprise_obj = await asyncio.to_thread(_apprise, provider.url, numbers) if with_apprise else None
            apprise_setup = time.perf_counter() - t0
            client = Dispatcher(url)
            runs = {
                "hub": lambda n: _hub(client, provider, messages, n),
                "raw": lambda n: _raw(provider, numbers, text, callback),
                "apprise": lambda n: _apprise_notify(apprise_obj, provider, messages, text),
            }
            try:
                for n, order in enumerate(plan):
                    for who in order:
                        rates[who].append(await runs[who](n))
                    raw_ratio.append(rates["hub"][-1] / rates["raw"][-1])
                    line = f"hub {rates['hub'][-1]:,.0f}/s, raw {rates['raw'][-1]:,.0f}/s"
                    if "apprise" in order:
                        apprise_ratio.append(rates["hub"][-1] / rates["apprise"][-1])
                        line += f", apprise {rates['apprise'][-1]:,.0f}/s"
                    ctx.progress.step(f"per_recipient round {n + 1}/{rounds}: {line}")
            finally:
                await client.close()
            setup: dict[str, Any] = {
                "messages": messages,
                "rounds": rounds,
                "order": [" > ".join(order) for order in plan],
                "provider": "loopback Twilio Messages API + JSON route, in its own process on 127.0.0.1",
                "hub": {
                    "channel": "sms, provider twilio (one request per recipient)",
                    "settings": {"concurrency": runtime.concurrency, "batch_size": runtime.batch_size,
                                 "rate": RATE, "status_callbacks": True},
                    "engine": {"claim_size": hub.config.engine.claim_size},
                    "started_by": "POST /v1/actions; timed from the answer (audience and ledger rows are written before it)",
                },
                "raw": f"aiohttp.ClientSession, {CONCURRENCY} connections, a semaphore of {CONCURRENCY}, the same form fields",
                "apprise": {
                    "version": _apprise_version(),
                    "how": "one Apprise object with one json:// URL per recipient, `await Apprise.async_notify(body=...)`"
                    " (Apprise runs the blocking requests on its shared ThreadPoolExecutor)",
                    "urls": f"json://127.0.0.1:<port>/notify/<number>",
                    "asset": "AppriseAsset(service_timeout=0): its 60 s per-service limit counts time queued for"
                    " the pool, which 20,000 notifications at once exceed",
                    "setup_s": round(apprise_setup, 2),
                    "setup_note": "parsing the URLs, done once and not counted in the rate",
                },
                "measured": "messages / (last arrival at the provider - start), wall clock across processes",
            }

    shutil.rmtree(work / "hub", ignore_errors=True)  # the ledger of this run; participants stay cached
    return Scenario(
        NAME,
        TITLE,
        figures=[
            Figure("hub_rate", "messages/s", rates["hub"], None, "higher", "through engine, ledger and Twilio adapter"),
            Figure("raw_rate", "messages/s", rates["raw"], None, "higher", "plain aiohttp client"),
            Figure("apprise_rate", "messages/s", rates["apprise"], None, "higher", "Apprise async_notify, json://"),
            Figure("hub_vs_raw", "ratio", raw_ratio, RAW_RATIO_TARGET, "higher", "hub rate / raw rate, per round"),
            Figure("hub_vs_apprise", "ratio", apprise_ratio, APPRISE_RATIO_TARGET, "higher",
                   "hub rate / Apprise rate, in the round Apprise ran"),
        ],
        setup=setup,
    )


def _text(hub) -> str:
    """The Dutch SMS the hub sends for this scenario's action (raw and Apprise send the same)."""
    from hub.actions import SYSTEM, to_view
    from hub.models import MessageKind, Notice

    view = to_view(hub.actions.prepare(action_payload(0), SYSTEM))
    return hub.runtimes["sms"].channel.message(Notice(action=view, kind=MessageKind.START), "nl").text


async def _hub(client: Dispatcher, provider: ProviderProcess, messages: int, n: int) -> float:
    await provider.reset()
    action, _, answered = await client.call("POST", "/v1/actions", action_payload(n))
    targeted = action["audience"]["channels"]["sms"]["targeted"]
    if targeted != messages:
        raise RuntimeError(f"the action targets {targeted:,} of {messages:,} participants")
    arrived = await provider.arrivals(messages, timeout=300)
    counts = await client.wait_sent(action["id"], "start", messages)
    if arrived.messages < messages or counts.get("sent", 0) != messages:
        raise RuntimeError(f"hub: {arrived.messages:,} arrived, ledger {counts}")
    return messages / (arrived.last - answered)


async def _raw(provider: ProviderProcess, numbers: list[str], text: str, callback: str) -> float:
    """A straightforward aiohttp client: the same form requests, the same concurrency."""
    await provider.reset()
    url = f"{provider.url}/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    headers = {
        "Authorization": "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode(),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    connector = aiohttp.TCPConnector(limit=CONCURRENCY, limit_per_host=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        slots = asyncio.Semaphore(CONCURRENCY)

        async def post(to: str) -> None:
            try:
                form = urlencode({"To": to, "From": SENDER, "Body": text, "StatusCallback": callback})
                async with session.post(url, data=form) as resp:
                    body = await resp.json()
                    if resp.status != 201 or not body.get("sid"):
                        raise RuntimeError(f"raw post failed: {resp.status} {body}")
            finally:
                slots.release()

        started = time.time()
        tasks = []
        for to in numbers:
            await slots.acquire()
            tasks.append(asyncio.create_task(post(to)))
        await asyncio.gather(*tasks)
    arrived = await provider.arrivals(len(numbers), timeout=60)
    return len(numbers) / (arrived.last - started)


def _apprise(base_url: str, numbers: list[str]):
    import apprise

    host = base_url.removeprefix("http://")
    # Apprise counts the time a notification waits for its thread pool against a 60 s limit per
    # service; with 20,000 queued at once most would time out, so the limit is switched off
    obj = apprise.Apprise(asset=apprise.AppriseAsset(service_timeout=0))
    if not obj.add([f"json://{host}/notify/{number.lstrip('+')}" for number in numbers]):
        raise RuntimeError("Apprise refused the json:// URLs")
    return obj


def _apprise_version() -> str:
    import apprise

    return apprise.__version__


async def _apprise_notify(obj, provider: ProviderProcess, messages: int, text: str) -> float:
    await provider.reset()
    started = time.time()
    result = await obj.async_notify(body=text)
    if not result:
        raise RuntimeError("Apprise reported a failed notification")
    arrived = await provider.arrivals(messages, timeout=60)
    if arrived.messages < messages:
        raise RuntimeError(f"apprise: {arrived.messages:,} of {messages:,} arrived")
    return messages / (arrived.last - started)


if __name__ == "__main__":
    import argparse
    import json

    from bench.common import machine

    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=BenchContext.rounds)
    parser.add_argument("--without-apprise", action="store_true", help="hub and raw only (for profiling)")
    args = parser.parse_args()
    result = asyncio.run(run(BenchContext(quick=args.quick, rounds=args.rounds), with_apprise=not args.without_apprise))
    print(json.dumps({"machine": machine(), NAME: result.to_dict()}, indent=2))
