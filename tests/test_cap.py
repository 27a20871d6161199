"""CAP 1.2 in and out: the OASIS examples, XML attacks, mapping errors naming the element, territory,
and the round trip CAP -> action -> CAP."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from hub.cap import inbound
from hub.cap.xml import NS, read_alert, validate_document
from hub.errors import BadMessage
from hub.testing import BACKENDS

from partners_support import NATIONAL_DISPATCH, NATIONAL_OPERATE, UTRECHT_CENTRE, ZEIST, bearer, prevention

OASIS = Path(__file__).parent / "data" / "cap" / "oasis"
FIRE_SENDER = "alerting@brandweer-utrecht.example"
CAP = {"Content-Type": "application/cap+xml"}


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    return request.param


def cap_time(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def alert(identifier: str, *, msg_type: str = "Alert", sender: str = FIRE_SENDER, references: str = "",
          status: str = "Actual", info: str | None = None, note: str = "", area: str | None = None) -> bytes:
    """A CAP 1.2 alert from the example fire brigade (a fire in Utrecht, unless told otherwise)."""
    if area is None:
        area = f"<circle>{UTRECHT_CENTRE[0]},{UTRECHT_CENTRE[1]} 1.5</circle>"
    if info is None:
        info = f"""
  <info>
    <language>nl-NL</language>
    <category>Fire</category>
    <event>Grote brand</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <headline>Grote brand bij Utrecht Centraal</headline>
    <description>Er is een grote brand met veel rook.</description>
    <instruction>Sluit ramen en deuren en zet ventilatie uit.</instruction>
    <area><areaDesc>Utrecht centrum</areaDesc>{area}</area>
  </info>
  <info>
    <language>en-GB</language>
    <category>Fire</category>
    <event>Large fire</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <headline>Large fire near Utrecht Centraal</headline>
    <description>There is a large fire with a lot of smoke. Close windows and doors.</description>
    <area><areaDesc>Utrecht centre</areaDesc>{area}</area>
  </info>"""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="{NS}">
  <identifier>{identifier}</identifier>
  <sender>{sender}</sender>
  <sent>{cap_time(datetime.now(timezone.utc))}</sent>
  <status>{status}</status>
  <msgType>{msg_type}</msgType>
  <scope>Public</scope>
  {f"<note>{note}</note>" if note else ""}
  {f"<references>{references}</references>" if references else ""}
  {info}
</alert>""".encode()


async def hub_action(client, action_id: str, headers: dict) -> dict:
    return await (await client.get(f"/v1/actions/{action_id}", headers=headers)).json()


def texts(doc: bytes, path: str) -> list[str]:
    return [e.text for e in etree.fromstring(doc).iterfind(path, {"c": NS})]


# -- the OASIS examples ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in OASIS.glob("*.xml")))
def test_the_oasis_examples_are_valid_cap(name):
    validate_document((OASIS / name).read_bytes())


@pytest.mark.parametrize(
    "name, element, reason",
    [
        ("a1_homeland_security.xml", "alert/info/category", "'Security' maps to no action type"),
        ("a2_severe_thunderstorm.xml", "alert/info/expires", "lies in the past"),
        ("a3_earthquake_update.xml", "alert/info/area/circle", "radius must be larger than 0"),
        ("a4_amber_alert_multilingual.xml", "alert/info[1]/area", "needs a circle or a polygon"),
    ],
)
def test_each_oasis_example_is_refused_with_the_element_and_a_clear_reason(name, element, reason):
    with pytest.raises(BadMessage) as e:
        inbound.read(read_alert((OASIS / name).read_bytes()))
    assert e.value.element == element and reason in e.value.reason


def test_the_thunderstorm_warning_maps_to_a_crisis_when_it_is_still_current():
    root = read_alert((OASIS / "a2_severe_thunderstorm.xml").read_bytes())
    got = inbound.read(root, now=datetime.fromisoformat("2003-06-17T15:00:00-07:00"))
    assert got.msg_type == "Alert" and got.identifier == "KSTO1055887203"
    p = got.payload
    assert p["type"] == "crisis" and p["urgency"] == "time_critical" and p["expires_in_minutes"] == 60
    assert p["area"] == {"type": "polygon", "points": [[38.47, -120.14], [38.34, -119.95], [38.52, -119.74], [38.62, -119.89]]}
    assert p["title"] == "SEVERE THUNDERSTORM WARNING" and p["description"].endswith("LIKELY WITH THIS STORM.")
    assert p["safety_advice"].endswith("UNTIL THE STORM PASSES.")  # CAP's instruction is said first


