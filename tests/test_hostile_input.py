"""Hostile input on every side: each answer is a 4xx in the JSON error shape naming the field, never a 5xx.

One test per kind of input that once made the hub answer 500, freeze, store non-JSON or trust a header.
"""

from __future__ import annotations

import re

import asyncio
import contextlib
import json
import logging

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from hub.api import create_app
from hub.api.openapi import OPERATIONS, as_op
from hub.cli import cli
from hub.testing import BACKENDS, tiny_image

from conftest import UTRECHT, start_payload

DISPATCH = {"Authorization": "Bearer dispatcher-token-0123456789"}
OPERATE = {"Authorization": "Bearer operator-token-01234567890"}
TOKENS = [
    {"name": "meldkamer", "role": "dispatcher", "token": "dispatcher-token-0123456789"},
    {"name": "beheer", "role": "operator", "token": "operator-token-01234567890"},
]
JSON = {"Content-Type": "application/json"}
#: every built-in channel, with Twilio credentials so that the signed callbacks are mounted as in production
CHANNELS = {
    "sms": {"provider": "twilio", "account_sid": "AC1", "auth_token": "tw-token", "sender": "+3197010000000"},
    "voice": {"account_sid": "AC1", "auth_token": "tw-token", "caller_id": "+3197010000000"},
}


@pytest.fixture
def api(make_hub):
    @contextlib.asynccontextmanager
    async def factory(**api_config):
        config = {"api": {"tokens": TOKENS, **api_config}, "channels": CHANNELS}
        async with make_hub(config=config, entry_points=True, engine=False) as hub:
            async with TestClient(TestServer(create_app(hub, manage_hub=False))) as client:
                yield client, hub

    return factory


async def error_of(resp: aiohttp.ClientResponse, status: int) -> dict:
    """The JSON error body of ``resp``, after checking its status and shape."""
    text = await resp.text()
    assert resp.status == status, text
    assert resp.headers["Content-Type"].startswith("application/json"), text
    body = json.loads(text)
    assert isinstance(body.get("error"), str) and isinstance(body.get("reason"), str), body
    assert resp.headers.get("X-Content-Type-Options") == "nosniff"
    return body


async def started_action(client) -> str:
    r = await client.post("/v1/actions", json=start_payload(), headers=DISPATCH)
    assert r.status == 201, await r.text()
    return (await r.json())["id"]


# -- bytes that are not what they claim -------------------------------------------------------


async def test_bodies_that_are_not_utf8_are_refused_naming_the_body(api):
    async with api() as (client, hub):
        action_id = await started_action(client)
        bad = b'{"email":"\xff"}'
        cases = [
            ("POST", "/v1/participants", {**JSON}),
            ("POST", f"/v1/actions/{action_id}/tips", {**JSON}),
            ("POST", "/v1/actions", {**JSON, **DISPATCH}),
            ("PATCH", f"/v1/actions/{action_id}", {**JSON, **DISPATCH}),
            ("POST", "/v1/routes/test", {**JSON, **DISPATCH}),
            ("PUT", "/v1/routes", {**OPERATE}),
            ("POST", "/v1/participants/import", {"Content-Type": "text/csv", **OPERATE}),
            ("POST", "/v1/channels/app/subscriptions", {**JSON}),
        ]
        for method, path, headers in cases:
            body = await error_of(await client.request(method, path, data=bad, headers=headers), 400)
            assert body["field"] == "(root)" and "UTF-8" in body["reason"], (path, body)


async def test_json_nested_100000_deep_is_refused(api):
    deep = b"[" * 100_000 + b"]" * 100_000
    deep_object = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    async with api() as (client, hub):
        for path, headers in (("/v1/participants", JSON), ("/v1/actions", {**JSON, **DISPATCH})):
            for body in (deep, deep_object):
                error = await error_of(await client.post(path, data=body, headers=headers), 400)
                assert "nested" in error["reason"], error
        # the app's subscriptions take 64 KiB at most: 100,000 deep is too large, 10,000 too deep
        await error_of(await client.post("/v1/channels/app/subscriptions", data=deep, headers=JSON), 413)
        error = await error_of(await client.post("/v1/channels/app/subscriptions", data=deep[:10_000] + deep[-10_000:],
                                                 headers=JSON), 400)
        assert "nested" in error["reason"], error


