"""Organisations: their people's tokens, the types and territory they may address, and who sees what."""

from __future__ import annotations

import pytest

from hub.errors import ConfigError, Forbidden, ValidationError
from hub.models import Circle, Polygon
from hub.organisations import check_area, load_file, organisation_from_dict, token_hash
from hub.testing import BACKENDS
from hub.territory import first_point_outside

from partners_support import (
    EXAMPLES, NATIONAL_DISPATCH, NATIONAL_OPERATE, UTRECHT_CENTRE, UTRECHT_POLYGON, ZEIST, ZEIST_POLYGON,
    bearer, prevention,
)


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    return request.param


# -- pure: territory ---------------------------------------------------------------------------------

SQUARE = Polygon(points=((52.0, 5.0), (52.0, 5.2), (52.2, 5.2), (52.2, 5.0)))


def test_an_area_within_the_territory_passes_and_one_across_its_edge_names_a_point_outside():
    assert first_point_outside(Circle(lat=52.1, lon=5.1, radius_m=5000), [SQUARE]) is None
    outside = first_point_outside(Circle(lat=52.1, lon=5.19, radius_m=2000), [SQUARE])
    assert outside is not None and outside[1] > 5.2
    assert first_point_outside(Polygon(points=((52.05, 5.05), (52.05, 5.1), (52.1, 5.1))), [SQUARE]) is None
    assert first_point_outside(Polygon(points=((52.05, 5.05), (52.05, 5.3), (52.1, 5.1))), [SQUARE]) is not None


def test_a_territory_of_several_parts_covers_an_area_that_spans_two_of_them():
    west = Polygon(points=((52.0, 5.0), (52.0, 5.1), (52.2, 5.1), (52.2, 5.0)))
    east = Polygon(points=((52.0, 5.1), (52.0, 5.2), (52.2, 5.2), (52.2, 5.1)))
    area = Circle(lat=52.1, lon=5.1, radius_m=3000)
    assert first_point_outside(area, [west]) is not None
    assert first_point_outside(area, [west, east]) is None
    assert first_point_outside(area, [Circle(lat=52.1, lon=5.1, radius_m=3100)]) is None


def test_an_excursion_wider_than_the_sampling_step_is_seen():
    # a polygon whose one vertex pokes 300 m out of the territory between two vertices inside it
    poke = Polygon(points=((52.1, 5.05), (52.1, 5.2044), (52.15, 5.05)))
    assert first_point_outside(poke, [SQUARE]) is not None


def test_check_area_gives_the_reason_with_the_organisation_and_the_point():
    org = organisation_from_dict(load_file(EXAMPLES)[0])
    check_area(org, Circle(lat=UTRECHT_CENTRE[0], lon=UTRECHT_CENTRE[1], radius_m=1000))
    with pytest.raises(Forbidden) as e:
        check_area(org, Circle(lat=ZEIST[0], lon=ZEIST[1], radius_m=500))
    assert "Gemeente Utrecht" in str(e.value) and "leaves the territory" in str(e.value) and "52.0" in str(e.value)


# -- the operator's file -----------------------------------------------------------------------------


def test_the_shipped_example_has_a_municipality_a_police_control_room_and_a_fire_brigade():
    orgs = {o["id"]: organisation_from_dict(o) for o in load_file(EXAMPLES)}
    kinds = {o.kind for o in orgs.values()}
    assert {"municipality", "police", "partner"} <= kinds
    assert set(orgs["gemeente-utrecht"].action_types) == {"prevention", "neighbourhood_inquiry"}
    assert "missing_person" in orgs["meldkamer-midden-nederland"].action_types
    assert orgs["brandweer-utrecht"].action_types == ("crisis",)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("organisations:\n  - id: x1\n    name: X\n    kind: municipality\n", "line 2: organisations[0]"),
        ("organisations:\n  - id: gem-a\n    name: Aa\n    kind: mayor\n    territory:\n"
         "      - area: {type: circle, lat: 52, lon: 5, radius_m: 10}\n", "line 4: organisations[0].kind"),
        ("organisations:\n  - id: gem-a\n    name: Aa\n    kind: municipality\n    territory:\n"
         "      - area: {type: circle, lat: 95, lon: 5, radius_m: 10}\n", "line 6: organisations[0].territory[0].area"),
        ("organisations:\n  - id: gem-a\n    name: Aa\n    kind: partner\n    territory:\n"
         "      - area: {type: circle, lat: 52, lon: 5, radius_m: 10}\n"
         "  - id: gem-a\n    name: Bb\n    kind: partner\n    territory:\n"
         "      - area: {type: circle, lat: 52, lon: 5, radius_m: 10}\n", "line 7: organisations[1].id"),
        ("organisations:\n  - id: gem-a\n    name: Aa\n    kind: national\n", "only the organisation 'national'"),
        ("orgs: []\n", "a list 'organisations'"),
    ],
)
def test_a_bad_file_names_its_line_and_field(tmp_path, text, expected):
    path = tmp_path / "orgs.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_file(path)
    assert str(path) in str(e.value) and expected in str(e.value)


