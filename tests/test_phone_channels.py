"""Channels per phone number: SMS to the mobile, calls to the landline (or wherever the participant
says), in the model, the audience index (bulk load, changes, compaction, snapshots), the dry run and
the real selection on both stores, and the HTTP API."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from hub.actions import Actor
from hub.audience import AudienceIndex, IndexLoader
from hub.channel import Contact
from hub.errors import ValidationError
from hub.models import Circle
from hub.participants import Participant, carry_verification, explicit, parse_csv, with_verified
from hub.testing import BACKENDS
from test_verification import UTRECHT, citizen_hub, start

AMS = ZoneInfo("Europe/Amsterdam")
MONDAY_NOON = datetime(2024, 6, 3, 12, 0, tzinfo=AMS)
CHANNELS = {"sms": Contact.MOBILE, "voice": Contact.PHONE}
DISPATCHER = Actor("meldkamer", "dispatcher")
MOBILE, WORK_MOBILE, LANDLINE = "+31612345678", "+31687654321", "+31302345678"
HOME = {"lat": UTRECHT[0], "lon": UTRECHT[1]}


def record(pid: str, *phones: dict, channels=("sms", "voice")) -> dict:
    return {"id": pid, "addresses": [HOME], "phones": list(phones), "channels": list(channels)}


def split(pid: str = "split") -> dict:
    """SMS to my mobile, calls to my landline."""
    return record(pid, {"number": MOBILE, "channels": ["sms"]}, {"number": LANDLINE})


def addresses(selection, channel: str) -> dict[str, str]:
    return {m.participant_id: m.address for m in selection.recipients(channel)}


def area() -> Circle:
    return Circle(lat=UTRECHT[0], lon=UTRECHT[1], radius_m=1_000)


# -- the model -----------------------------------------------------------------------------------


def test_a_number_names_what_it_takes_else_the_default_of_its_kind():
    p = Participant.from_dict(split())
    assert (p.sms_number, p.voice_number) == (MOBILE, LANDLINE)
    assert p.contact_for(Contact.MOBILE) == MOBILE and p.contact_for(Contact.PHONE) == LANDLINE
    assert (p.mobile, p.phone) == (MOBILE, LANDLINE)  # the older names mean the same numbers
    # calls only on my work mobile
    p = Participant.from_dict(
        record("w", {"number": MOBILE, "channels": ["sms"]}, {"number": WORK_MOBILE, "channels": ["voice"]})
    )
    assert (p.sms_number, p.voice_number) == (MOBILE, WORK_MOBILE)
    # no choices (a record from before them): a mobile takes both, before a landline
    p = Participant.from_dict(record("old", {"number": LANDLINE}, {"number": MOBILE}))
    assert (p.sms_number, p.voice_number) == (MOBILE, MOBILE)
    assert [ph.channels for ph in p.phones] == [None, None]
    assert [ph.uses for ph in p.phones] == [("voice",), ("sms", "voice")]
    p = Participant.from_dict(record("land", {"number": LANDLINE}))
    assert (p.sms_number, p.voice_number) == (None, LANDLINE)
    # a number for neither
    p = Participant.from_dict(record("none", {"number": MOBILE, "channels": []}))
    assert (p.sms_number, p.voice_number) == (None, None)
    assert p.reason_unavailable("sms", MONDAY_NOON, contact=Contact.MOBILE) == "no_contact"


def test_an_unverified_number_is_passed_over_for_the_next_that_takes_the_channel():
    data = record("u", {"number": MOBILE, "channels": ["sms"]}, {"number": WORK_MOBILE})
    p = Participant.from_dict(data, verified=False)
    assert (p.sms_number, p.voice_number) == (None, None)
    p = with_verified(p, number=WORK_MOBILE)
    assert (p.sms_number, p.voice_number) == (WORK_MOBILE, WORK_MOBILE)
    assert p.phones[0].channels == ("sms",)  # verifying keeps the choice


@pytest.mark.parametrize(
    "phones, field",
    [
        ([{"number": MOBILE}, {"number": LANDLINE, "channels": ["sms", "voice"]}], "phones[1].channels"),
        ([{"number": LANDLINE, "channels": ["sms"]}], "phones[0].channels"),
        ([{"number": MOBILE, "kind": "landline", "channels": ["sms"]}], "phones[0].channels"),
        ([{"number": MOBILE, "channels": ["email"]}], "phones[0].channels[0]"),
        ([{"number": MOBILE, "channels": ["sms", "sms"]}], "phones[0].channels"),
        ([{"number": MOBILE, "channels": "sms"}], "phones[0].channels"),
    ],
)
def test_a_channel_a_number_cannot_take_is_refused_by_field(phones, field):
    with pytest.raises(ValidationError) as e:
        Participant.from_dict(record("x", *phones))
    assert field in [f for f, _ in e.value.errors]


def test_stored_form_round_trips_and_answers_spell_the_channels_out():
    p = Participant.from_dict(split())
    stored = p.to_dict()
    assert stored["phones"] == [
        {"number": MOBILE, "kind": "mobile", "channels": ["sms"]},
        {"number": LANDLINE, "kind": "landline"},  # no choice made: nothing stored
    ]
    assert Participant.from_dict(stored, validate=False) == p
    assert Participant.from_dict(json.loads(json.dumps(stored))) == p
    assert [ph["channels"] for ph in explicit(stored)["phones"]] == [["sms"], ["voice"]]
    # the defaults spelled out are no choice: an answer sent back unchanged stores the same record
    q = Participant.from_dict(record("q", {"number": MOBILE, "channels": ["voice", "sms"]},
                                     {"number": LANDLINE, "channels": ["voice"]}))
    assert [ph.channels for ph in q.phones] == [None, None] and "channels" not in q.to_dict()["phones"][0]
    assert Participant.from_dict({**explicit(p.to_dict()), "id": "split"}) == p


def test_an_update_keeps_verification_and_takes_the_new_choice():
    old = Participant.from_dict(record("c", {"number": MOBILE}, {"number": LANDLINE}))
    new = Participant.from_dict(split("c"), verified=False)
    carried = carry_verification(old, new)
    assert all(ph.verified for ph in carried.phones)
    assert (carried.sms_number, carried.voice_number) == (MOBILE, LANDLINE)


def test_csv_may_name_what_each_number_takes():
    text = (
        "id,mobile,mobile_channels,landline,landline_channels,channels,home_lat,home_lon\n"
        "a,0612345678,sms,030 2345678,,sms voice,52.09,5.12\n"
        "b,0612345679,voice,,,voice,52.09,5.12\n"
        "c,0612345670,,030 2345679,sms,sms voice,52.09,5.12\n"
        "d,,sms,,,sms,52.09,5.12\n"
        "e,0612345671,fax,,,sms,52.09,5.12\n"
    )
    people, errors = parse_csv(text, verified=True)
    a, b = people
    assert (a.sms_number, a.voice_number) == (MOBILE, LANDLINE)
    assert (b.sms_number, b.voice_number) == (None, "+31612345679")
    assert {(e.row, e.field) for e in errors} == {
        (4, "landline_channels"), (5, "mobile_channels"), (6, "mobile_channels"),
    }


# -- the audience index --------------------------------------------------------------------------


def people() -> list[Participant]:
    return [
        Participant.from_dict(split()),
        Participant.from_dict(record("old", {"number": LANDLINE.replace("345", "999")}, {"number": "+31611111111"})),
        Participant.from_dict(record("land", {"number": "+31302222222"})),
        Participant.from_dict(record("callonly", {"number": "+31633333333", "channels": ["voice"]})),
    ]


EXPECTED_SMS = {"split": MOBILE, "old": "+31611111111"}
EXPECTED_VOICE = {"split": LANDLINE, "old": "+31611111111", "land": "+31302222222", "callonly": "+31633333333"}


def assert_split(index: AudienceIndex) -> None:
    sel = index.select(area(), CHANNELS, MONDAY_NOON)
    assert addresses(sel, "sms") == EXPECTED_SMS
    assert addresses(sel, "voice") == EXPECTED_VOICE
    assert sel.skipped("sms")["no_contact"] == 2 and sel.skipped("voice")["no_contact"] == 0


def test_selection_texts_the_mobile_and_calls_the_landline():
    assert_split(AudienceIndex.build(people()))


def test_the_bulk_loader_reads_stored_records_like_participants():
    index = AudienceIndex()
    loader = IndexLoader(index)
    loader.add_records(json.loads(json.dumps([p.to_dict() for p in people()])))
    assert_split(loader.finish())
    # and records from before per-number channels and verified flags (no such keys at all)
    index = AudienceIndex()
    loader = IndexLoader(index)
    loader.add_records([{"id": "x", "addresses": [HOME], "channels": ["sms", "voice"],
                         "phones": [{"number": LANDLINE, "kind": "landline"}, {"number": MOBILE, "kind": "mobile"}]}])
    sel = loader.finish().select(area(), CHANNELS, MONDAY_NOON)
    assert addresses(sel, "sms") == {"x": MOBILE} and addresses(sel, "voice") == {"x": MOBILE}
    # a phone stored without its kind is a mobile, as a participant read from the record has it
    old = {"id": "y", "addresses": [HOME], "channels": ["sms", "voice"], "phones": [{"number": MOBILE}]}
    assert Participant.from_dict(old).phones[0].kind == "mobile"
    index = AudienceIndex()
    loader = IndexLoader(index)
    loader.add_records([old])
    sel = loader.finish().select(area(), CHANNELS, MONDAY_NOON)
    assert addresses(sel, "sms") == {"y": MOBILE} and addresses(sel, "voice") == {"y": MOBILE}


def test_one_call_per_shared_number_and_one_text_per_shared_number():
    shared = [
        Participant.from_dict(split("a")),
        Participant.from_dict(record("b", {"number": LANDLINE})),  # the same landline, the household's
        Participant.from_dict(record("c", {"number": MOBILE, "channels": ["voice"]})),  # a's mobile, for calls
    ]
    for index in (AudienceIndex.build(shared), AudienceIndex.build([])):
        if not len(index):
            for p in shared:
                index.upsert(p)  # through the overlay and the flags set one change at a time
        sel = index.select(area(), CHANNELS, MONDAY_NOON)
        assert addresses(sel, "sms") == {"a": MOBILE}  # c's number does not take SMS: not a duplicate
        assert sel.skipped("sms")["no_contact"] == 2 and sel.skipped("sms")["duplicate_address"] == 0
        assert addresses(sel, "voice") == {"a": LANDLINE, "c": MOBILE}  # b shares a's landline
        assert sel.skipped("voice")["duplicate_address"] == 1


def test_updates_erasure_compaction_and_snapshots_keep_both_numbers():
    index = AudienceIndex.build(people(), auto_compact=False)
    # a participant changes their mind, back and forth, and newcomers come and go
    index.upsert(Participant.from_dict(record("split", {"number": MOBILE}, {"number": LANDLINE})))
    sel = index.select(area(), CHANNELS, MONDAY_NOON)
    assert addresses(sel, "voice")["split"] == MOBILE
    del sel
    index.upsert(Participant.from_dict(split()))
    gone = Participant.from_dict(record("gone", {"number": "+31644444444", "channels": ["sms"]},
                                        {"number": "+31304444444"}))
    index.upsert(gone)
    assert index.select(area(), CHANNELS, MONDAY_NOON).recipients("voice")  # a lease while erasing
    index.remove("gone")
    meta, arrays = index.snapshot()
    assert meta["layout"] == 4
    assert not (arrays["second_numbers"] == 31304444444).any() and not (arrays["phone"] == 31644444444).any()
    assert_split(AudienceIndex.from_snapshot(meta, {k: v.copy() for k, v in arrays.items()}))
    del meta, arrays
    index.remove("land")
    index.upsert(Participant.from_dict(record("land", {"number": "+31302222222"})))
    index.compact()
    assert index.stats()["slots"] == len(index) == 4
    assert_split(index)
    meta, arrays = index.snapshot()
    assert_split(AudienceIndex.from_snapshot(meta, arrays))


def many(n: int, split_every: int = 0, lat: float = UTRECHT[0]) -> list[Participant]:
    """``n`` participants with a mobile each, every ``split_every``-th with calls on a landline of
    their own; all within the test area, slots ordered by latitude."""
    out = []
    for i in range(n):
        phones = [{"number": f"+3161{i:07d}"}]
        if split_every and i % split_every == 0:
            phones = [{"number": f"+3161{i:07d}", "channels": ["sms"]}, {"number": f"+3130{i:07d}"}]
        where = {"lat": lat + i * 1e-6, "lon": UTRECHT[1]}
        out.append(Participant.from_dict({"id": f"m{i}", "addresses": [where], "phones": phones,
                                          "channels": ["sms", "voice"]}))
    return out


def calls(index: AudienceIndex) -> dict[str, str]:
    return addresses(index.select(area(), CHANNELS, MONDAY_NOON), "voice")


def test_the_number_to_call_costs_memory_only_where_it_differs_from_the_number_to_text():
    n, every = 2_000, 20
    plain, split_some = AudienceIndex.build(many(n)), AudienceIndex.build(many(n, every))
    # one number column for everybody; 4 bytes of slot and 8 of number per participant who differs
    assert split_some.nbytes() - plain.nbytes() == 12 * (n // every)
    meta, arrays = split_some.snapshot()
    assert len(arrays["phone"]) == n and len(arrays["second_numbers"]) == len(arrays["second_slots"]) == n // every
    assert "voice" not in arrays
    assert calls(split_some) == {
        f"m{i}": f"+3130{i:07d}" if i % every == 0 else f"+3161{i:07d}" for i in range(n)
    }
    assert calls(AudienceIndex.from_snapshot(meta, arrays)) == calls(split_some)


def test_second_numbers_follow_changes_held_selections_and_slots_moving_down():
    index = AudienceIndex.build(many(300, 3), auto_compact=False)
    before = calls(index)
    expected = dict(before)
    held = index.select(area(), CHANNELS, MONDAY_NOON)
    # while a selection is held, changes move people to new slots: what it lists stays as it was
    index.upsert(Participant.from_dict(record("m0", {"number": "+31610000000"})))  # calls to the mobile now
    index.upsert(Participant.from_dict(record("m1", {"number": "+31610000001", "channels": ["sms"]},
                                              {"number": "+31309999991"})))  # calls to a new landline
    expected |= {"m0": "+31610000000", "m1": "+31309999991"}
    assert addresses(held, "voice") == before
    del held
    assert calls(index) == expected
    # the participants of the last slots (the northernmost, split among them) move into emptied ones
    for i in range(0, 200):
        if i not in (0, 1):
            index.remove(f"m{i}")
            del expected[f"m{i}"]
    index.upsert(Participant.from_dict(record("m299", {"number": "+31610000299", "channels": ["sms"]},
                                              {"number": "+31309999299"})))  # calls to a landline now
    expected["m299"] = "+31309999299"
    index.compact()
    assert index.stats()["slots"] == len(index) == 102 and not any(index.stats()["pending"].values())
    assert calls(index) == expected
    meta, arrays = index.snapshot()
    assert len(arrays["second_numbers"]) == sum(1 for i in range(200, 300) if i % 3 == 0) + 2  # m1's, m299's
    assert calls(AudienceIndex.from_snapshot(meta, arrays)) == expected


def test_two_who_take_calls_on_one_landline_besides_their_own_mobiles_get_one_call():
    household = [
        Participant.from_dict(split("a")),
        Participant.from_dict(record("b", {"number": WORK_MOBILE, "channels": ["sms"]}, {"number": LANDLINE})),
        Participant.from_dict(record("c", {"number": LANDLINE})),  # the landline only
    ]
    built = AudienceIndex.build(household, auto_compact=False)
    followed = AudienceIndex.build([], auto_compact=False)
    for p in household:
        followed.upsert(p)
    for index in (built, followed):
        for _ in range(2):
            sel = index.select(area(), CHANNELS, MONDAY_NOON)
            assert addresses(sel, "voice") == {"a": LANDLINE}
            assert sel.skipped("voice")["duplicate_address"] == 2
            assert addresses(sel, "sms") == {"a": MOBILE, "b": WORK_MOBILE}
            index.compact()
    # b calls on the mobile now: no longer shares the landline
    followed.upsert(Participant.from_dict(record("b", {"number": WORK_MOBILE})))
    assert calls(followed) == {"a": LANDLINE, "b": WORK_MOBILE}


def test_loaders_in_other_processes_bring_their_second_numbers():
    records = [p.to_dict() for p in many(90, 4)]
    parts = []
    for chunk in (records[:25], records[25:60], records[60:]):
        part = IndexLoader(AudienceIndex())
        part.add_records(chunk)
        parts.append(part.export())
    loader = IndexLoader(AudienceIndex())
    for part in parts:
        loader.merge(part)
    assert calls(loader.finish()) == calls(AudienceIndex.build(many(90, 4)))


def test_a_snapshot_of_another_layout_is_refused_so_the_index_is_rebuilt():
    meta, arrays = AudienceIndex.build(people()).snapshot()
    for layout in (1, 2, 3):
        with pytest.raises(ValueError, match="layout"):
            AudienceIndex.from_snapshot({**meta, "layout": layout}, arrays)


# -- the hub: dry run, real selection and the API, on both stores --------------------------------


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    return request.param


async def test_the_dry_run_and_the_action_text_the_mobile_and_call_the_landline(make_hub, tmp_path):
    async with citizen_hub(make_hub, tmp_path, sandbox=True) as (hub, http, *_):
        await hub.registry.register(split("p1"))
        await hub.registry.register(record("p2", {"number": WORK_MOBILE}))  # no choice: both on the mobile
        plan = (await hub.actions.plan(start(), DISPATCHER))["audience"]["channels"]
        assert plan["sms"]["targeted"] == 2 and plan["voice"]["targeted"] == 2
        action = await hub.actions.start(start(), DISPATCHER)
        rows = {(r["participant_id"], r["channel"]): r["address"] for r in await hub.store.ledger_rows(action["id"])}
        assert rows == {
            ("p1", "sms"): MOBILE, ("p1", "voice"): LANDLINE,
            ("p2", "sms"): WORK_MOBILE, ("p2", "voice"): WORK_MOBILE,
        }
        # the index the hub loads from its store (the bulk path) agrees
        await hub.registry.load()
        sel = hub.audience.select(area(), CHANNELS, datetime.now(AMS))
        assert addresses(sel, "voice") == {"p1": LANDLINE, "p2": WORK_MOBILE}


async def test_me_and_participants_take_and_give_per_number_channels(make_hub, tmp_path):
    async with citizen_hub(make_hub, tmp_path, sandbox=True) as (hub, http, *_):
        data = {**record("p1", {"number": MOBILE}, {"number": LANDLINE}), "email": "p1@example.net"}
        await hub.registry.register(data)
        me = {"Authorization": f"Bearer {await hub.verifier.open_session('p1')}"}
        data = await (await http.get("/v1/me", headers=me)).json()
        assert [(p["number"], p["channels"], p["verified"]) for p in data["phones"]] == [
            (MOBILE, ["sms", "voice"], True), (LANDLINE, ["voice"], True),
        ]
        data["phones"][0]["channels"] = ["sms"]
        r = await http.put("/v1/me", json=data, headers=me)
        assert r.status == 200, await r.text()
        body = await r.json()
        assert [p["channels"] for p in body["phones"]] == [["sms"], ["voice"]]
        assert all(p["verified"] for p in body["phones"])  # the same numbers stay proven
        participant = Participant.from_dict(await hub.registry.get("p1"), validate=False)
        assert (participant.sms_number, participant.voice_number) == (MOBILE, LANDLINE)
        sel = hub.audience.select(area(), CHANNELS, datetime.now(AMS))
        assert addresses(sel, "voice") == {"p1": LANDLINE}

        data["phones"][1]["channels"] = ["sms", "voice"]
        for method, path in (("PUT", "/v1/me"), ("PUT", "/v1/participants/p1")):
            r = await http.request(method, path, json=data, headers=me)
            assert r.status == 422, await r.text()
            assert (await r.json())["field"] == "phones[1].channels"
