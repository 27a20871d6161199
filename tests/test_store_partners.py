"""The partner tables on both backends: organisations, hashed tokens, actions per organisation, CAP
messages, public policies."""

from __future__ import annotations

import pytest

from hub.errors import Conflict
from hub.store import AuditEntry
from hub.testing import BACKENDS

AUDIT = AuditEntry("t", "dispatcher", "action.start", "a1")


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    return request.param


def action(id: str, organisation: str | None) -> dict:
    data = {"id": id, "status": "active", "urgency": "non_urgent", "version": 1}
    if organisation:
        data["organisation"] = organisation
    return data


async def test_organisations_and_their_tokens(store):
    await store.put_organisation("gem-a", {"id": "gem-a", "name": "A"})
    await store.put_organisation("gem-a", {"id": "gem-a", "name": "A2"})
    assert await store.get_organisation("gem-a") == {"id": "gem-a", "name": "A2"}
    assert await store.get_organisation("nope") is None
    record = await store.add_organisation_token("tok-1", "gem-a", "Jansen", "dispatcher", "h" * 64)
    assert record["revoked_at"] is None and record["name"] == "Jansen"
    assert (await store.organisation_token_by_hash("h" * 64))["id"] == "tok-1"
    revoked = await store.revoke_organisation_token("tok-1")
    first = revoked["revoked_at"]
    assert first is not None
    assert (await store.revoke_organisation_token("tok-1"))["revoked_at"] == first  # the first time stays
    assert await store.revoke_organisation_token("tok-x") is None
    assert [t["id"] for t in await store.list_organisation_tokens("gem-a")] == ["tok-1"]
    with pytest.raises(Exception):
        await store.add_organisation_token("tok-2", "no-such-org", "X", "dispatcher", "i" * 64)


async def test_actions_per_organisation_and_cap_messages(store):
    for i, org in enumerate(["gem-a", "gem-b", "gem-a", None]):
        await store.create_action(action(f"act-00000{i}", org), [], AUDIT)
    assert [a["id"] for a in await store.list_actions_of("gem-a")] == ["act-000002", "act-000000"]
    assert [a["id"] for a in await store.list_actions_of("gem-b", status="ended")] == []
    message = {"sender": "s@x", "identifier": "ID-1", "sent": "2026-01-01T00:00:00+00:00", "action_id": "act-000000",
               "version": 1, "msg_type": "Alert", "organisation": "gem-a"}
    await store.add_cap_message(message)
    with pytest.raises(Conflict):
        await store.add_cap_message(message)
    assert (await store.find_cap_message("s@x", "ID-1"))["action_id"] == "act-000000"
    assert [m["version"] for m in await store.cap_messages("act-000000")] == [1]


async def test_public_policies(store):
    assert await store.public_policies() == {}
    await store.put_public_policy("prevention", {"public": False})
    await store.put_public_policy("prevention", {"public": True, "keep_days": 3})
    assert await store.public_policies() == {"prevention": {"public": True, "keep_days": 3}}
