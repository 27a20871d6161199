"""Schemathesis against the served ``/v1/openapi.json``: every operation, with each role's token and none.

Bars: no server error, no status code and no content type the document does not list for the
operation, no response body off its declared schema (and ``Retry-After`` on every 429). The event
stream is fuzzed too, each request bounded by ``max_seconds=1``.

``BURGERHUB_FUZZ_EXAMPLES`` sets the examples per operation and mode (default 6, about a minute for the
whole run with its four callers, the same examples every run; set it, e.g. to 50, for a deeper run that
draws new examples each time).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from typing import Any

import pytest
import requests

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import UTRECHT, person, start_payload  # noqa: E402

EXAMPLES = int(os.environ.get("BURGERHUB_FUZZ_EXAMPLES", "6"))
#: the default run is the same every time; a deeper run draws new examples each time
DERANDOMIZE = "BURGERHUB_FUZZ_EXAMPLES" not in os.environ
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
DISPATCHER, OPERATOR = "dispatcher-token-0123456789", "operator-token-01234567890"


class ServedHub:
    """A hub with every built-in channel, served over TCP on loopback from a thread of its own."""

    def __init__(self, data_dir) -> None:
        self.data_dir = data_dir
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stopped = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.error: BaseException | None = None

    def __enter__(self) -> "ServedHub":
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(120)
        if self.error:
            raise self.error
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.stopped.set)
        self.thread.join(60)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        from hub.config import config_from_dict
        from hub.hub import Hub
        from hub.testing import serving

        config = {
            "hub": {"data_dir": str(self.data_dir), "public_url": self.base_url},
            "api": {"tokens": [{"name": "meldkamer", "role": "dispatcher", "token": DISPATCHER},
                               {"name": "beheer", "role": "operator", "token": OPERATOR}],
                    "public_rate": 10_000, "public_burst": 10_000},
            "channels": {
                "sms": {"provider": "twilio", "account_sid": "AC1", "auth_token": "tw", "sender": "+3197010000000"},
                "voice": {"account_sid": "AC1", "auth_token": "tw", "caller_id": "+3197010000000"},
            },
            "engine": {"poll_interval": 0.2},
        }
        try:
            hub = Hub(config_from_dict(config), entry_points=True)
            await hub.start(engine=True)
        except BaseException as e:  # reported to the test
            self.error = e
            self.ready.set()
            return
        try:
            async with serving(hub, self.sock):
                self.ready.set()
                while not self.stopped.is_set():
                    await asyncio.sleep(0.1)
        finally:
            await hub.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with ServedHub(tmp_path_factory.mktemp("fuzz")) as hub:
        http = requests.Session()
        dispatch = {"Authorization": f"Bearer {DISPATCHER}"}
        r = http.post(f"{hub.base_url}/v1/participants", json={k: v for k, v in person("x", *UTRECHT).items() if k != "id"})
        assert r.status_code == 201, r.text
        participant = r.json()
        r = http.post(f"{hub.base_url}/v1/actions", json=start_payload(), headers=dispatch)
        assert r.status_code == 201, r.text
        hub.ids = {"id": [r.json()["id"], participant["participant"]["id"]]}
        hub.tokens = {"none": None, "dispatcher": DISPATCHER, "operator": OPERATOR, "participant": participant["token"]}
        hub.schema = schemathesis.openapi.from_dict(http.get(f"{hub.base_url}/v1/openapi.json").json())
        hub.schema.config.update(base_url=hub.base_url)
        yield hub


def operation_labels() -> list[str]:
    """The operations to fuzz, known without a hub: the core's table and the built-in channels' routes."""
    from hub.api.openapi import OPERATIONS

    channels = ["POST /v1/channels/sms/status", "POST /v1/channels/sms/inbound", "POST /v1/channels/voice/status",
                "GET /v1/channels/voice/twiml/{key}", "POST /v1/channels/voice/twiml/{key}", "POST /v1/channels/voice/menu",
                "GET /v1/channels/app/config", "POST /v1/channels/app/subscriptions",
                "DELETE /v1/channels/app/subscriptions", "POST /v1/channels/app/tips", "POST /v1/channels/app/received",
                "GET /v1/channels/app/current",
                "GET /v1/channels/email/reply/{token}", "POST /v1/channels/email/reply/{token}",
                "GET /v1/channels/email/unsubscribe/{token}", "POST /v1/channels/email/unsubscribe/{token}",
                "GET /v1/channels/messenger/webhook", "POST /v1/channels/messenger/webhook"]
    return sorted(f"{m} {p}" for m, p in OPERATIONS) + channels


def test_every_served_operation_is_fuzzed(served):
    served_ops = {f"{op.ok().method.upper()} {op.ok().path}" for op in served.schema.get_all_operations()}
    assert served_ops == set(operation_labels())


@pytest.mark.parametrize("label", operation_labels())
def test_fuzz(served, label):
    method, path = label.split(" ", 1)
    operation = served.schema[path][method]
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))
    session = requests.Session()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=DERANDOMIZE,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy, known=st.integers(0, 3))
    def run(case: Any, known: int) -> None:
        if "id" in (case.path_parameters or {}) and known < len(served.ids["id"]):
            case.path_parameters["id"] = served.ids["id"][known]  # now and then an id that exists
        if path.endswith("/events"):
            case.query = {**(case.query or {}), "max_seconds": 1}
        for role, token in served.tokens.items():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            if token is None and case.headers:
                case.headers.pop("Authorization", None)
            case.call_and_validate(session=session, headers=headers, checks=CHECKS, timeout=15)

    run()