def test_the_amber_alert_reads_its_first_language_and_keeps_the_other_as_a_translation():
    root = read_alert((OASIS / "a4_amber_alert_multilingual.xml").read_bytes())
    info = root.findall(f"{{{NS}}}info")
    for i in info:  # give it an area, the one thing it lacks
        area = i.find(f"{{{NS}}}area")
        etree.SubElement(area, f"{{{NS}}}circle").text = "34.05,-118.25 20"
    got = inbound.read(root)
    assert got.payload["type"] == "missing_person"
    assert got.payload["title"] == "Amber Alert in Los Angeles County"
    assert got.payload["translations"]["es"]["title"].startswith("Alerta Amber")


# -- bad input, attacks ------------------------------------------------------------------------------

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&secret;</identifier></alert>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol3;</identifier></alert>"""


async def test_bad_xml_schema_violations_unmapped_values_and_attacks_get_400_naming_the_element(partners):
    async with partners() as (client, hub, tokens):
        fire = {**bearer(tokens["brandweer-utrecht"]), **CAP}
        good = alert("fire-1").decode()
        cases = [
            (b"<alert><unclosed></alert>", "(document)", "not well-formed"),
            (XXE, "(document)", "DOCTYPE"),
            (LAUGHS, "(document)", "DOCTYPE"),
            (good.replace("<urgency>Immediate</urgency>", "<urgency>Soon</urgency>", 1).encode(),
             "alert/info[1]/urgency", "CAP 1.2 schema"),
            (good.replace("<scope>Public</scope>", "").encode(), "alert/info[1]", "Expected is one of ( source, scope )"),
            (good.replace("<urgency>Immediate</urgency>", "<urgency>Past</urgency>", 1).encode(),
             "alert/info[1]/urgency", "maps to no urgency"),
            (good.replace("<certainty>Observed</certainty>\n    <headline>Grote",
                          "<certainty>Observed</certainty><eventCode><valueName>burgerhub:type</valueName>"
                          "<value>alien</value></eventCode>\n    <headline>Grote").encode(),
             "alert/info[1]/eventCode/value", "not an action type"),
            (alert("fire-2", area="<circle>52.09,5.12 0</circle>"), "alert/info[1]/area/circle", "larger than 0"),
            (alert("fire-3", area="<polygon>52.09,5.12 52.10,5.13 52.11,5.12</polygon>"),
             "alert/info[1]/area/polygon", "at least four points"),
            (alert("fire-4", status="Draft"), "alert/status", "start nothing"),
            (alert("fire-5", msg_type="Update"), "alert/references", "must reference"),
            (b"<value xmlns='urn:oasis:names:tc:emergency:cap:1.2'>1</value>", "value", "root element"),
        ]
        for body, element, reason in cases:
            r = await client.post("/v1/cap", data=body, headers=fire)
            assert r.status == 400, (element, await r.text())
            answer = await r.json()
            assert answer["error"] == "invalid_message" and answer["field"] == element, answer
            assert reason in answer["reason"], answer
            assert "root:" not in await r.text()  # /etc/passwd never leaks
        r = await client.post("/v1/cap", data=alert("fire-6"), headers={**bearer(tokens["brandweer-utrecht"]),
                                                                          "Content-Type": "application/json"})
        assert r.status == 400 and (await r.json())["field"] == "Content-Type"
        assert await hub.store.list_actions() == []


# -- a fire brigade's system: start, update, end; territory; sender ----------------------------------


async def test_a_fire_brigade_starts_updates_and_ends_a_crisis_action_by_cap(partners):
    async with partners() as (client, hub, tokens):
        fire = {**bearer(tokens["brandweer-utrecht"]), **CAP}
        first = alert("VRU-2026-0001")
        r = await client.post("/v1/cap", data=first, headers=fire)
        assert r.status == 201, await r.text()
        outcome = await r.json()
        action_id = outcome["action_id"]
        action = await hub.store.get_action(action_id)
        assert action["type"] == "crisis" and action["urgency"] == "time_critical"
        assert action["organisation"] == "brandweer-utrecht"
        assert action["title"] == "Grote brand bij Utrecht Centraal"
        assert action["area"] == {"type": "circle", "lat": UTRECHT_CENTRE[0], "lon": UTRECHT_CENTRE[1], "radius_m": 1500.0}
        assert action["translations"]["en"]["title"] == "Large fire near Utrecht Centraal"

        # the same message twice does not act twice
        r = await client.post("/v1/cap", data=first, headers=fire)
        assert r.status == 409

        sent = texts(first, "c:sent")[0]
        ref1 = f"{FIRE_SENDER},VRU-2026-0001,{sent}"
        update = alert("VRU-2026-0002", msg_type="Update", references=ref1).decode().replace(
            "Er is een grote brand met veel rook.", "De brand is onder controle, er is nog rook.").encode()
        r = await client.post("/v1/cap", data=update, headers=fire)
        assert r.status == 200, await r.text()
        assert (await r.json())["version"] == 2
        assert (await hub.store.get_action(action_id))["description"].startswith("De brand is onder controle")

        ref2 = f"{FIRE_SENDER},VRU-2026-0002,{texts(update, 'c:sent')[0]}"
        cancel = alert("VRU-2026-0003", msg_type="Cancel", references=f"{ref1} {ref2}", note="Het sein brand meester is gegeven.")
        r = await client.post("/v1/cap", data=cancel, headers=fire)
        assert r.status == 200, await r.text()
        ended = await hub.store.get_action(action_id)
        assert ended["status"] == "ended" and ended["result"] == "cancelled"
        assert ended["result_text"] == "Het sein brand meester is gegeven."
        audit = await hub.store.list_audit(subject=action_id)
        assert [a["verb"] for a in audit] == ["action.end", "action.update", "action.start"]
        assert {a["actor"] for a in audit} == {"brandweer-utrecht/Dienstdoende"}


async def test_cap_outside_the_territory_or_from_another_sender_is_403(partners):
    async with partners() as (client, hub, tokens):
        fire = {**bearer(tokens["brandweer-utrecht"]), **CAP}
        r = await client.post("/v1/cap", data=alert("far-1", area="<circle>51.44,5.47 2</circle>"), headers=fire)
        assert r.status == 403 and "leaves the territory of Brandweer Veiligheidsregio Utrecht" in (await r.json())["reason"]
        r = await client.post("/v1/cap", data=alert("x-1", sender="someone@else.example"), headers=fire)
        assert r.status == 403 and "not 'someone@else.example'" in (await r.json())["reason"]
        # a municipality may not send crisis messages at all
        gemeente = {**bearer(tokens["gemeente-utrecht"]), **CAP}
        r = await client.post("/v1/cap", data=alert("g-1", sender="gemeente@utrecht.example"), headers=gemeente)
        assert r.status == 403 and "type 'crisis'" in (await r.json())["reason"]
        # an operator's token is not for sending
        r = await client.post("/v1/cap", data=alert("g-2"), headers={**bearer(tokens["gemeente-utrecht:operator"]), **CAP})
        assert r.status == 403
        assert await hub.store.list_actions() == []


async def test_a_test_alert_is_a_dry_run(partners):
    async with partners() as (client, hub, tokens):
        r = await client.post("/v1/cap", data=alert("t-1", status="Test"),
                              headers={**bearer(tokens["brandweer-utrecht"]), **CAP})
        assert r.status == 200
        body = await r.json()
        assert body["dry_run"] is True and "route" in body["plan"]
        assert await hub.store.list_actions() == []


async def test_an_update_of_another_organisations_action_is_not_found(partners):
    async with partners() as (client, _, tokens):
        police = bearer(tokens["meldkamer-midden-nederland"])
        action = await (await client.post(
            "/v1/actions", json=prevention(*UTRECHT_CENTRE, type="burglary", urgency="time_critical"), headers=police
        )).json()
        ours = f"burgerhub@127.0.0.1,{action['id']}.1,2026-01-01T00:00:00+00:00"
        r = await client.post("/v1/cap", data=alert("u-1", msg_type="Update", references=ours),
                              headers={**bearer(tokens["brandweer-utrecht"]), **CAP})
        assert r.status == 404
        r = await client.get(f"/v1/actions/{action['id']}/cap", headers=bearer(tokens["gemeente-utrecht"]))
        assert r.status == 404
        # the control room's own system may update it by referencing burgerhub's CAP message
        r = await client.post("/v1/cap", headers={**police, **CAP}, data=alert(
            "mk-1", msg_type="Update", sender="meldkamer@politie.example", references=ours,
            info=f"""<info><category>Security</category><event>Inbraak</event><urgency>Immediate</urgency>
            <severity>Unknown</severity><certainty>Unknown</certainty>
            <description>Man, rode jas, op een zwarte fiets.</description></info>"""))
        assert r.status == 200, await r.text()


# -- CAP out ------------------------------------------------------------------------------------------


async def test_every_message_of_an_actions_life_is_valid_cap_with_references_and_two_languages(partners):
    async with partners() as (client, _, tokens):
        gemeente = bearer(tokens["gemeente-utrecht"])
        body = prevention(0, 0, area={"type": "polygon", "points": [[52.10, 5.10], [52.10, 5.13], [52.08, 5.13]]},
                          title="Inbraakgolf in Wijk C", translations={"en": {"description": "Burglaries in your area."}})
        action = await (await client.post("/v1/actions", json=body, headers=gemeente)).json()
        url = f"/v1/actions/{action['id']}/cap"
        docs = []
        r = await client.get(url, headers=gemeente)
        assert r.status == 200 and r.content_type == "application/cap+xml"
        docs.append(await r.read())
        await client.patch(f"/v1/actions/{action['id']}", json={"description": "Nog steeds inbraken in uw wijk."},
                           headers=gemeente)
        docs.append(await (await client.get(url, headers=gemeente)).read())
        await client.post(f"/v1/actions/{action['id']}/end", json={"result": "ended_without_result"}, headers=gemeente)
        docs.append(await (await client.get(url, headers=NATIONAL_OPERATE)).read())
        for doc in docs:
            validate_document(doc)
        assert [texts(d, "c:msgType")[0] for d in docs] == ["Alert", "Update", "Cancel"]
        ids = [texts(d, "c:identifier")[0] for d in docs]
        assert ids == [f"{action['id']}.1", f"{action['id']}.2", f"{action['id']}.3"]
        assert texts(docs[0], "c:references") == []
        refs = texts(docs[2], "c:references")[0].split()
        assert [r.split(",")[1] for r in refs] == ids[:2]
        assert refs[0] == f"{texts(docs[0], 'c:sender')[0]},{ids[0]},{texts(docs[0], 'c:sent')[0]}"
        assert texts(docs[0], "c:info/c:language") == ["nl-NL", "en-GB"]
        assert texts(docs[0], "c:info/c:description") == [body["description"], "Burglaries in your area."]
        assert texts(docs[0], "c:info/c:senderName")[0] == "Gemeente Utrecht"
        assert texts(docs[0], "c:info/c:area/c:polygon")[0] == "52.1,5.1 52.1,5.13 52.08,5.13 52.1,5.1"
        assert texts(docs[2], "c:info/c:parameter/c:value")[0] == "ended_without_result"
        assert b"Dienstdoende" not in docs[2]  # no person of the organisation in it


async def test_the_round_trip_cap_action_cap_keeps_identifiers_references_areas_and_texts(partners):
    async with partners() as (client, _, tokens):
        fire = {**bearer(tokens["brandweer-utrecht"]), **CAP}
        polygon = "52.10,5.10 52.10,5.14 52.07,5.14 52.07,5.10 52.10,5.10"
        first = alert("VRU-7", area=f"<polygon>{polygon}</polygon>")
        action_id = (await (await client.post("/v1/cap", data=first, headers=fire)).json())["action_id"]
        out = await (await client.get(f"/v1/actions/{action_id}/cap", headers=fire)).read()
        validate_document(out)
        for path in ("c:identifier", "c:sender", "c:sent"):
            assert texts(out, path) == texts(first, path)
        assert texts(out, "c:info/c:area/c:polygon") == [polygon.replace("52.10", "52.1").replace("5.10", "5.1")] * 2
        assert texts(out, "c:info/c:headline") == texts(first, "c:info/c:headline")
        assert texts(out, "c:info/c:description") == texts(first, "c:info/c:description")
        # and burgerhub's CAP reads back in as the same action
        again = inbound.read(read_alert(out)).payload
        assert again["area"] == (await hub_action(client, action_id, fire))["area"]
        assert again["type"] == "crisis" and again["urgency"] == "time_critical"
        assert again["title"] == "Grote brand bij Utrecht Centraal"
        assert again["translations"]["en"]["title"] == "Large fire near Utrecht Centraal"

        ref = f"{FIRE_SENDER},VRU-7,{texts(first, 'c:sent')[0]}"
        cancel = alert("VRU-8", msg_type="Cancel", references=ref)
        await client.post("/v1/cap", data=cancel, headers=fire)
        out = await (await client.get(f"/v1/actions/{action_id}/cap", headers=fire)).read()
        validate_document(out)
        assert texts(out, "c:identifier") == ["VRU-8"] and texts(out, "c:msgType") == ["Cancel"]
        assert texts(out, "c:references") == [ref]


async def test_a_large_message_arrives_whole_and_an_oversized_one_is_refused(partners):
    async with partners() as (client, _, tokens):
        fire = {**bearer(tokens["brandweer-utrecht"]), **CAP}
        padded = alert("big-1").replace(b"<scope>Public</scope>", b"<scope>Public</scope>" + b" " * 300_000)
        r = await client.post("/v1/cap", data=padded, headers=fire)
        assert r.status == 201, await r.text()
        r = await client.post("/v1/cap", data=alert("big-2") + b" " * 600_000, headers=fire)
        assert r.status == 413 and (await r.json())["error"]  # too large, like every body on every route


async def test_an_update_asking_for_another_urgency_or_type_is_refused_naming_the_element(partners):
    """An action's type and urgency are fixed at its start (the update API changes neither): an Update
    that asks for another is refused with the element, and changes nothing."""
    async with partners() as (client, hub, tokens):
        fire = {**bearer(tokens["brandweer-utrecht"]), **CAP}
        first = alert("VRU-2026-0101")
        r = await client.post("/v1/cap", data=first, headers=fire)
        assert r.status == 201, await r.text()
        action_id = (await r.json())["action_id"]
        ref = f"{FIRE_SENDER},VRU-2026-0101,{texts(first, 'c:sent')[0]}"
        plain = alert("VRU-2026-0102", msg_type="Update", references=ref).decode()
        code = "<eventCode><valueName>burgerhub:type</valueName><value>prevention</value></eventCode>"
        cases = [
            (plain.replace("<urgency>Immediate</urgency>", "<urgency>Expected</urgency>", 1),
             "alert/info[1]/urgency", "urgency 'non_urgent'"),
            (plain.replace("<certainty>Observed</certainty>", f"<certainty>Observed</certainty>{code}", 1),
             "alert/info[1]/eventCode/value", "type 'prevention'"),
            (plain.replace("<category>Fire</category>", "<category>Rescue</category>", 1),
             "alert/info[1]/category", "type 'missing_person'"),
        ]
        for i, (doc, element, words) in enumerate(cases):
            doc = doc.replace("VRU-2026-0102", f"VRU-2026-02{i}")
            r = await client.post("/v1/cap", data=doc.encode(), headers=fire)
            assert r.status == 400, (element, await r.text())
            body = await r.json()
            assert body["field"] == element and words in body["reason"] and "fixed" in body["reason"]
        action = await hub.store.get_action(action_id)
        assert (action["version"], action["type"], action["urgency"]) == (1, "crisis", "time_critical")
        # a refused message was not taken: the same identifier, put right, acts
        right = cases[0][0].replace("<urgency>Expected</urgency>", "<urgency>Unknown</urgency>")
        r = await client.post("/v1/cap", data=right.replace("VRU-2026-0102", "VRU-2026-020").encode(), headers=fire)
        assert r.status == 200, await r.text()
        assert (await hub.store.get_action(action_id))["version"] == 2


def test_a_category_alone_is_not_held_against_a_type_no_category_maps_to():
    doc = alert("x-1", msg_type="Update", references="a@b,c,2026-01-01T00:00:00+00:00").decode().replace(
        "<category>Fire</category>", "<category>Safety</category>", 1)
    update = inbound.read(read_alert(doc.encode()))
    update.check_fixed({"type": "burglary", "urgency": "time_critical"})
    with pytest.raises(BadMessage) as e:
        update.check_fixed({"type": "missing_person", "urgency": "time_critical"})
    assert e.value.element == "alert/info[1]/category"


async def test_burgerhubs_own_cap_sender_is_the_configured_one_and_references_to_either_find_the_action(
        partners, routes_to_recording):
    sender = "alerts@burgernet.example"
    async with partners(hub={"routes": routes_to_recording, "cap_sender": sender}) as (client, _, tokens):
        police = bearer(tokens["meldkamer-midden-nederland"])
        action = await (await client.post(
            "/v1/actions", json=prevention(*UTRECHT_CENTRE, type="burglary", urgency="time_critical"), headers=police
        )).json()
        doc = await (await client.get(f"/v1/actions/{action['id']}/cap", headers=police)).read()
        validate_document(doc)
        assert texts(doc, "c:sender") == [sender]
        info = """<info><category>Security</category><event>Inbraak</event><urgency>Immediate</urgency>
            <severity>Unknown</severity><certainty>Unknown</certainty>
            <description>Man, rode jas, op een zwarte fiets. {}</description></info>"""
        # the configured sender, and the one burgerhub used before it was configured
        for i, own in enumerate((sender, "burgerhub@127.0.0.1")):
            ref = f"{own},{action['id']}.1,{texts(doc, 'c:sent')[0]}"
            r = await client.post("/v1/cap", headers={**police, **CAP}, data=alert(
                f"mk-{i}", msg_type="Update", sender="meldkamer@politie.example", references=ref, info=info.format(i)))
            assert r.status == 200, await r.text()
