"""Fan-out of one time-critical action to 100,000 SMS recipients, through the whole hub.

A real hub (SQLite store and ledger in a scratch folder under ``ctx.work``, audience index, delivery
engine, HTTP API) with the SMS channel on its CM bulk adapter, pointed at the loopback provider in
its own process. 100,000 participants with SMS live in the action's area (built once and cached).

Each round a dispatcher starts a fresh action with ``POST /v1/actions`` and the scenario measures,
from the moment the answer was read, when the first and the last of the 100,000 messages reached
the provider (the provider records wall-clock arrival times). Then the action is ended with
``POST /v1/actions/{id}/end`` and the closing message to the same 100,000 is measured the same way.
The ledger must show every start and every closing row sent.
"""

from __future__ import annotations

import asyncio
import shutil
import time

from bench.common import BenchContext, Figure, Scenario
from bench.scenarios._delivery import (
    ACTION_RADIUS_M,
    CM_TOKEN,
    SPREAD_M,
    Dispatcher,
    ProviderProcess,
    action_payload,
    build_participants,
    fresh_store,
    served_hub,
)

NAME = "fanout"
TITLE = "Fan-out of one time-critical action to 100,000 SMS (CM bulk adapter, via the API)"

FIRST_TARGET_MS = 100.0
LAST_TARGET_S = 5.0
#: the SMS bulk adapter's bar: recipients handed to the provider per second
BULK_TARGET = 20_000.0
#: messages per second the SMS channel may send (`[channels.sms] rate`)
RATE = 100_000


async def run(ctx: BenchContext) -> Scenario:
    recipients = 5_000 if ctx.quick else 100_000
    rounds = 1 if ctx.quick else max(1, ctx.rounds)
    work = ctx.work / "fanout"
    cache = await build_participants(
        work / f"participants-{recipients}-{ctx.seed}.sqlite3", recipients, ctx.seed, ctx.progress
    )
    fresh_store(cache, work / "hub")
    # the CM adapter defaults to 1,000 messages/s (a contract figure); the benchmark measures the hub,
    # so the rate is set where the provider, not the limiter, is the bound
    sms = {"provider": "cm", "base_url": "", "product_token": CM_TOKEN, "sender": "Burgernet", "rate": RATE}

    api_start, api_end, start_first, start_last, end_first, end_last, ledger = [], [], [], [], [], [], []
    async with ProviderProcess() as provider:
        sms["base_url"] = provider.url
        ctx.progress.step(f"fanout: starting the hub on {recipients:,} participants")
        t0 = time.perf_counter()
        async with served_hub(work / "hub", sms) as (hub, url):
            hub_start_s = time.perf_counter() - t0
            runtime = hub.runtimes["sms"]
            client = Dispatcher(url)
            try:
                for n in range(rounds):
                    await provider.reset()
                    action, sent, answered = await client.call("POST", "/v1/actions", action_payload(n))
                    targeted = action["audience"]["channels"]["sms"]["targeted"]
                    if targeted != recipients:
                        raise RuntimeError(f"the action targets {targeted:,} of {recipients:,} participants")
                    arrived = await provider.arrivals(recipients, timeout=120)
                    api_start.append((answered - sent) * 1000)
                    start_first.append((arrived.first - answered) * 1000)
                    start_last.append(arrived.last - answered)
                    counts_start = await client.wait_sent(action["id"], "start", recipients)

                    await provider.reset()
                    ended, sent, answered = await client.call(
                        "POST", f"/v1/actions/{action['id']}/end", {"result": "found", "text": "Hij is gevonden."}
                    )
                    arrived = await provider.arrivals(recipients, timeout=120)
                    api_end.append((answered - sent) * 1000)
                    end_first.append((arrived.first - answered) * 1000)
                    end_last.append(arrived.last - answered)
                    counts_end = await client.wait_sent(action["id"], "end", recipients)
                    ledger.append(float(counts_start.get("sent", 0) + counts_end.get("sent", 0)))
                    ctx.progress.step(
                        f"fanout round {n + 1}/{rounds}: start first {start_first[-1]:.0f} ms, last"
                        f" {start_last[-1]:.2f} s; end first {end_first[-1]:.0f} ms, last {end_last[-1]:.2f} s;"
                        f" ledger {ledger[-1]:,.0f}/{2 * recipients:,} sent"
                    )
            finally:
                await client.close()
            setup = {
                "recipients": recipients,
                "rounds": rounds,
                "channel": "sms, provider cm (bulk JSON gateway), loopback provider in its own process",
                "batch_size": runtime.batch_size,
                "concurrency": runtime.concurrency,
                "rate_per_s": runtime.limiter.rate if runtime.limiter else None,
                "engine": {
                    "claim_size": hub.config.engine.claim_size,
                    "poll_interval_s": hub.config.engine.poll_interval,
                },
                "area": f"participants within {SPREAD_M:.0f} m of Utrecht Centraal, action radius {ACTION_RADIUS_M:.0f} m",
                "languages": "about 90 % nl, 10 % en (two texts per request)",
                "hub_start_s": round(hub_start_s, 2),
                "measured_from": "the API answer read by the client (wall clock) to the provider's arrival"
                " time of the first and the last message (wall clock, read after the request body)",
            }

    shutil.rmtree(work / "hub", ignore_errors=True)  # the ledger of this run; participants stay cached
    return Scenario(
        NAME,
        TITLE,
        figures=[
            Figure("start_first_message", "ms", start_first, FIRST_TARGET_MS, "lower",
                   "API answer -> first start message at the provider"),
            Figure("start_last_message", "s", start_last, LAST_TARGET_S, "lower",
                   f"API answer -> last of {recipients:,} start messages at the provider"),
            Figure("end_first_message", "ms", end_first, FIRST_TARGET_MS, "lower",
                   "API answer -> first closing message at the provider"),
            Figure("end_last_message", "s", end_last, LAST_TARGET_S, "lower",
                   f"API answer -> last of {recipients:,} closing messages at the provider"),
            Figure("start_recipients_per_s", "recipients/s", [recipients / t for t in start_last], BULK_TARGET,
                   "higher", "start messages over the time from the API answer to the last one at the provider"),
            Figure("api_start", "ms", api_start, None, "lower",
                   "POST /v1/actions round trip: route, audience, ledger rows in one transaction"),
            Figure("api_end", "ms", api_end, None, "lower",
                   "POST /v1/actions/{id}/end round trip: cancel and queue the closing rows"),
            Figure("ledger_sent", "rows", ledger, float(2 * recipients), "higher",
                   "start + closing rows marked sent in the ledger per round"),
        ],
        setup=setup,
    )


if __name__ == "__main__":
    import argparse

    from bench.common import machine

    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=BenchContext.rounds)
    args = parser.parse_args()
    result = asyncio.run(run(BenchContext(quick=args.quick, rounds=args.rounds)))
    import json

    print(json.dumps({"machine": machine(), NAME: result.to_dict()}, indent=2))