@pytest.mark.parametrize("path", ["/v1/channels/sms/status", "/v1/channels/sms/inbound",
                                  "/v1/channels/voice/status", "/v1/channels/voice/twiml/abc"])
async def test_webhooks_check_the_signature_before_parsing_a_multipart_without_boundary(api, path):
    async with api() as (client, hub):
        for headers in ({}, {"X-Twilio-Signature": "Zm9yZ2Vk"}, {"X-Twilio-Signature": "f\xf6rged"}):
            r = await client.post(path, data=b"--x\r\n", headers={"Content-Type": "multipart/form-data", **headers})
            await error_of(r, 403)


async def test_tips_as_multipart_without_boundary_are_refused_naming_the_header(api):
    async with api() as (client, hub):
        action_id = await started_action(client)
        for path in (f"/v1/actions/{action_id}/tips", "/v1/channels/app/tips"):
            r = await client.post(path, data=b"--x\r\n", headers={"Content-Type": "multipart/form-data"})
            assert (await error_of(r, 400))["field"] == "Content-Type"
            r = await client.post(path, data=b"garbage", headers={"Content-Type": "multipart/form-data; boundary=zz"})
            assert (await error_of(r, 400))["field"] == "(root)"


async def raw_request(client: TestClient, head: bytes) -> tuple[int, bytes]:
    """Send ``head`` (request line and headers, raw bytes) to the test server; the status and body."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(head + b"Connection: close\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1]


async def test_a_non_ascii_bearer_token_is_a_401_on_every_protected_route(api):
    # every request here is a write without a valid staff token: lift the per-client limit it would reach
    async with api(public_rate=10_000, public_burst=10_000) as (client, hub):
        protected = [(m, p) for (m, p), op in OPERATIONS.items() if as_op(op).roles and "anonymous" not in as_op(op).roles]
        assert len(protected) > 15
        for token in (b"t\xf6ken", "t\u00f6ken".encode(), b"\xff\xfe", b"tok\x00en"):
            for method, path in protected:
                target = re.sub(r"\{(\w+)\}", lambda m: "act-x" if m.group(1) == "id" else "1", path).encode()
                head = (method.encode() + b" " + target + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token
                        + b"\r\nContent-Length: 0\r\n")
                status, body = await raw_request(client, head)
                assert status in (400, 401), (method, path, token, status, body)
                if status == 401:
                    assert json.loads(body)["error"] == "unauthorized"


@pytest.mark.parametrize("hub_backend", BACKENDS)
async def test_integers_beyond_64_bits_in_paths_and_queries(api):
    async with api() as (client, hub):
        action_id = await started_action(client)
        for tip in ("99999999999999999999", "-1", "0", "1e3", "٣"):
            r = await client.get(f"/v1/actions/{action_id}/tips/{tip}/photo", headers=DISPATCH)
            assert r.status in (404, 422), await r.text()
            await error_of(r, r.status)
        for after in ("99999999999999999999", "-5", "x"):
            r = await client.get(f"/v1/actions/{action_id}/events?after={after}", headers=DISPATCH)
            assert (await error_of(r, 422))["field"] == "after"
        r = await client.get(f"/v1/actions/{action_id}/events?after=9223372036854775807&max_seconds=1", headers=DISPATCH)
        assert r.status == 200 and r.headers["X-Content-Type-Options"] == "nosniff"
        assert b"event: action" in await r.read()


@pytest.mark.parametrize("hub_backend", BACKENDS)
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_latitudes_that_are_not_finite_numbers_are_refused_and_never_stored(api, value):
    async with api() as (client, hub):
        body = json.dumps(start_payload()).replace(str(UTRECHT[0]), value).encode()
        assert value.encode() in body
        for path in ("/v1/actions", "/v1/actions?dry_run=true", "/v1/routes/test"):
            r = await client.post(path, data=body, headers={**JSON, **DISPATCH})
            assert r.status in (400, 422), await r.text()
            await error_of(r, r.status)
        r = await client.get("/v1/actions", headers=DISPATCH)
        listed = json.loads(await r.text(), parse_constant=lambda name: pytest.fail(f"{name} served"))
        assert listed["actions"] == []


async def test_polygons_that_cross_themselves_are_refused(api):
    bow_tie = {"type": "polygon", "points": [[52.0, 5.0], [52.1, 5.1], [52.0, 5.1], [52.1, 5.0]]}
    line = {"type": "polygon", "points": [[52.0, 5.0], [52.0, 5.1], [52.0, 5.2]]}
    square = {"type": "polygon", "points": [[52.0, 5.0], [52.0, 5.1], [52.1, 5.1], [52.1, 5.0], [52.0, 5.0]]}
    async with api() as (client, hub):
        for area, reason in ((bow_tie, "crosses itself"), (line, "no area")):
            r = await client.post("/v1/actions", json=start_payload(area=area), headers=DISPATCH)
            error = await error_of(r, 422)
            assert error["field"] == "area.points" and reason in error["reason"]
        r = await client.post("/v1/actions", json=start_payload(area=square), headers=DISPATCH)
        assert r.status == 201, await r.text()


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\u200f", "\x1b", "\x00", "\x85"])
async def test_bidi_and_control_characters_in_texts_for_citizens_are_refused(api, char):
    async with api() as (client, hub):
        r = await client.post("/v1/actions", json=start_payload(description=f"Man met rode jas {char}lebon"),
                              headers=DISPATCH)
        assert (await error_of(r, 422))["field"] == "description"
        action_id = await started_action(client)
        r = await client.patch(f"/v1/actions/{action_id}", json={"title": f"x{char}"}, headers=DISPATCH)
        assert (await error_of(r, 422))["field"] == "title"
        r = await client.post(f"/v1/actions/{action_id}/end", json={"result": "found", "text": f"a{char}b"}, headers=DISPATCH)
        assert (await error_of(r, 422))["field"] == "text"
        # what citizens send in keeps its words and loses the control
        r = await client.post(f"/v1/actions/{action_id}/tips", json={"text": f"Gezien bij{char} de Dom\n14:05"})
        assert r.status == 201, await r.text()
        [tip] = (await (await client.get(f"/v1/actions/{action_id}/tips", headers=DISPATCH)).json())["tips"]
        assert tip["text"] == "Gezien bij de Dom\n14:05"


# -- rules ------------------------------------------------------------------------------------

ALIAS_BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]" for i in range(8)]
    + ["channels: [sms]"]
)


async def test_a_yaml_alias_bomb_is_refused_while_the_hub_keeps_answering(api):
    async with api() as (client, hub):
        before = hub.rules.text
        put = asyncio.ensure_future(client.put("/v1/routes", data=ALIAS_BOMB, headers=OPERATE))
        health = await client.get("/v1/health")
        assert health.status == 200
        error = await error_of(await put, 422)
        assert "alias" in error["reason"]
        assert hub.rules.text == before
        for bad, word in (("a: &a [*a]\nchannels: [sms]", "alias"), ("x: " + "[" * 40 + "]" * 40, "deep")):
            error = await error_of(await client.put("/v1/routes", data=bad, headers=OPERATE), 422)
            assert word in error["reason"], error
        await error_of(await client.put("/v1/routes", data="# " + "x" * 300_000, headers=OPERATE), 413)


async def test_rules_that_send_actions_nowhere_need_an_explicit_confirmation(api):
    async with api() as (client, hub):
        before = hub.rules.text
        for text in ("{}", "channels: []\nroutes:\n  - name: sms-only\n    match: {urgency: time_critical}\n    channels: [sms]\n"):
            error = await error_of(await client.put("/v1/routes", data=text, headers=OPERATE), 422)
            assert error["field"] == "channels" and "no channel at all" in error["reason"]
            assert "allow_gaps" in error["reason"]
        assert hub.rules.text == before
        r = await client.put("/v1/routes?allow_gaps=true", data="{}", headers=OPERATE)
        assert r.status == 200, await r.text()
        assert hub.rules.text == "{}"
        r = await client.put("/v1/routes", data="channels: [pigeon]\n", headers=OPERATE)
        assert "unknown channel 'pigeon'" in (await error_of(r, 422))["reason"]


def test_routes_check_applies_the_apis_validation_and_names_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("BURGERHUB_CONFIG", raising=False)
    config = tmp_path / "burgerhub.toml"
    config.write_text(f'[hub]\ndata_dir = "{tmp_path / "var"}"\n')

    def check(text: str, *extra: str):
        path = tmp_path / "rules.yaml"
        path.write_text(text)
        return path, CliRunner().invoke(cli, ["--config", str(config), "routes", "check", str(path), *extra])

    path, result = check("channels: [sms, pigeon]\n")
    assert result.exit_code == 2 and f"{path}: channels[1]: unknown channel 'pigeon'" in result.stderr
    path, result = check("{}\n")
    assert result.exit_code == 2 and str(path) in result.stderr and "no channel at all" in result.stderr
    path, result = check("{}\n", "--allow-gaps")
    assert result.exit_code == 0, result.stderr
    path, result = check(ALIAS_BOMB)
    assert result.exit_code == 2 and str(path) in result.stderr and "alias" in result.stderr
    path, result = check("channels: [sms\n")
    assert result.exit_code == 2 and result.stderr.startswith(str(path))
    path, result = check("channels: [sms, voice, app, twitter, email]\n")
    assert result.exit_code == 0 and "OK" in result.output


# -- photos -----------------------------------------------------------------------------------


async def test_one_photo_check_for_uploads_and_tips(api):
    shell = b"#!/bin/sh\nrm -rf /\n"
    html = b"<html><script>alert(1)</script></html>"
    async with api() as (client, hub):
        upload = {**DISPATCH}
        for body, ctype, status in ((html, "image/jpeg", 415), (shell, "image/png", 415),
                                    (tiny_image("image/jpeg"), "image/png", 415),
                                    (tiny_image("image/png", 50_000, 50_000), "image/png", 413),
                                    (b"", "image/png", 422), (tiny_image("image/gif"), "image/gif", 415)):
            r = await client.post("/v1/photos", data=body, headers={**upload, "Content-Type": ctype})
            await error_of(r, status)
        r = await client.post("/v1/photos", data=tiny_image("image/png"), headers={**upload, "Content-Type": "image/png"})
        assert r.status == 201
        served = await client.get((await r.json())["url"])
        assert served.headers["Content-Type"] == "image/png" and served.headers["X-Content-Type-Options"] == "nosniff"

        action_id = await started_action(client)
        for path, fields in ((f"/v1/actions/{action_id}/tips", {}), ("/v1/channels/app/tips", {"action_id": action_id})):
            form = aiohttp.FormData()
            for k, v in {**fields, "text": "foto"}.items():
                form.add_field(k, v)
            form.add_field("photo", shell, filename="x.png", content_type="image/png")
            assert (await error_of(await client.post(path, data=form), 415))["field"] == "photo"
        form = aiohttp.FormData()
        form.add_field("text", "foto")
        form.add_field("photo", tiny_image("image/webp"), filename="x.webp", content_type="image/webp")
        r = await client.post(f"/v1/actions/{action_id}/tips", data=form)
        assert r.status == 201, await r.text()
        [tip] = (await (await client.get(f"/v1/actions/{action_id}/tips", headers=DISPATCH)).json())["tips"]
        assert tip["photo_type"] == "image/webp"


# -- limits, shapes, roles --------------------------------------------------------------------


async def test_list_limits_are_bounded(api):
    async with api() as (client, hub):
        for path in ("/v1/sandbox/outbox", "/v1/actions"):
            for limit in ("-1", "0", "1001", "99999999999999999999", "ten"):
                r = await client.get(f"{path}?limit={limit}", headers=DISPATCH)
                assert (await error_of(r, 422))["field"] == "limit"


async def test_404_405_and_413_come_in_the_json_error_shape(api):
    async with api() as (client, hub):
        assert (await error_of(await client.get("/v1/nothing-here"), 404))["error"] == "not_found"
        r = await client.delete("/v1/actions", headers=DISPATCH)
        assert (await error_of(r, 405))["error"] == "method_not_allowed" and "GET" in r.headers["Allow"]
        r = await client.post("/v1/participants", data=b" " * (2 * 1024 * 1024), headers=JSON)
        assert (await error_of(r, 413))["error"] == "too_large"
        r = await client.post("/v1/photos", data=b"x" * (hub.config.max_photo_bytes + 2 * 1024 * 1024),
                              headers={**DISPATCH, "Content-Type": "image/png"})
        await error_of(r, 413)
        r = await client.post("/v1/actions", data=b"{}", headers={**DISPATCH, "Content-Type": "text/plain"})
        await error_of(r, 415)


async def test_an_operator_posting_a_tip_is_forbidden(api):
    async with api() as (client, hub):
        action_id = await started_action(client)
        r = await client.post(f"/v1/actions/{action_id}/tips", json={"text": "gezien"}, headers=OPERATE)
        assert (await error_of(r, 403))["error"] == "forbidden"


async def test_unauthenticated_writes_are_rate_limited_per_client(api):
    async with api(public_rate=0.5, public_burst=3) as (client, hub):
        action_id = await started_action(client)
        answers = [await client.post(f"/v1/actions/{action_id}/tips", json={"text": f"tip {i}"}) for i in range(4)]
        assert [r.status for r in answers] == [201, 201, 201, 429]
        error = await error_of(answers[-1], 429)
        assert error["error"] == "too_many_requests" and int(answers[-1].headers["Retry-After"]) in (1, 2)
        for path in ("/v1/participants", "/v1/channels/app/subscriptions", "/v1/channels/app/tips"):
            await error_of(await client.post(path, json={}), 429)
        # a forged token does not buy more
        forged = {"Authorization": "Bearer dispatcher-token-guessed"}
        await error_of(await client.post(f"/v1/actions/{action_id}/tips", json={"text": "x"}, headers=forged), 429)
        # staff are not limited, nor are reads, nor provider callbacks (their signature is checked instead)
        for _ in range(5):
            assert (await client.post(f"/v1/actions/{action_id}/tips", json={"text": "x"}, headers=DISPATCH)).status == 201
            assert (await client.get("/v1/health")).status == 200
            await error_of(await client.post("/v1/channels/sms/status", data=b"MessageSid=SM1"), 403)
            unsubscribe = await client.post("/v1/channels/email/unsubscribe/forged", data=b"List-Unsubscribe=One-Click")
            assert unsubscribe.status == 403 and unsubscribe.content_type == "text/html"
        # another client (behind a trusted proxy: the address it forwards) has its own bucket
        other = {"X-Forwarded-For": "198.51.100.7"}
        await error_of(await client.post(f"/v1/actions/{action_id}/tips", json={"text": "x"}, headers=other), 429)


async def test_forwarded_addresses_count_only_behind_a_trusted_proxy(api):
    async with api(public_rate=0.5, public_burst=1, trusted_proxies=["127.0.0.1"]) as (client, hub):
        action_id = await started_action(client)
        for address in ("198.51.100.7", "198.51.100.8"):
            headers = {"X-Forwarded-For": f"203.0.113.1, {address}"}
            assert (await client.post(f"/v1/actions/{action_id}/tips", json={"text": "x"}, headers=headers)).status == 201
        headers = {"X-Forwarded-For": "198.51.100.7"}
        await error_of(await client.post(f"/v1/actions/{action_id}/tips", json={"text": "x"}, headers=headers), 429)


async def test_the_openapi_document_lists_what_channel_routes_answer(api):
    async with api() as (client, hub):
        doc = await (await client.get("/v1/openapi.json")).json()
    paths = doc["paths"]
    for path in ("/v1/channels/sms/status", "/v1/channels/sms/inbound", "/v1/channels/voice/status",
                 "/v1/channels/messenger/webhook"):
        responses = paths[path]["post"]["responses"]
        assert {"400", "403", "413"} <= set(responses), (path, sorted(responses))
        assert "429" not in responses  # signed: not rate-limited
    tips = paths["/v1/channels/app/tips"]["post"]["responses"]
    assert {"400", "404", "413", "415", "429"} <= set(tips)
    assert tips["429"]["headers"]["Retry-After"]["required"] is True
    assert tips["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    html = paths["/v1/channels/email/reply/{token}"]["post"]["responses"]["410"]["content"]
    assert list(html) == ["text/html"]


async def test_requests_that_are_not_http_are_logged_without_their_text(api, caplog):
    """aiohttp quotes an unparseable request line in its log: the hub keeps only its kind."""
    secrets = (b"+31612345678", b"piet@example.org")
    heads = [
        b"GET /v1/participants?email=piet@example.org HTTP/1.1\r\nHost: x\r\nBad Header +31612345678\r\n",
        b"GET /v1/participants?phone=+31612345678 HTTP/9.9\r\n",
        b"GET /v1/x HTTP/1.1\r\nX: " + b"a" * 9000 + b"piet@example.org\r\n",
    ]
    async with api() as (client, hub):
        with caplog.at_level(logging.DEBUG, logger="aiohttp.server"):
            for head in heads:
                status, _ = await raw_request(client, head)
                assert status == 400
    refused = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert len(refused) == len(heads)
    for record in refused:
        assert record.levelno == logging.WARNING and record.exc_info is None
        assert "not valid HTTP with 400" in record.getMessage()
    assert not any(s.decode() in caplog.text for s in secrets)
