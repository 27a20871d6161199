"""SMS channel throughput on loopback: the hub's Twilio adapter against a raw aiohttp client.

A loopback provider (``plugins.sms.loopback``: Twilio's Messages API and CM's JSON gateway) runs in
its own process. In the same run, against that same server:

1. **hub**: 20,000 SMS through ``SmsChannel.deliver`` with the Twilio adapter, driven the way the
   engine drives a channel: one ``deliver`` task per batch of ``batch_size`` (1), a fresh ``Notice``
   per batch, at most ``concurrency`` (64) in flight;
2. **raw**: a plain aiohttp client posting the same 20,000 form requests with 64 in flight;
3. **bulk**: 20,000 recipients through the CM adapter in batches of 1,000.

Each round runs hub and raw back to back (alternating which goes first); the ratio is the median of
the rounds' hub/raw ratios, the rates are medians too. Targets: hub >= 70 % of raw messages/s,
bulk >= 20,000 recipients/s. Results go to ``bench/results/sms.json``.

    .venv/bin/python bench/bench_sms.py [--messages 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlencode

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hub.models import Delivery, MessageKind, Notice, Recipient  # noqa: E402
from hub.testing import make_action, make_context  # noqa: E402
from plugins.sms import SmsChannel  # noqa: E402
from plugins.sms.loopback import LoopbackSmsProvider  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "sms.json"
SENDER = "+3197010000000"


def start_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "plugins.sms.loopback", "--port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline().strip() if proc.stdout else ""
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"loopback provider did not start: {line!r}")
    return proc, line.removeprefix("listening on ")


def deliveries(n: int, *, start_id: int = 1) -> list[Delivery]:
    return [
        Delivery(
            id=start_id + i,
            action_id="act-01HZX0BENCH0001",
            channel="sms",
            kind=MessageKind.START,
            recipient=Recipient(address=f"+316{10000000 + i:08d}", participant_id=f"p{i}", language="nl"),
        )
        for i in range(n)
    ]


async def drive(channel: SmsChannel, view, rows: Sequence[Delivery], batch_size: int, concurrency: int) -> list:
    """Run ``deliver`` the way hub/engine.py does: a task per batch, ``concurrency`` slots."""
    slots = asyncio.Semaphore(concurrency)
    tasks: list[asyncio.Task] = []
    receipts: list = []

    async def one(batch: Sequence[Delivery]) -> None:
        notice = Notice(action=view, kind=MessageKind.START)  # the engine builds one per batch
        receipts.extend(await channel.deliver(notice, batch))

    for i in range(0, len(rows), batch_size):
        await slots.acquire()
        task = asyncio.create_task(one(rows[i : i + batch_size]))
        task.add_done_callback(lambda _t: slots.release())
        tasks.append(task)
    await asyncio.gather(*tasks)
    return receipts


async def run_hub(base_url: str, provider: LoopbackSmsProvider, view, n: int) -> float:
    settings = {
        "provider": "twilio",
        "base_url": base_url,
        "account_sid": provider.account_sid,
        "auth_token": provider.auth_token,
        "sender": SENDER,
    }
    channel = SmsChannel(make_context("sms", settings, channel_cls=SmsChannel, public_url="https://hub.example.org"))
    rows = deliveries(n)
    await channel.start()
    try:
        t0 = time.perf_counter()
        receipts = await drive(channel, view, rows, channel.batch_size, channel.concurrency)
        elapsed = time.perf_counter() - t0
    finally:
        await channel.close()
    sent = sum(1 for r in receipts if r.status.value == "sent" and r.provider_id)
    if sent != n:
        raise RuntimeError(f"hub run sent {sent} of {n}")
    return n / elapsed


async def run_raw(base_url: str, provider: LoopbackSmsProvider, text: str, n: int, concurrency: int) -> float:
    """A straightforward aiohttp client: the same form requests, the same concurrency."""
    url = f"{base_url}/2010-04-01/Accounts/{provider.account_sid}/Messages.json"
    auth = "Basic " + base64.b64encode(f"{provider.account_sid}:{provider.auth_token}".encode()).decode()
    numbers = [f"+316{10000000 + i:08d}" for i in range(n)]
    callback = "https://hub.example.org/v1/channels/sms/status"
    sids: list[str] = []
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers={"Authorization": auth}) as session:
        slots = asyncio.Semaphore(concurrency)

        async def post(to: str) -> None:
            try:
                form = {"To": to, "From": SENDER, "Body": text, "StatusCallback": callback}
                async with session.post(
                    url, data=urlencode(form), headers={"Content-Type": "application/x-www-form-urlencoded"}
                ) as resp:
                    body = await resp.json()
                    if resp.status != 201:
                        raise RuntimeError(f"raw post failed: {resp.status} {body}")
                    sids.append(body["sid"])
            finally:
                slots.release()

        t0 = time.perf_counter()
        tasks = []
        for to in numbers:
            await slots.acquire()
            tasks.append(asyncio.create_task(post(to)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
    if len(sids) != n:
        raise RuntimeError(f"raw run sent {len(sids)} of {n}")
    return n / elapsed


async def run_bulk(base_url: str, provider: LoopbackSmsProvider, view, n: int) -> float:
    settings = {"provider": "cm", "base_url": base_url, "product_token": provider.product_token, "sender": "Burgernet"}
    channel = SmsChannel(make_context("sms", settings, channel_cls=SmsChannel, public_url="https://hub.example.org"))
    rows = deliveries(n)
    await channel.start()
    try:
        t0 = time.perf_counter()
        receipts = await drive(channel, view, rows, channel.batch_size, channel.concurrency)
        elapsed = time.perf_counter() - t0
    finally:
        await channel.close()
    sent = sum(1 for r in receipts if r.status.value == "sent" and r.provider_id)
    if sent != n:
        raise RuntimeError(f"bulk run sent {sent} of {n}")
    return n / elapsed


async def main(args: argparse.Namespace) -> dict[str, Any]:
    load_start = [round(x, 2) for x in os.getloadavg()]
    proc, base_url = start_server()
    provider = LoopbackSmsProvider()  # only for its default credentials; the server runs in `proc`
    view = make_action(id="act-01HZX0BENCH0001")
    text = SmsChannel(make_context("sms", {}, sandbox=True, channel_cls=SmsChannel)).message(
        Notice(action=view, kind=MessageKind.START), "nl"
    ).text
    try:
        await run_raw(base_url, provider, text, 2000, 64)  # warm up server and client
        await run_hub(base_url, provider, view, 2000)
        hub_rates, raw_rates, bulk_rates = [], [], []
        for round_no in range(args.rounds):
            # alternate who goes first, so a drifting machine load does not favour either side
            if round_no % 2:
                hub_rates.append(await run_hub(base_url, provider, view, args.messages))
                raw_rates.append(await run_raw(base_url, provider, text, args.messages, 64))
            else:
                raw_rates.append(await run_raw(base_url, provider, text, args.messages, 64))
                hub_rates.append(await run_hub(base_url, provider, view, args.messages))
            bulk_rates.append(await run_bulk(base_url, provider, view, args.messages))
            print(
                f"round {round_no + 1}: raw {raw_rates[-1]:,.0f}/s  hub {hub_rates[-1]:,.0f}/s  "
                f"bulk {bulk_rates[-1]:,.0f} recipients/s",
                flush=True,
            )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    hub_rate, raw_rate, bulk_rate = (statistics.median(r) for r in (hub_rates, raw_rates, bulk_rates))
    # each round's hub and raw runs are neighbours in time: their ratio is the robust figure
    ratio = statistics.median(h / r for h, r in zip(hub_rates, raw_rates))
    return {
        "benchmark": "sms",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "python": platform.python_version(),
            "aiohttp": aiohttp.__version__,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "setup": "loopback provider in its own process; the hub, raw and bulk runs take turns in this one",
        "load_average": {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()]},
        "twilio": {
            "messages": args.messages,
            "batch_size": 1,
            "concurrency": 64,
            "hub_messages_per_s": round(hub_rate),
            "raw_aiohttp_messages_per_s": round(raw_rate),
            "ratio": round(ratio, 3),
            "ratio_is": "median over rounds of hub/raw measured back to back",
            "target_ratio": 0.7,
            "meets_target": ratio >= 0.7,
            "rounds": {"hub": [round(r) for r in hub_rates], "raw": [round(r) for r in raw_rates]},
        },
        "cm_bulk": {
            "recipients": args.messages,
            "batch_size": 1000,
            "concurrency": 4,
            "recipients_per_s": round(bulk_rate),
            "target_recipients_per_s": 20000,
            "meets_target": bulk_rate >= 20000,
            "rounds": [round(r) for r in bulk_rates],
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="SMS channel throughput on loopback")
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    result = asyncio.run(main(parser.parse_args()))
    t, b = result["twilio"], result["cm_bulk"]
    print(
        f"twilio adapter: hub {t['hub_messages_per_s']:,}/s, raw aiohttp {t['raw_aiohttp_messages_per_s']:,}/s, "
        f"ratio {t['ratio']:.2f} (target >= 0.70)"
    )
    print(f"cm bulk adapter: {b['recipients_per_s']:,} recipients/s (target >= 20,000)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
