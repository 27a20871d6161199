"""The loopback provider's arrival counters (used by the benchmarks), and CM answers however spelled."""

from __future__ import annotations

import asyncio
import time
from typing import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from hub.models import ReceiptStatus
from hub.testing import make_context, make_deliveries, make_notice, started
from plugins.sms import SmsChannel
from plugins.sms.loopback import LoopbackSmsProvider


@pytest.fixture
async def provider() -> AsyncIterator[LoopbackSmsProvider]:
    async with LoopbackSmsProvider() as p:
        yield p


def cm(base_url: str, token: str) -> SmsChannel:
    settings = {"provider": "cm", "base_url": base_url, "product_token": token, "sender": "Burgernet"}
    return SmsChannel(make_context("sms", settings, channel_cls=SmsChannel, public_url="http://127.0.0.1:9"))


async def test_arrivals_count_accepted_messages_with_wall_clock_times(provider):
    provider.invalid.add("+31600000000")
    before = time.time()
    channel = cm(provider.base_url, provider.product_token)
    async with started(channel), aiohttp.ClientSession() as http:
        await channel.deliver(make_notice(), make_deliveries(["+31612340001", "+31612340002", "+31600000000"], channel="sms"))
        async with http.get(f"{provider.base_url}/_stats") as resp:
            stats = await resp.json()
        assert (stats["requests"], stats["messages"]) == (1, 2)  # the invalid number is not counted
        assert before <= stats["first"] <= stats["last"] <= time.time()

        async with http.post(f"{provider.base_url}/_stats/reset") as resp:
            assert (await resp.json())["messages"] == 0

        # a client may wait for a count instead of polling
        waiting = asyncio.ensure_future(http.get(f"{provider.base_url}/_stats", params={"messages": "3", "timeout": "5"}))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        for i in range(3):
            async with http.post(f"{provider.base_url}/notify/3161234000{i}", json={"version": "1.0", "title": "",
                                                                                   "message": "hallo", "type": "info"}) as resp:
                assert resp.status == 200
        resp = await asyncio.wait_for(waiting, 5)
        assert (await resp.json())["messages"] == 3
        resp.release()
        assert [n["path"] for n in provider.notifications] == [f"3161234000{i}" for i in range(3)]

        async with http.post(f"{provider.base_url}/notify/x", json={"title": "no message"}) as resp:
            assert resp.status == 400
        async with http.get(f"{provider.base_url}/_stats", params={"messages": "99", "timeout": "0.05"}) as resp:
            assert (await resp.json())["messages"] == 3  # gave up waiting, answered what it has


async def test_cm_results_are_matched_however_the_gateway_spells_the_number():
    """CM echoes ``0031…``; an answer in E.164 or without a prefix must still find its delivery."""
    spellings = {"0031612340001": "+31612340001", "0031612340002": "31612340002", "0031612340003": "0031612340003"}

    async def gateway(request: web.Request) -> web.Response:
        payload = await request.json()
        [msg] = payload["messages"]["msg"]
        results = [{"to": spellings[t["number"]], "status": "Accepted", "reference": msg["reference"], "parts": 1}
                   for t in msg["to"]]
        return web.json_response({"details": "Created 3 message(s)", "errorCode": 0, "messages": results})

    app = web.Application()
    app.router.add_post("/v1.0/message", gateway)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        channel = cm(f"http://127.0.0.1:{port}", "token")
        numbers = ["+31612340001", "+31612340002", "+31612340003"]
        async with started(channel):
            receipts = await channel.deliver(make_notice(), make_deliveries(numbers, channel="sms"))
    finally:
        await runner.cleanup()
    assert [r.status for r in receipts] == [ReceiptStatus.SENT] * 3
    assert sorted(r.provider_id.split(":", 1)[1] for r in receipts) == numbers
    assert all(r.detail == {"segments": 1} for r in receipts)
