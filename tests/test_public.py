"""The public overview: page, one action, its CAP, the Atom feed; no personal data; the operator's
policy per action type decides what shows and for how long."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from lxml import etree

from hub.cap.xml import NS, validate_document
from hub.public import PublicPolicy, public_view
from hub.testing import BACKENDS

from partners_support import NATIONAL_DISPATCH, NATIONAL_OPERATE, UTRECHT_CENTRE, bearer, prevention

ATOM = "{http://www.w3.org/2005/Atom}"
MISSING = {
    "type": "missing_person",
    "urgency": "time_critical",
    "title": "Vermist: Sanne",
    "description": "Meisje van 8, blond haar, rode jas, roze rugzak.",
    "area": {"type": "circle", "lat": 52.09123, "lon": 5.12187, "radius_m": 1234},
    "photos": [{"url": "https://foto.example.org/sanne.jpg"}],
}


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    return request.param


def test_a_policy_hides_what_it_must_and_drops_ended_actions_after_its_days():
    now = datetime.now(timezone.utc)
    action = {"id": "act-1", "type": "missing_person", "urgency": "time_critical", "status": "active",
              "description": "Meisje, rode jas", "title": "Vermist", "area": MISSING["area"], "version": 1,
              "photos": [{"url": "https://x.example/p.jpg"}], "started_at": now.isoformat(), "callback_number": "0800 0011"}
    policy = PublicPolicy(description="while_active", photos="while_active", keep_days=2)
    view = public_view(action, policy, now)
    assert view["description"] == "Meisje, rode jas" and view["photos"] == ["https://x.example/p.jpg"]
    assert view["place"] == {"lat": 52.09, "lon": 5.12, "radius_m": 1200}  # never the exact centre
    ended = {**action, "status": "ended", "ended_at": now.isoformat(), "result": "found", "result_text": "Sanne is thuis"}
    view = public_view(ended, policy, now)
    assert view["description"] is None and view["title"] == "" and view["photos"] == [] and view["result"] == "found"
    assert view["result_text"] is None
    assert public_view(ended, policy, now + timedelta(days=3)) is None
    assert public_view(action, PublicPolicy(public=False), now) is None
    assert public_view(ended, PublicPolicy(description="always"), now)["description"] == "Meisje, rode jas"


async def test_a_missing_persons_description_and_photo_leave_the_page_when_the_action_ends(partners):
    async with partners() as (client, hub, tokens):
        action = await (await client.post("/v1/actions", json=MISSING, headers=NATIONAL_DISPATCH)).json()
        await hub.registry.register({"id": "p1", "language": "nl", "phones": [{"number": "+31612345678", "kind": "mobile"}],
                                     "channels": ["recording"], "addresses": [{"label": "home", "lat": 52.091, "lon": 5.122}]})
        await client.post("/v1/actions/{}/tips".format(action["id"]), json={"text": "Gezien bij het station, 06-98765432"})

        r = await client.get("/public/actions")
        assert r.status == 200 and r.content_type == "text/html"
        assert "script-src" not in r.headers["Content-Security-Policy"] and "default-src 'none'" in r.headers["Content-Security-Policy"]
        page = await r.text()
        assert "Meisje van 8" in page and "sanne.jpg" in page and "Vermissing" in page
        for secret in ("+31612345678", "06-98765432", "52.09123", "5.12187", "landelijk"):
            assert secret not in page
        r = await client.get(f"/public/actions/{action['id']}?lang=en")
        assert r.status == 200 and "Missing person" in await r.text()

        await client.post(f"/v1/actions/{action['id']}/end", json={"result": "found", "text": "Sanne is thuis."},
                          headers=NATIONAL_DISPATCH)
        page = await (await client.get(f"/public/actions/{action['id']}")).text()
        assert "Gevonden" in page
        listed = await (await client.get("/public/actions")).text()  # not a cached copy from before the end
        assert "Gevonden" in listed and "Meisje van 8" not in listed
        assert "Meisje van 8" not in page and "sanne.jpg" not in page and "Sanne" not in page
        cap = await (await client.get(f"/public/actions/{action['id']}/cap")).read()
        validate_document(cap)
        assert b"Meisje van 8" not in cap and b"Sanne" not in cap and b"52.09123" not in cap


async def test_the_operator_decides_per_type_what_is_public(partners):
    async with partners() as (client, _, tokens):
        await client.post("/v1/actions", json=prevention(*UTRECHT_CENTRE), headers=NATIONAL_DISPATCH)
        assert "ingebroken" in await (await client.get("/public/actions")).text()
        r = await client.put("/v1/public-policies/prevention", json={"public": False},
                             headers=bearer(tokens["gemeente-utrecht:operator"]))
        assert r.status == 403
        r = await client.put("/v1/public-policies/prevention", json={"public": "nee"}, headers=NATIONAL_OPERATE)
        assert r.status == 422 and (await r.json())["field"] == "public"
        r = await client.put("/v1/public-policies/prevention", json={"public": False}, headers=NATIONAL_OPERATE)
        assert r.status == 200 and (await r.json())["policy"]["keep_days"] == 30
        assert "ingebroken" not in await (await client.get("/public/actions")).text()
        policies = (await (await client.get("/v1/public-policies", headers=NATIONAL_OPERATE)).json())["policies"]
        assert policies["prevention"]["public"] is False and policies["crisis"]["public"] is True


async def test_the_feed_has_one_entry_per_cap_message_linking_valid_cap(partners):
    async with partners() as (client, _, tokens):
        gemeente = bearer(tokens["gemeente-utrecht"])
        action = await (await client.post("/v1/actions", json=prevention(*UTRECHT_CENTRE), headers=gemeente)).json()
        await client.patch(f"/v1/actions/{action['id']}", json={"description": "Let op: ook overdag inbraken."},
                           headers=gemeente)
        await client.post(f"/v1/actions/{action['id']}/end", json={"result": "ended_without_result"}, headers=gemeente)
        r = await client.get("/public/feed.atom")
        assert r.status == 200 and r.content_type == "application/atom+xml"
        feed = etree.fromstring(await r.read())
        entries = feed.findall(f"{ATOM}entry")
        assert len(entries) == 3
        ids = [e.findtext(f"{ATOM}id") for e in entries]
        assert len(set(ids)) == 3 and all(i.startswith("urn:cap:burgerhub@") for i in ids)
        assert entries[0].findtext(f"{ATOM}author/{ATOM}name") == "Gemeente Utrecht"
        kinds = []
        for entry in entries:
            link = entry.find(f"{ATOM}link[@type='application/cap+xml']").get("href")
            parts = urlsplit(link)
            doc = await (await client.get(f"{parts.path}?{parts.query}")).read()
            validate_document(doc)
            kinds.append(etree.fromstring(doc).findtext(f"{{{NS}}}msgType"))
        assert sorted(kinds) == ["Alert", "Cancel", "Update"]
