"""Server-sent events for one action, shared by ``/v1/actions/{id}/events`` and the console.

``?max_seconds=N`` ends a stream after N seconds. The stream sends ``action`` (the action with live counts) whenever it changes and ``tip`` for each
tip in full, oldest first, each with its id so a client can resume with ``?after=<tip id>``. It ends
when the client goes away or the app shuts down, so a closed tab or a stopping hub never keeps a
handler running.
"""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from .params import MAX_ID, query_int

HEARTBEAT_SECONDS = 15.0
POLL_SECONDS = 0.5

#: the stop events of the streams that are open, set at shutdown
STREAMS = web.AppKey("action_event_streams", set)


def install(app: web.Application) -> None:
    app[STREAMS] = set()
    app.on_shutdown.append(_end_streams)


async def _end_streams(app: web.Application) -> None:
    for stop in list(app[STREAMS]):
        stop.set()


def after_tip(request: web.Request) -> int:
    """The ``after`` query parameter: the newest tip id the client already holds."""
    return query_int(request, "after", 0, 0, MAX_ID)


async def stream_action(request: web.Request, hub, action_id: str, *, after: int = 0) -> web.StreamResponse:
    """Serve the event stream of ``action_id`` on ``request`` until the client or the app goes."""
    await hub.actions.get(action_id)  # 404 before the stream starts
    # ``?max_seconds=N`` ends the stream after N seconds (for clients that poll, and for tests)
    max_seconds = query_int(request, "max_seconds", 0, 0, 86400)
    deadline = time.monotonic() + max_seconds if max_seconds else float("inf")
    stop = asyncio.Event()
    tips = hub.subscribe_tips()
    streams = request.app[STREAMS]
    streams.add(stop)
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    last_tip = after
    try:
        await resp.prepare(request)
        await resp.write(b"retry: 3000\n\n")
        last_action, last_write, tips_due = None, time.monotonic(), True
        while (
            not stop.is_set() and request.transport is not None and not request.transport.is_closing()
            and time.monotonic() < deadline
        ):
            action = await hub.actions.get(action_id)
            snapshot = json.dumps(action, sort_keys=True)
            if snapshot != last_action:
                await resp.write(f"event: action\ndata: {snapshot}\n\n".encode())
                last_action, last_write = snapshot, time.monotonic()
            if tips_due:
                for tip in reversed(await hub.store.list_tips(action_id, after=last_tip)):
                    if tip["has_photo"]:
                        tip["photo_url"] = f"/v1/actions/{action_id}/tips/{tip['id']}/photo"
                    await resp.write(f"id: {tip['id']}\nevent: tip\ndata: {json.dumps(tip)}\n\n".encode())
                    last_tip, last_write = max(last_tip, int(tip["id"])), time.monotonic()
                tips_due = False
            if time.monotonic() - last_write > HEARTBEAT_SECONDS:
                await resp.write(b": keep-alive\n\n")
                last_write = time.monotonic()
            try:
                got, _ = await asyncio.wait_for(tips.get(), timeout=POLL_SECONDS)
                tips_due = got == action_id
            except asyncio.TimeoutError:
                pass
    except ConnectionError:
        pass
    finally:
        hub.unsubscribe_tips(tips)
        streams.discard(stop)
    return resp
