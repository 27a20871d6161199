"""Participants: validation and normalisation, availability windows, pauses, quiet hours, CSV import."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from hub.channel import Contact
from hub.errors import ValidationError
from hub.participants import (
    CSV_COLUMNS,
    INTERRUPTIVE_CHANNELS,
    Participant,
    Phone,
    RowError,
    SkipReason,
    Window,
    normalize_phone,
    parse_csv,
)

AMS = ZoneInfo("Europe/Amsterdam")
HOME = {"lat": 52.0907, "lon": 5.1214}
WORK = {"label": "work", "lat": 52.3728, "lon": 4.8936}


def make(**fields) -> Participant:
    return Participant.from_dict({"addresses": [HOME], **fields})


def local(*args) -> datetime:
    """A moment given in Amsterdam local time."""
    return datetime(*args, tzinfo=AMS)


# -- phone numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, number, kind",
    [
        ("0612345678", "+31612345678", "mobile"),
        ("06 12 34 56 78", "+31612345678", "mobile"),
        ("06-12345678", "+31612345678", "mobile"),
        ("+31 6 1234 5678", "+31612345678", "mobile"),
        ("0031612345678", "+31612345678", "mobile"),
        ("(020) 123 4567", "+31201234567", "landline"),
        ("030-2345678", "+31302345678", "landline"),
        ("+49 170 1234567", "+491701234567", "mobile"),
        ("+32 470 12 34 56", "+32470123456", "mobile"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(raw, number, kind):
    assert normalize_phone(raw) == Phone(number, kind)


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("06-1234", "not a valid phone number"),
        ("hello", "not a phone number"),
        ("0800 0011", "not a personal phone number"),  # toll-free
        ("0900 1234567", "not a personal phone number"),  # premium rate
    ],
)
def test_bad_phone_numbers_name_the_field(raw, reason):
    with pytest.raises(ValidationError) as e:
        make(phones=[{"number": "0612345678"}, {"number": raw}])
    assert (e.value.field, e.value.reason) == ("phones[1].number", reason)


def test_phones_keep_a_given_kind_and_drop_repeats():
    numbers = [{"number": "06 12345678"}, {"number": "+31612345678"}, {"number": "020 1234567", "kind": "mobile"}]
    p = make(phones=numbers)
    assert p.phones == (Phone("+31612345678", "mobile"), Phone("+31201234567", "mobile"))


# -- validation ----------------------------------------------------------------------------------


def test_defaults_and_normalisation():
    p = make(email="Jan@Example.NL", channels=["sms"], quiet_hours={"from": "23:00", "to": "07:00"})
    assert len(p.id) == 16 and p.id.isalnum()
    assert p.language == "nl" and p.timezone == "Europe/Amsterdam"
    assert p.email == "jan@example.nl"
    assert p.addresses[0].label == "home" and p.addresses[0].availability == ()
    assert p.quiet_hours.channels == INTERRUPTIVE_CHANNELS == ("voice", "sms", "app")


def test_to_dict_round_trips_and_revalidates():
    data = {
        "id": "p-1",
        "language": "en",
        "timezone": "Europe/London",
        "phones": [{"number": "0612345678"}, {"number": "0201234567"}],
        "email": "a@b.nl",
        "channels": ["sms", "voice", "email"],
        "addresses": [
            {**HOME, "postcode": "3511 ab", "city": "Utrecht"},
            {**WORK, "availability": [{"days": ["mon", "tue"], "from": "08:00", "to": "18:00"}]},
        ],
        "quiet_hours": {"from": "22:30", "to": "06:45", "channels": ["sms"]},
        "paused_until": "2025-08-01",
    }
    p = Participant.from_dict(data)
    assert p.addresses[0].postcode == "3511 AB"
    stored = p.to_dict()
    assert Participant.from_dict(stored) == p  # validated again
    assert Participant.from_dict(stored, validate=False) == p  # trusted path used when loading the store
    assert stored["paused_until"] == "2025-08-01"
    assert stored["addresses"][1]["availability"] == [{"days": ["mon", "tue"], "from": "08:00", "to": "18:00"}]


def window(w: dict) -> dict:
    return {"addresses": [{**HOME, "availability": [w]}]}


@pytest.mark.parametrize(
    "data, field",
    [
        ({"addresses": []}, "addresses"),
        ({}, "addresses"),
        ({"addresses": [HOME], "language": "fr"}, "language"),
        ({"addresses": [{"lat": 100, "lon": 5}]}, "addresses[0].lat"),
        ({"addresses": [{"lat": 52}]}, "addresses[0].lon"),
        ({"addresses": [{**HOME, "floor": 3}]}, "addresses[0].floor"),
        (window({"from": "25:00", "to": "08:00"}), "addresses[0].availability[0].from"),
        (window({"from": "08:00", "to": "08:00"}), "addresses[0].availability[0].to"),
        (window({"days": ["sun", "funday"], "from": "08:00", "to": "09:00"}), "addresses[0].availability[0].days[1]"),
        ({"addresses": [HOME], "quiet_hours": {"from": "23:00"}}, "quiet_hours.to"),
        ({"addresses": [HOME], "quiet_hours": {"from": "07:00", "to": "07:00"}}, "quiet_hours.to"),
        ({"addresses": [HOME], "timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"addresses": [HOME], "paused_until": "tomorrow"}, "paused_until"),
        ({"addresses": [HOME], "paused_until": "2025-02-30"}, "paused_until"),
        ({"addresses": [HOME], "channels": ["SMS!"]}, "channels[0]"),
        ({"addresses": [HOME], "email": "not-an-address"}, "email"),
        ({"addresses": [HOME], "id": "has space"}, "id"),
        ({"addresses": [HOME], "phones": [{"number": "0612345678", "kind": "fax"}]}, "phones[0].kind"),
    ],
)
def test_invalid_participants_name_the_field(data, field):
    with pytest.raises(ValidationError) as e:
        Participant.from_dict(data)
    assert field in [f for f, _ in e.value.errors]
    assert e.value.field in [f for f, _ in e.value.errors]


def test_reasons_do_not_echo_personal_data():
    with pytest.raises(ValidationError) as e:
        make(email="jan.jansen at example", phones=[{"number": "1"}])
    text = repr(e.value.errors)
    assert "jan.jansen" not in text and "'1'" not in text


def test_every_problem_is_listed():
    with pytest.raises(ValidationError) as e:
        Participant.from_dict({"addresses": [{"lat": 91, "lon": 5}], "language": "de", "channels": [1]})
    assert {f for f, _ in e.value.errors} >= {"addresses[0].lat", "language", "channels[0]"}


# -- contacts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phones, email, mobile, phone, mail",
    [
        ([], None, None, None, None),
        (["0201234567"], None, None, "+31201234567", None),
        (["0201234567", "0612345678"], "a@b.nl", "+31612345678", "+31612345678", "a@b.nl"),
        (["0612345678", "0687654321"], None, "+31612345678", "+31612345678", None),
    ],
)
def test_contact_for(phones, email, mobile, phone, mail):
    p = make(phones=[{"number": n} for n in phones], email=email)
    assert p.contact_for(Contact.MOBILE) == mobile
    assert p.contact_for(Contact.PHONE) == phone
    assert p.contact_for(Contact.EMAIL) == mail
    assert p.contact_for("mobile") == mobile


# -- availability windows ------------------------------------------------------------------------

WEEKDAYS_8_18 = [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "18:00"}]
FRIDAY_NIGHT = [{"days": ["fri"], "from": "22:00", "to": "06:00"}]


@pytest.mark.parametrize(
    "windows, at, available",
    [
        (None, local(2024, 6, 8, 3, 0), True),  # no windows: always
        (WEEKDAYS_8_18, local(2024, 6, 3, 10, 0), True),  # Monday 10:00
        (WEEKDAYS_8_18, local(2024, 6, 3, 8, 0), True),  # start included
        (WEEKDAYS_8_18, local(2024, 6, 3, 7, 59), False),
        (WEEKDAYS_8_18, local(2024, 6, 3, 18, 0), False),  # end excluded
        (WEEKDAYS_8_18, local(2024, 6, 7, 17, 59), True),  # Friday
        (WEEKDAYS_8_18, local(2024, 6, 8, 10, 0), False),  # Saturday
        (WEEKDAYS_8_18, local(2024, 6, 9, 10, 0), False),  # Sunday
        (WEEKDAYS_8_18, datetime(2024, 6, 3, 6, 30, tzinfo=timezone.utc), True),  # 08:30 summer time
        (WEEKDAYS_8_18, datetime(2024, 1, 8, 6, 30, tzinfo=timezone.utc), False),  # 07:30 winter time
        (FRIDAY_NIGHT, local(2024, 6, 7, 23, 0), True),  # Friday 23:00
        (FRIDAY_NIGHT, local(2024, 6, 8, 3, 0), True),  # Saturday 03:00: the night that began on Friday
        (FRIDAY_NIGHT, local(2024, 6, 8, 6, 0), False),
        (FRIDAY_NIGHT, local(2024, 6, 8, 23, 0), False),  # Saturday evening: not a start day
        (FRIDAY_NIGHT, local(2024, 6, 7, 3, 0), False),  # Friday 03:00 belongs to Thursday's night
        (FRIDAY_NIGHT, local(2024, 6, 6, 23, 0), False),
        ([{"days": ["sun"], "from": "20:00", "to": "02:00"}], local(2024, 6, 10, 1, 0), True),  # Sun -> Mon
        ([{"from": "18:00", "to": "24:00"}], local(2024, 6, 4, 23, 59), True),  # every day, up to midnight
        ([{"from": "18:00", "to": "24:00"}], local(2024, 6, 4, 0, 0), False),
    ],
)
def test_address_availability(windows, at, available):
    address = {**WORK, "availability": windows} if windows else WORK
    p = make(addresses=[HOME, address])
    assert p.address_available(1, at) is available
    assert p.address_available(0, at) is True


def test_window_covers_matches_to_dict():
    w = Window((4,), 22 * 60, 6 * 60)
    assert w.to_dict() == {"days": ["fri"], "from": "22:00", "to": "06:00"}
    assert w.day_mask == 0b10000


def test_availability_uses_the_participants_time_zone():
    p = make(timezone="America/New_York", addresses=[{**HOME, "availability": WEEKDAYS_8_18}])
    # Monday 15:00 in Amsterdam is 09:00 in New York
    assert p.address_available(0, local(2024, 6, 3, 15, 0))
    assert not p.address_available(0, local(2024, 6, 3, 10, 0))


def test_naive_moments_are_refused():
    with pytest.raises(ValueError):
        make().address_available(0, datetime(2024, 6, 3, 10, 0))


# -- pause and quiet hours -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "paused_until, at, paused",
    [
        ("2024-08-01", local(2024, 7, 31, 23, 59), True),
        ("2024-08-01", local(2024, 8, 1, 0, 0), False),  # a date: until that day starts, locally
        ("2024-08-01T18:00", local(2024, 8, 1, 17, 59), True),  # no offset: participant's local time
        ("2024-08-01T18:00", local(2024, 8, 1, 18, 0), False),
        ("2024-08-01T18:00:00Z", local(2024, 8, 1, 19, 59), True),  # 18:00 UTC is 20:00 in summer
        ("2024-08-01T18:00:00+02:00", local(2024, 8, 1, 18, 0), False),
        (None, local(2024, 8, 1, 18, 0), False),
    ],
)
def test_pause(paused_until, at, paused):
    p = make(channels=["sms"], phones=[{"number": "0612345678"}], paused_until=paused_until)
    assert p.is_paused(at) is paused
    assert p.reason_unavailable("sms", at) == (SkipReason.PAUSED if paused else None)


def test_pause_value_types():
    assert make(paused_until="2024-08-01").paused_until == date(2024, 8, 1)
    assert make(paused_until="2024-08-01T18:00").pause_end == local(2024, 8, 1, 18, 0)


QUIET = {"from": "23:00", "to": "07:00"}


@pytest.mark.parametrize(
    "channel, at, bypass, reason",
    [
        ("sms", local(2024, 6, 3, 23, 30), False, SkipReason.QUIET_HOURS),
        ("sms", local(2024, 6, 4, 6, 59), False, SkipReason.QUIET_HOURS),  # crosses midnight
        ("sms", local(2024, 6, 4, 7, 0), False, None),
        ("sms", local(2024, 6, 3, 22, 59), False, None),
        ("voice", local(2024, 6, 3, 23, 30), False, SkipReason.QUIET_HOURS),
        ("email", local(2024, 6, 3, 23, 30), False, None),  # not interruptive: not silenced by default
        ("sms", local(2024, 6, 3, 23, 30), True, None),  # the action bypasses quiet hours
        ("push", local(2024, 6, 3, 12, 0), False, SkipReason.CHANNEL_NOT_CHOSEN),
    ],
)
def test_quiet_hours(channel, at, bypass, reason):
    p = make(
        channels=["sms", "voice", "email"], phones=[{"number": "0612345678"}], email="a@b.nl", quiet_hours=QUIET
    )
    assert p.reason_unavailable(channel, at, bypass_quiet_hours=bypass) == reason


def test_quiet_hours_for_chosen_channels_only():
    p = make(channels=["sms", "email"], quiet_hours={**QUIET, "channels": ["email"]})
    assert p.in_quiet_hours("email", local(2024, 6, 3, 23, 30))
    assert not p.in_quiet_hours("sms", local(2024, 6, 3, 23, 30))


def test_reason_precedence_and_missing_contact():
    at = local(2024, 6, 3, 23, 30)
    p = make(channels=["sms", "email"], quiet_hours=QUIET, paused_until="2030-01-01")
    assert p.reason_unavailable("voice", at) == "paused"  # paused wins over everything
    p = make(channels=["sms", "email"], quiet_hours=QUIET)
    assert p.reason_unavailable("voice", at) == "channel_not_chosen"
    assert p.reason_unavailable("sms", at, contact=Contact.MOBILE) == "no_contact"
    assert p.reason_unavailable("sms", at) == "quiet_hours"  # contact not asked about


# -- CSV import ----------------------------------------------------------------------------------

HEADER = ",".join(CSV_COLUMNS)
CSV_TEXT = "\ufeff" + HEADER + """
p1,nl,06 12345678,,jan@example.nl,sms voice,52.0907,5.1214,52.3728,4.8936,mon-fri,08:00,18:00,23:00,07:00,
p2,en,06-1234,,,sms,52.0907,5.1214,,,,,,,,
p3,,,030 2345678,,voice;email,52.0907,5.1214,,,,,,,,2030-01-01