# -- API: tokens, types, territory, visibility (both backends) ---------------------------------------


async def test_a_municipality_sends_a_prevention_notice_in_its_area_and_is_refused_next_door(partners):
    async with partners() as (client, hub, tokens):
        gemeente = bearer(tokens["gemeente-utrecht"])
        r = await client.post("/v1/actions", json=prevention(*UTRECHT_CENTRE), headers=gemeente)
        assert r.status == 201, await r.text()
        action = await r.json()
        assert action["organisation"] == "gemeente-utrecht"
        assert action["started_by"] == "gemeente-utrecht/Dienstdoende"

        r = await client.post("/v1/actions", json=prevention(*ZEIST), headers=gemeente)
        assert r.status == 403
        body = await r.json()
        assert "leaves the territory of Gemeente Utrecht" in body["reason"]
        r = await client.post("/v1/actions", json=prevention(0, 0, area={"type": "polygon", "points": ZEIST_POLYGON}),
                              headers=gemeente)
        assert r.status == 403 and "polygon" in (await r.json())["reason"]
        r = await client.post("/v1/actions", json=prevention(0, 0, area={"type": "polygon", "points": UTRECHT_POLYGON}),
                              headers=gemeente)
        assert r.status == 201
        # a dry run is refused alike, and nothing was stored for the refusals
        r = await client.post("/v1/actions?dry_run=1", json=prevention(*ZEIST), headers=gemeente)
        assert r.status == 403
        assert len(await hub.store.list_actions()) == 2
        # the audit log names the person and the organisation
        audit = await hub.store.list_audit(subject=action["id"])
        assert audit[0]["actor"] == "gemeente-utrecht/Dienstdoende"


async def test_an_organisation_issues_only_its_own_types_and_urgencies(partners):
    async with partners() as (client, _, tokens):
        gemeente = bearer(tokens["gemeente-utrecht"])
        r = await client.post("/v1/actions", json=prevention(*UTRECHT_CENTRE, type="missing_person"), headers=gemeente)
        assert r.status == 403 and "type 'missing_person'" in (await r.json())["reason"]
        r = await client.post("/v1/actions", json=prevention(*UTRECHT_CENTRE, urgency="time_critical"), headers=gemeente)
        assert r.status == 403 and "time_critical" in (await r.json())["reason"]
        police = bearer(tokens["meldkamer-midden-nederland"])
        r = await client.post("/v1/actions", json=prevention(*ZEIST, type="burglary", urgency="time_critical"),
                              headers=police)
        assert r.status == 201  # Zeist lies in the control room's region


async def test_each_organisation_sees_its_own_actions_and_the_national_operator_all(partners):
    async with partners() as (client, _, tokens):
        gemeente, police = bearer(tokens["gemeente-utrecht"]), bearer(tokens["meldkamer-midden-nederland"])
        mine = await (await client.post("/v1/actions", json=prevention(*UTRECHT_CENTRE), headers=gemeente)).json()
        theirs = await (await client.post(
            "/v1/actions", json=prevention(*UTRECHT_CENTRE, type="burglary", urgency="time_critical"), headers=police
        )).json()
        national = await (await client.post("/v1/actions", json=prevention(*ZEIST), headers=NATIONAL_DISPATCH)).json()
        assert national["organisation"] == "national"

        async def listed(headers):
            r = await client.get("/v1/actions", headers=headers)
            assert r.status == 200
            return {a["id"] for a in (await r.json())["actions"]}

        assert await listed(gemeente) == {mine["id"]}
        assert await listed(bearer(tokens["gemeente-utrecht:operator"])) == {mine["id"]}
        assert await listed(police) == {theirs["id"]}
        assert await listed(NATIONAL_OPERATE) == {mine["id"], theirs["id"], national["id"]}

        for path in ("", "/deliveries", "/audit", "/tips", "/events"):
            r = await client.get(f"/v1/actions/{theirs['id']}{path}", headers=gemeente)
            assert r.status == 404, path
        r = await client.get(f"/v1/actions/{mine['id']}", headers=gemeente)
        assert r.status == 200
        r = await client.patch(f"/v1/actions/{theirs['id']}", json={"description": "Nieuwe tekst hier"}, headers=gemeente)
        assert r.status == 404
        r = await client.post(f"/v1/actions/{theirs['id']}/end", json={"result": "cancelled"}, headers=gemeente)
        assert r.status == 404
        r = await client.post(f"/v1/actions/{theirs['id']}/end", json={"result": "arrested"}, headers=NATIONAL_DISPATCH)
        assert r.status == 200


async def test_an_update_may_not_move_the_area_out_of_the_territory(partners):
    async with partners() as (client, _, tokens):
        gemeente = bearer(tokens["gemeente-utrecht"])
        action = await (await client.post("/v1/actions", json=prevention(*UTRECHT_CENTRE), headers=gemeente)).json()
        r = await client.patch(f"/v1/actions/{action['id']}", headers=gemeente,
                               json={"area": {"type": "circle", "lat": ZEIST[0], "lon": ZEIST[1], "radius_m": 300}})
        assert r.status == 403 and "leaves the territory" in (await r.json())["reason"]
        r = await client.get(f"/v1/actions/{action['id']}", headers=gemeente)
        assert (await r.json())["area"]["lat"] == UTRECHT_CENTRE[0]


