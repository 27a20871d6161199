"""Audience selection: who an area reaches, on which channel, once per person and once per address."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from hub.audience import columns as audience_columns
from hub import geo
from hub.audience import SKIP_REASONS, AudienceIndex, Member, select_audience
from hub.channel import Contact
from hub.models import Circle, Polygon, Recipient, TransportMode
from hub.participants import Address, Participant, Phone

AMS = ZoneInfo("Europe/Amsterdam")
MONDAY_NOON = datetime(2024, 6, 3, 12, 0, tzinfo=AMS)
SATURDAY_NOON = datetime(2024, 6, 8, 12, 0, tzinfo=AMS)
CHANNELS = {"sms": Contact.MOBILE, "voice": Contact.PHONE, "email": Contact.EMAIL}

UTRECHT = (52.0907, 5.1214)
AMSTERDAM = (52.3728, 4.8936)


def near(origin, metres, bearing=90.0):
    return geo.destination(*origin, metres, bearing)


def person(pid, *where, mobile=None, landline=None, email=None, channels=("sms", "voice", "email"), **extra):
    """A participant with addresses given as (lat, lon) or full address dicts."""
    addresses = [w if isinstance(w, dict) else {"lat": w[0], "lon": w[1]} for w in where]
    phones = [{"number": n} for n in (mobile, landline) if n]
    return Participant.from_dict(
        {"id": pid, "addresses": addresses, "phones": phones, "email": email, "channels": list(channels), **extra}
    )


def circle(origin=UTRECHT, radius=1_000, **kw):
    return Circle(lat=origin[0], lon=origin[1], radius_m=radius, **kw)


def ids(selection, channel):
    return sorted(m.participant_id for m in selection.recipients(channel))


def assert_partition(selection):
    for name, ch in selection.channels.items():
        assert selection.in_area == ch.count + sum(ch.skipped.values()), name
        assert set(ch.skipped) == set(SKIP_REASONS)


# -- one message per person, one per address -----------------------------------------------------


def test_two_addresses_in_the_area_give_one_message():
    p = person("a", UTRECHT, near(UTRECHT, 300), mobile="0612345678", email="a@example.nl")
    sel = AudienceIndex.build([p]).select(circle(), CHANNELS, MONDAY_NOON)
    assert sel.in_area == 1
    assert list(sel.recipients("sms")) == [Member("a", "+31612345678", "nl")]
    assert list(sel.recipients("email")) == [Member("a", "a@example.nl", "nl")]
    assert list(sel.recipients("voice")) == [Member("a", "+31612345678", "nl")]
    assert_partition(sel)


def test_one_phone_registered_by_two_participants_gets_one_sms():
    people = [
        person("a", UTRECHT, mobile="0612345678", email="same@example.nl"),
        person("b", near(UTRECHT, 200), mobile="+31 6 12345678", email="Same@Example.nl", language="en"),
        person("c", near(UTRECHT, 400), mobile="0687654321", email="c@example.nl"),
    ]
    sel = AudienceIndex.build(people).select(circle(), CHANNELS, MONDAY_NOON)
    for channel in CHANNELS:
        addresses = [m.address for m in sel.recipients(channel)]
        assert len(addresses) == len(set(addresses)) == 2, channel
        assert sel.skipped(channel)["duplicate_address"] == 1
        assert {m.participant_id for m in sel.recipients(channel)} & {"a", "b"}
    assert_partition(sel)


def test_equal_email_hashes_do_not_merge_different_addresses(monkeypatch):
    monkeypatch.setattr(audience_columns, "_h32", lambda text: 7)  # every id and e-mail collides
    people = [person(f"p{i}", near(UTRECHT, 50 * i), email=f"p{i}@example.nl") for i in range(5)]
    people.append(person("dup", UTRECHT, email="p3@example.nl"))
    index = AudienceIndex.build(people)
    sel = index.select(circle(), {"email": Contact.EMAIL}, MONDAY_NOON)
    assert sorted(m.address for m in sel.recipients("email")) == [f"p{i}@example.nl" for i in range(5)]
    assert sel.skipped("email")["duplicate_address"] == 1
    assert all(f"p{i}" in index for i in range(5)) and "p9" not in index
    assert index.remove("p2") and "p2" not in index and "p1" in index


def test_duplicates_across_the_overlay_are_caught():
    index = AudienceIndex.build([person("a", UTRECHT, mobile="0612345678")], auto_compact=False)
    index.upsert(person("b", near(UTRECHT, 100), mobile="0612345678"))
    sel = index.select(circle(), {"sms": Contact.MOBILE}, MONDAY_NOON)
    assert sel.channels["sms"].count == 1 and sel.skipped("sms")["duplicate_address"] == 1


# -- areas ---------------------------------------------------------------------------------------


def test_polygon_selection_respects_a_concave_shape():
    # a U around Utrecht: the notch in the middle is outside
    lat, lon = UTRECHT
    u_shape = Polygon(
        points=(
            (lat - 0.02, lon - 0.03), (lat - 0.02, lon + 0.03), (lat + 0.02, lon + 0.03), (lat + 0.02, lon + 0.01),
            (lat - 0.01, lon + 0.01), (lat - 0.01, lon - 0.01), (lat + 0.02, lon - 0.01), (lat + 0.02, lon - 0.03),
        )
    )
    people = [
        person("bottom", (lat - 0.015, lon), mobile="0611111111"),
        person("notch", (lat + 0.01, lon), mobile="0622222222"),
        person("left", (lat + 0.01, lon - 0.02), mobile="0633333333"),
        person("right", (lat + 0.01, lon + 0.02), mobile="0644444444"),
        person("outside", (lat + 0.05, lon), mobile="0655555555"),
    ]
    sel = AudienceIndex.build(people).select(u_shape, {"sms": Contact.MOBILE}, MONDAY_NOON)
    assert ids(sel, "sms") == ["bottom", "left", "right"]
    assert sel.radius_m is None and sel.transport is None


def test_circle_across_the_border_reaches_participants_in_germany():
    glanerbrug = (52.2150, 6.9750)
    gronau = (52.2125, 7.0226)  # Germany, about 3 km east
    people = [
        person("nl", glanerbrug, mobile="0611111111"),
        person("de", gronau, mobile="+49 170 1234567", language="en"),
        person("far", (52.2215, 6.8937), mobile="0622222222"),  # Enschede centre, about 6 km west
    ]
    area = geo.circle_for(*glanerbrug, TransportMode.SCOOTER)
    sel = AudienceIndex.build(people).select(area, {"sms": Contact.MOBILE}, MONDAY_NOON)
    assert ids(sel, "sms") == ["de", "nl"]
    assert Member("de", "+491701234567", "en") in list(sel.recipients("sms"))
    assert (sel.radius_m, sel.transport) == (4_000, TransportMode.SCOOTER)
    assert sel.summary()["transport"] == "scooter"


@pytest.mark.parametrize("mode", list(TransportMode))
def test_radius_follows_the_mode_of_transport(mode):
    radius = geo.radius_for(mode)
    inside = person("in", near(UTRECHT, radius - 50), mobile="0611111111")
    outside = person("out", near(UTRECHT, radius + 50, 200), mobile="0622222222")
    sel = AudienceIndex.build([inside, outside]).select(
        geo.circle_for(*UTRECHT, mode), {"sms": Contact.MOBILE}, MONDAY_NOON
    )
    assert ids(sel, "sms") == ["in"] and sel.radius_m == radius and sel.transport is mode


# -- who is skipped, and why ---------------------------------------------------------------------

WEEKDAYS = [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "18:00"}]


def test_a_work_address_counts_on_weekdays_only():
    work = {"label": "work", "lat": UTRECHT[0], "lon": UTRECHT[1], "availability": WEEKDAYS}
    p = person("w", AMSTERDAM, work, mobile="0611111111")
    index = AudienceIndex.build([p])
    monday = index.select(circle(), {"sms": Contact.MOBILE}, MONDAY_NOON)
    saturday = index.select(circle(), {"sms": Contact.MOBILE}, SATURDAY_NOON)
    assert ids(monday, "sms") == ["w"]
    assert ids(saturday, "sms") == [] and saturday.in_area == 1
    assert saturday.skipped("sms")["address_unavailable"] == 1
    # with the home address in the area too, one available address is enough
    both = person("w", near(UTRECHT, 100), work, mobile="0611111111")
    assert ids(AudienceIndex.build([both]).select(circle(), {"sms": Contact.MOBILE}, SATURDAY_NOON), "sms") == ["w"]


def test_a_night_window_crossing_midnight():
    night = {"lat": UTRECHT[0], "lon": UTRECHT[1], "availability": [{"days": ["fri"], "from": "22:00", "to": "06:00"}]}
    index = AudienceIndex.build([person("n", night, mobile="0611111111")])
    at = {
        datetime(2024, 6, 7, 23, 0, tzinfo=AMS): True,
        datetime(2024, 6, 8, 5, 59, tzinfo=AMS): True,
        datetime(2024, 6, 8, 6, 0, tzinfo=AMS): False,
        datetime(2024, 6, 7, 5, 0, tzinfo=AMS): False,
    }
    for moment, reached in at.items():
        assert bool(index.select(circle(), {"sms": Contact.MOBILE}, moment).channels["sms"].count) is reached


NIGHT = {"from": "23:00", "to": "07:00"}


def test_skip_reasons():
    late = datetime(2024, 6, 3, 23, 30, tzinfo=AMS)
    people = [
        person("ok", UTRECHT, mobile="0610000001", email="ok@example.nl"),
        person("paused", UTRECHT, mobile="0610000002", paused_until="2024-06-10"),
        person("quiet", UTRECHT, mobile="0610000003", email="q@example.nl", quiet_hours=NIGHT),
        person("email_only", UTRECHT, mobile="0610000004", email="e@example.nl", channels=["email"]),
        person("landline", UTRECHT, landline="0302345678"),
    ]
    index = AudienceIndex.build(people)
    sel = index.select(circle(), CHANNELS, late)
    assert ids(sel, "sms") == ["ok"]
    assert sel.skipped("sms") == {
        "paused": 1, "channel_not_chosen": 1, "no_contact": 1,
        "address_unavailable": 0, "quiet_hours": 1, "duplicate_address": 0,
    }
    assert ids(sel, "voice") == ["landline", "ok"]  # PHONE: a landline will do
    assert ids(sel, "email") == ["email_only", "ok", "quiet"]  # e-mail is not silenced by default
    assert_partition(sel)
    bypass = index.select(circle(), CHANNELS, late, bypass_quiet_hours=True)
    assert ids(bypass, "sms") == ["ok", "quiet"] and bypass.skipped("sms")["quiet_hours"] == 0
    after_pause = index.select(circle(), CHANNELS, datetime(2024, 6, 10, 0, 0, tzinfo=AMS))
    assert "paused" in ids(after_pause, "sms")


def test_quiet_hours_in_the_participants_time_zone():
    p = person("ny", UTRECHT, mobile="0611111111", timezone="America/New_York", quiet_hours={**NIGHT, "from": "22:00"})
    index = AudienceIndex.build([p])
    # 04:00 in Amsterdam is 22:00 in New York: quiet; 14:00 in Amsterdam is 08:00 there: not
    assert index.select(circle(), {"sms": "mobile"}, datetime(2024, 6, 4, 4, 0, tzinfo=AMS)).channels["sms"].count == 0
    assert index.select(circle(), {"sms": "mobile"}, datetime(2024, 6, 4, 14, 0, tzinfo=AMS)).channels["sms"].count == 1


def test_count_only_and_summary():
    people = [person(f"p{i}", near(UTRECHT, 40 * i), mobile=f"06{10000000 + i}") for i in range(20)]
    index = AudienceIndex.build(people)
    full = index.select(circle(), {"sms": Contact.MOBILE}, MONDAY_NOON)
    dry = index.select(circle(), {"sms": Contact.MOBILE}, MONDAY_NOON, count_only=True)
    assert dry.count_only and len(dry.recipients("sms")) == 0
    assert dry.channels["sms"].count == full.channels["sms"].count == 20
    assert dry.summary() == full.summary()
    assert full.summary()["channels"]["sms"] == {"recipients": 20, "skipped": dict.fromkeys(SKIP_REASONS, 0)}


def test_empty_areas_and_indexes():
    empty = AudienceIndex().select(circle(), CHANNELS, MONDAY_NOON)
    assert empty.in_area == 0 and all(c.count == 0 for c in empty.channels.values())
    index = AudienceIndex.build([person("a", AMSTERDAM, mobile="0611111111")])
    assert index.select(circle(), CHANNELS, MONDAY_NOON).in_area == 0
    with pytest.raises(ValueError):
        index.select(circle(), CHANNELS, datetime(2024, 6, 3, 12, 0))  # naive


def test_members_behave_as_a_sequence():
    people = [person(f"p{i}", near(UTRECHT, 40 * i), mobile=f"06{10000000 + i}", language="en") for i in range(5)]
    members = AudienceIndex.build(people).select(circle(), {"sms": "mobile"}, MONDAY_NOON).recipients("sms")
    listed = list(members)
    assert len(members) == 5 and [members[i] for i in range(5)] == listed and members[1:3] == listed[1:3]
    assert members[-1] == listed[-1]
    first = listed[0]
    assert first.recipient() == Recipient(address=first.address, participant_id=first.participant_id, language="en")
    pid, address, language = listed[0]  # unpacks like a tuple for the ledger
    assert address.startswith("+316")


# -- changes -------------------------------------------------------------------------------------


def test_incremental_add_update_remove():
    index = AudienceIndex.build([person("a", UTRECHT, mobile="0611111111")])
    sms = {"sms": Contact.MOBILE}
    index.upsert(person("b", near(UTRECHT, 100), mobile="0622222222"))
    assert ids(index.select(circle(), sms, MONDAY_NOON), "sms") == ["a", "b"]
    index.upsert(person("a", AMSTERDAM, mobile="0611111111"))  # moved away
    assert ids(index.select(circle(), sms, MONDAY_NOON), "sms") == ["b"]
    assert ids(index.select(circle(AMSTERDAM), sms, MONDAY_NOON), "sms") == ["a"]
    index.upsert(person("b", near(UTRECHT, 100), mobile="0622222222", channels=["email"]))  # switched sms off
    assert ids(index.select(circle(), sms, MONDAY_NOON), "sms") == []
    assert index.remove("b") and not index.remove("b") and not index.remove("nobody")
    assert index.select(circle(), sms, MONDAY_NOON).in_area == 0
    assert len(index) == 1 and "a" in index and "b" not in index
    index.compact()
    assert len(index) == 1 and index.stats()["tombstones"] == 0 and index.stats()["overlay_addresses"] == 0
    assert ids(index.select(circle(AMSTERDAM), sms, MONDAY_NOON), "sms") == ["a"]
    index.upsert(person("b", UTRECHT, mobile="0622222222"))
    assert ids(index.select(circle(), sms, MONDAY_NOON), "sms") == ["b"]


def test_a_later_duplicate_id_replaces_the_earlier_at_build():
    index = AudienceIndex.build([person("a", UTRECHT, mobile="0611111111"), person("a", AMSTERDAM)])
    assert len(index) == 1
    assert index.select(circle(), {"sms": "mobile"}, MONDAY_NOON).in_area == 0
    assert index.select(circle(AMSTERDAM), {"sms": "mobile"}, MONDAY_NOON).in_area == 1


def test_selections_survive_later_changes():
    index = AudienceIndex.build([person(f"p{i}", near(UTRECHT, 30 * i), mobile=f"06{10000000 + i}") for i in range(10)])
    before = index.select(circle(), {"sms": "mobile"}, MONDAY_NOON)
    expected = list(before.recipients("sms"))
    for i in range(10):
        index.remove(f"p{i}")
    index.upsert(person("new", UTRECHT, mobile="0612999999"))
    index.compact()
    assert list(before.recipients("sms")) == expected


def test_auto_compaction_keeps_results():
    rng = random.Random(5)
    index = AudienceIndex.build([person("seed", UTRECHT, mobile="0610000000")])
    for i in range(4_200):  # more than the overlay threshold
        lat, lon = near(UTRECHT, rng.uniform(0, 3_000), rng.uniform(0, 360))
        index.upsert(
            Participant(
                id=f"p{i}",
                addresses=(Address(lat, lon),),
                phones=(Phone(f"+316{20000000 + i}", "mobile"),),
                channels=("sms",),
            )
        )
    assert index.stats()["overlay_addresses"] < 4_200  # merged at least once
    for i in range(0, 4_200, 2):
        index.remove(f"p{i}")
    sel = index.select(circle(radius=3_100), {"sms": "mobile"}, MONDAY_NOON)
    expected = ["seed"] + [f"p{i}" for i in range(1, 4_200, 2)]
    assert sorted(m.participant_id for m in sel.recipients("sms")) == sorted(expected)
    assert len(index) == 2_101


# -- against a plain reference implementation ----------------------------------------------------


def reference(people, area, channels, at, bypass):
    """The rules written out directly on Participant methods, one person at a time."""
    result = {}
    in_area = [p for p in people if any(geo.contains(area, a.lat, a.lon) for a in p.addresses)]
    for name, contact in channels.items():
        skipped = Counter()
        eligible = []
        for p in in_area:
            inside = [i for i, a in enumerate(p.addresses) if geo.contains(area, a.lat, a.lon)]
            reason = p.reason_unavailable(name, at, bypass_quiet_hours=True, contact=contact)
            if reason is None and not any(p.address_available(i, at) for i in inside):
                reason = "address_unavailable"
            if reason is None and not bypass and p.in_quiet_hours(name, at):
                reason = "quiet_hours"
            if reason:
                skipped[reason] += 1
            else:
                eligible.append(p)
        by_address = {}
        for p in eligible:
            by_address.setdefault(p.contact_for(contact), []).append(p.id)
        skipped["duplicate_address"] = len(eligible) - len(by_address)
        result[name] = (by_address, {r: skipped.get(r, 0) for r in SKIP_REASONS})
    return len(in_area), result


def random_people(rng: random.Random, n: int) -> list[Participant]:
    zones = ["Europe/Amsterdam"] * 6 + ["Europe/London", "America/New_York"]
    windows = [
        [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "18:00"}],
        [{"days": ["sat", "sun"], "from": "10:00", "to": "16:00"}],
        [{"days": ["fri", "sat"], "from": "21:00", "to": "03:00"}, {"days": ["mon"], "from": "00:00", "to": "24:00"}],
    ]
    mobiles = [f"06{30000000 + i}" for i in range(n * 2 // 3)]
    emails = [f"u{i}@example.nl" for i in range(n * 2 // 3)]
    people = []
    for i in range(n):
        addresses = []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            lat, lon = near(UTRECHT, rng.uniform(0, 4_000), rng.uniform(0, 360))
            address = {"lat": lat, "lon": lon}
            if rng.random() < 0.4:
                address["availability"] = rng.choice(windows)
            addresses.append(address)
        data = {
            "id": f"r{i}",
            "addresses": addresses,
            "timezone": rng.choice(zones),
            "language": rng.choice(["nl", "en"]),
            "channels": rng.sample(["sms", "voice", "email", "app"], rng.randint(0, 4)),
            "phones": [{"number": rng.choice(mobiles)}] if rng.random() < 0.8 else [],
        }
        if rng.random() < 0.2:
            data["phones"].append({"number": f"030{2000000 + rng.randint(0, n // 2)}"})
        for phone in data["phones"]:  # some say what each number takes: SMS here, calls there
            if rng.random() < 0.3:
                takes = ["voice"] if phone["number"].startswith("030") else ["sms", "voice"]
                phone["channels"] = rng.sample(takes, rng.randint(0, len(takes)))
        if rng.random() < 0.7:
            data["email"] = rng.choice(emails)
        if rng.random() < 0.3:
            data["quiet_hours"] = rng.choice(
                [{"from": "23:00", "to": "07:00"}, {"from": "12:00", "to": "13:30", "channels": ["email", "sms"]}]
            )
        if rng.random() < 0.1:
            data["paused_until"] = rng.choice(["2024-06-04", "2024-06-03T12:30", "2024-06-05T00:00:00Z"])
        people.append(Participant.from_dict(data))
    return people


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_the_reference_rules(seed):
    rng = random.Random(seed)
    people = random_people(rng, 400)
    index = AudienceIndex.build(people[:300], auto_compact=False)
    for p in people[300:]:
        index.upsert(p)  # some through the overlay
    for p in people[:20]:
        index.upsert(p)  # and some replaced
    channels = {**CHANNELS, "app": Contact.MOBILE}
    lat, lon = UTRECHT
    areas = [
        circle(radius=2_500),
        circle(near(UTRECHT, 2_000), radius=1_500),
        Polygon(points=((lat - 0.03, lon - 0.05), (lat + 0.03, lon - 0.01), (lat - 0.01, lon + 0.05))),
    ]
    start = datetime(2024, 6, 3, 0, 0, tzinfo=timezone.utc)
    seen = Counter()
    for area in areas:
        for _ in range(6):
            at = start + timedelta(minutes=rng.randrange(0, 7 * 24 * 60))
            bypass = rng.random() < 0.3
            sel = index.select(area, channels, at, bypass_quiet_hours=bypass)
            in_area, expected = reference(people, area, channels, at, bypass)
            assert sel.in_area == in_area
            for name, (by_address, skipped) in expected.items():
                got = {m.address: m.participant_id for m in sel.recipients(name)}
                assert set(got) == set(by_address), (name, at)
                assert all(got[a] in by_address[a] for a in got)
                assert dict(sel.skipped(name)) == skipped, (name, at)
                seen.update(skipped)
                seen["recipients"] += len(got)
            assert_partition(sel)
    assert all(seen[r] > 0 for r in (*SKIP_REASONS, "recipients")), seen  # every rule was exercised
    index.compact()
    assert index.select(areas[0], channels, start).summary() == select_audience(
        people, areas[0], channels, start
    ).summary()


# -- following changes ---------------------------------------------------------------------------


def assert_selects_like(index, people, areas, channels, rng):
    """``index`` selects what a freshly built index of ``people`` selects, and what the rules say."""
    fresh = AudienceIndex.build(list(people.values()))
    assert len(index) == len(people)
    assert all(pid in index for pid in rng.sample(sorted(people), min(10, len(people))))
    start = datetime(2024, 6, 3, 0, 0, tzinfo=timezone.utc)
    for area in areas:
        at = start + timedelta(minutes=rng.randrange(0, 7 * 24 * 60))
        bypass = rng.random() < 0.3
        sel = index.select(area, channels, at, bypass_quiet_hours=bypass)
        assert sel.summary() == fresh.select(area, channels, at, bypass_quiet_hours=bypass).summary()
        _, expected = reference(list(people.values()), area, channels, at, bypass)
        for name, (by_address, _) in expected.items():
            got = {m.address: m.participant_id for m in sel.recipients(name)}
            assert set(got) == set(by_address), name
            assert all(got[a] in by_address[a] for a in got)  # whoever shares an address may get it
        assert_partition(sel)


@pytest.mark.parametrize("seed", [11, 12])
def test_after_many_changes_selects_like_a_fresh_index(seed):
    """Updates (moves, new contact details), removals, newcomers and returns, with compaction steps
    aside, refused steps, selections held while changes come in (so updates cannot overwrite in
    place) and snapshot round trips: the index keeps selecting what a fresh one does."""
    rng = random.Random(seed)
    pool = random_people(rng, 600)
    people = {p.id: p for p in pool[:250]}
    index = AudienceIndex.build(list(people.values()), auto_compact=seed % 2 == 0)
    channels = {**CHANNELS, "app": Contact.MOBILE}
    lat, lon = UTRECHT
    areas = [
        circle(radius=2_500),
        circle(near(UTRECHT, 2_000), radius=1_500),
        Polygon(points=((lat - 0.03, lon - 0.05), (lat + 0.03, lon - 0.01), (lat - 0.01, lon + 0.05))),
    ]
    held = []
    for step in range(2_500):
        r = rng.random()
        if r < 0.45 and people:  # an update: someone else's addresses, contact details and preferences
            pid = rng.choice(sorted(people))
            people[pid] = Participant.from_dict({**rng.choice(pool).to_dict(), "id": pid})
            index.upsert(people[pid])
        elif r < 0.65:  # a newcomer, or someone removed before coming back
            pid = f"n{rng.randrange(400)}"
            people[pid] = Participant.from_dict({**rng.choice(pool).to_dict(), "id": pid})
            index.upsert(people[pid])
        elif r < 0.85 and people:
            pid = rng.choice(sorted(people))
            del people[pid]
            assert index.remove(pid) and not index.remove(pid)
        elif r < 0.88:  # a selection held for a while: what it lists must not change
            sel = index.select(rng.choice(areas), channels, MONDAY_NOON)
            held.append((sel, {c: list(sel.recipients(c)) for c in channels}))
        elif r < 0.90 and held:
            sel, before = held.pop(rng.randrange(len(held)))
            assert {c: list(sel.recipients(c)) for c in channels} == before
        elif r < 0.95:  # a compaction step computed aside, refused when a change came in between
            computed = index.compaction()
            if rng.random() < 0.2 and people:
                pid = rng.choice(sorted(people))
                del people[pid]
                index.remove(pid)
                assert not index.apply_compaction(computed)
            else:
                assert index.apply_compaction(computed)
        elif r < 0.97:  # a snapshot round trip, pending changes included
            meta, arrays = index.snapshot()
            index = AudienceIndex.from_snapshot(meta, {k: v.copy() for k, v in arrays.items()})
            held.clear()
        if step % 500 == 499:
            assert_selects_like(index, people, areas, channels, rng)
    for sel, before in held:
        assert {c: list(sel.recipients(c)) for c in channels} == before
    held.clear()
    sel = None  # no selection held any more: erasures and in-place updates go ahead
    while index.needs_compaction():
        assert index.apply_compaction(index.compaction())
    assert_selects_like(index, people, areas, channels, rng)
    index.compact()
    stats = index.stats()
    assert stats["overlay_addresses"] == 0 and stats["tombstones"] == 0 and not any(stats["pending"].values())
    assert stats["slots"] == len(index) == len(people)  # emptied slots taken or cut off
    assert_selects_like(index, people, areas, channels, rng)


def test_a_snapshot_holds_nothing_of_the_removed():
    people = [
        person(f"p{i}", near(UTRECHT, 40 * i), mobile=f"06{20000000 + i}", email=f"p{i}@example.nl") for i in range(8)
    ]
    index = AudienceIndex.build(people)
    gone = person("gone", (51.4321987, 5.4567891), mobile="0687654321", email="secret@example.nl")
    index.upsert(gone)
    index.compact()
    held = index.select(circle(), {"sms": "mobile"}, MONDAY_NOON)  # a lease: erasure waits for it
    index.remove("gone")
    index.remove("p3")
    index.upsert(person("p4", AMSTERDAM, mobile="0620000004", email="p4@example.nl"))  # moved
    for lease in (held, None):
        meta, arrays = index.snapshot()
        raw = b"".join(a.tobytes() for a in arrays.values())
        assert b"secret@example.nl" not in raw and b"gone" not in raw and b"p3@example.nl" not in raw
        assert not (arrays["phone"] == 31687654321).any() and not (arrays["second_numbers"] == 31687654321).any()
        assert not ((arrays["a_lat"] == np.float32(51.4321987)) | (arrays["o_lat"] == np.float32(51.4321987))).any()
        loaded = AudienceIndex.from_snapshot(meta, arrays)
        assert len(loaded) == 7 and "gone" not in loaded and "p3" not in loaded and "p4" in loaded
        assert ids(loaded.select(circle(AMSTERDAM), {"sms": "mobile"}, MONDAY_NOON), "sms") == ["p4"]
        del lease, meta, arrays, loaded
        held = None


def test_a_held_selection_does_not_make_every_change_compact():
    """While a selection lives, updates move participants to new slots and erasures wait; compaction
    keeps its pace, and once the selection is gone the slots are erased, reused and cut back."""
    rng = random.Random(3)
    pool = random_people(rng, 2_000)
    people = {p.id: p for p in pool[:1_500]}
    index = AudienceIndex.build(list(people.values()), auto_compact=False)
    held = index.select(circle(radius=4_000), {"sms": Contact.MOBILE}, MONDAY_NOON)
    before = list(held.recipients("sms"))
    assert before
    steps = 0
    for i in range(6_000):
        pid = rng.choice(sorted(people))
        if i % 10 == 0:
            del people[pid]
            index.remove(pid)
        else:
            people[pid] = Participant.from_dict({**rng.choice(pool).to_dict(), "id": pid})
            index.upsert(people[pid])
        if index.needs_compaction():
            assert index.apply_compaction(index.compaction())
            steps += 1
    assert steps < 40, steps  # one step per bound's worth of changes, not one per change
    assert list(held.recipients("sms")) == before
    assert index.stats()["slots"] > 1_500  # updates went to new slots
    del held
    index.compact()
    assert index.stats()["slots"] == len(index) == len(people)
    assert_selects_like(index, people, [circle(radius=4_000)], {"sms": Contact.MOBILE}, rng)