p4,nl,030 2345678,,,sms,52.0907,5.1214,,,,,,,,
p5,fr,0612345679,,,sms,52.0907,5.1214,,,,,,,,
p6,nl,0612345670,,,sms,,,,,mon-fri,08:00,18:00,,,
p7,nl,0612345671,,,sms,52.0907,,,,,,,,,
p1,nl,0612345672,,,sms,52.0907,5.1214,,,,,,,,
,nl,0612345673,,,sms,,,52.3728,4.8936,sat sun,10:00,16:00,,,
p10,nl,0612345674,,,sms,52.0907,5.1214,,,,,,23:00,,
p11,nl,0612345675,,,sms,52.0907,5.1214,,,,,,,,someday
"""


def test_csv_import_keeps_good_rows_and_reports_bad_ones():
    people, errors = parse_csv(CSV_TEXT)
    assert [p.id for p in people[:3]] == ["p1", "p3", people[2].id]
    assert len(people) == 3
    p1 = people[0]
    assert p1.phones == (Phone("+31612345678", "mobile", verified=False),)  # unless the import says so
    assert p1.channels == ("sms", "voice")
    assert p1.addresses[1].label == "work"
    assert p1.addresses[1].availability == (Window((0, 1, 2, 3, 4), 480, 1080),)
    assert p1.quiet_hours.start == 23 * 60
    p3 = people[1]
    assert p3.phones == (Phone("+31302345678", "landline", verified=False),) and p3.channels == ("voice", "email")
    assert p3.paused_until == date(2030, 1, 1)
    weekend = people[2]  # no id given: generated
    assert weekend.addresses[0].label == "work" and weekend.addresses[0].availability[0].days == (5, 6)

    found = {(e.row, e.field) for e in errors}
    assert found == {
        (3, "mobile"),  # invalid number
        (6, "mobile"),  # a landline in the mobile column
        (7, "language"),
        (8, "work_lat"),  # work hours without a work address
        (9, "home_lon"),  # lat without lon
        (10, "id"),  # repeated id
        (12, "quiet_to"),
        (13, "paused_until"),
    }
    by_row = {e.row: e for e in errors}
    assert by_row[10].reason == "already used on row 2"
    assert by_row[3].id == "p2"
    assert all(isinstance(e, RowError) for e in errors)
    assert by_row[7].as_dict() == {"row": 7, "field": "language", "reason": by_row[7].reason, "id": "p5"}


def test_csv_semicolons_and_decimal_commas():
    text = "id;mobile;channels;home_lat;home_lon\nx1;0612345678;sms email;52,0907;5,1214\n"
    people, errors = parse_csv(text)
    assert errors == []
    assert (people[0].addresses[0].lat, people[0].addresses[0].lon) == (52.0907, 5.1214)
    assert people[0].channels == ("sms", "email")


def test_csv_unknown_column_rejects_the_file():
    people, errors = parse_csv("id,mobiel,home_lat,home_lon\nx,0612345678,52,5\n")
    assert people == [] and [(e.row, e.field, e.reason) for e in errors] == [(1, "mobiel", "unknown column")]


def test_csv_too_many_fields_and_empty_input():
    people, errors = parse_csv("id,home_lat,home_lon\nx,52,5,extra\ny,52,5\n")
    assert [p.id for p in people] == ["y"] and errors[0].row == 2
    assert parse_csv("") == ([], [])


def test_csv_columns_are_documented():
    doc = parse_csv.__doc__
    assert all(f"``{c}``" in doc for c in CSV_COLUMNS)