async def test_a_revoked_token_stops_working_and_network_duties_stay_national(partners):
    async with partners() as (client, hub, tokens):
        operator = bearer(tokens["gemeente-utrecht:operator"])
        for method, path in (("GET", "/v1/audit"), ("GET", "/v1/sandbox/outbox"), ("PUT", "/v1/routes"),
                             ("POST", "/v1/participants/import")):
            r = await client.request(method, path, headers=operator, data="x")
            assert r.status == 403, path
            assert "national operator" in (await r.json())["reason"]
        record = next(t for t in await hub.organisations.tokens("gemeente-utrecht") if t.role == "dispatcher")
        await hub.organisations.revoke(record.id)
        r = await client.get("/v1/actions", headers=bearer(tokens["gemeente-utrecht"]))
        assert r.status == 401
        # the store keeps only the hash
        rows = await hub.store._all("SELECT token_hash FROM organisation_tokens")
        assert tokens["gemeente-utrecht"] not in {r[0] for r in rows}
        assert token_hash(tokens["gemeente-utrecht"]) in {r[0] for r in rows}


async def test_a_token_role_must_be_one_the_organisation_gives(partners):
    async with partners() as (_, hub, _tokens):
        with pytest.raises(ValidationError) as e:
            await hub.organisations.issue_token("brandweer-utrecht", "Iemand", "operator")
        assert e.value.field == "role"


async def test_the_console_shows_an_organisation_its_own_actions_only(partners):
    async with partners() as (client, _, tokens):
        gemeente, police = bearer(tokens["gemeente-utrecht"]), bearer(tokens["meldkamer-midden-nederland"])
        theirs = await (await client.post(
            "/v1/actions", json=prevention(*UTRECHT_CENTRE, type="burglary", urgency="time_critical"), headers=police
        )).json()
        r = await client.get("/console/api/me", headers=gemeente)
        me = await r.json()
        assert me["organisation"] == "gemeente-utrecht" and me["action_types"] == ["prevention", "neighbourhood_inquiry"]
        r = await client.post(f"/console/api/actions/{theirs['id']}/ticket", headers=gemeente)
        assert r.status == 404
        r = await client.post(f"/console/api/actions/{theirs['id']}/ticket", headers=police)
        assert r.status == 201
        r = await client.get("/console/api/me", headers=NATIONAL_DISPATCH)
        assert (await r.json())["organisation"] == "national"


async def test_the_national_operator_manages_organisations_and_tokens_over_the_api(partners):
    async with partners() as (client, hub, tokens):
        body = {"name": "Gemeente Zeist", "kind": "municipality", "action_types": ["prevention"],
                "territory": [{"area": {"type": "circle", "lat": ZEIST[0], "lon": ZEIST[1], "radius_m": 4000}}]}
        r = await client.put("/v1/organisations/gemeente-zeist", json=body, headers=bearer(tokens["gemeente-utrecht:operator"]))
        assert r.status == 403
        r = await client.put("/v1/organisations/gemeente-zeist", json={**body, "kind": "mayor"}, headers=NATIONAL_OPERATE)
        assert r.status == 422 and (await r.json())["field"] == "kind"
        r = await client.put("/v1/organisations/gemeente-zeist", json=body, headers=NATIONAL_OPERATE)
        assert r.status == 200
        r = await client.post("/v1/organisations/gemeente-zeist/tokens", json={"name": "P. Peters", "role": "dispatcher"},
                              headers=NATIONAL_OPERATE)
        assert r.status == 201
        issued = await r.json()
        zeist = bearer(issued["token"])
        r = await client.post("/v1/actions", json=prevention(*ZEIST), headers=zeist)
        assert r.status == 201
        r = await client.post("/v1/actions", json=prevention(*UTRECHT_CENTRE), headers=zeist)
        assert r.status == 403
        listed = await (await client.get("/v1/organisations", headers=zeist)).json()
        assert [o["id"] for o in listed["organisations"]] == ["gemeente-zeist"]
        assert (await client.get("/v1/organisations/gemeente-utrecht", headers=zeist)).status == 404
        everyone = await (await client.get("/v1/organisations", headers=NATIONAL_OPERATE)).json()
        assert {"national", "gemeente-utrecht", "gemeente-zeist"} <= {o["id"] for o in everyone["organisations"]}
        r = await client.get("/v1/organisations/gemeente-zeist/tokens", headers=NATIONAL_OPERATE)
        assert [t["name"] for t in (await r.json())["tokens"]] == ["P. Peters"] and issued["token"] not in (await r.text())
        r = await client.delete(f"/v1/organisations/gemeente-zeist/tokens/{issued['id']}", headers=NATIONAL_OPERATE)
        assert r.status == 200
        assert (await client.get("/v1/actions", headers=zeist)).status == 401
        verbs = [a["verb"] for a in await hub.store.list_audit()]
        assert {"organisation.put", "organisation.token.issue", "organisation.token.revoke"} <= set(verbs)
