"""Routing rules: the shipped defaults, the Alertmanager-style walk, validation and reloading."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hub.errors import ConfigError, ValidationError
from hub.models import ActionType, Domain, Urgency
from hub.routing import DEFAULT_RULES, RouteFacts, RuleHolder, RuleSet
from hub.testing import make_action

DEFAULT_CHANNELS = {"matrix_boards", "sms", "voice", "app", "twitter", "email", "messenger", "webhook"}


def rules(text: str, **kw) -> RuleSet:
    return RuleSet.load(textwrap.dedent(text), **kw)


@pytest.fixture(scope="module")
def defaults() -> RuleSet:
    return RuleSet.load(DEFAULT_RULES, known_channels=DEFAULT_CHANNELS)


# -- the shipped defaults ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "type_, urgency, channels, routes",
    [
        ("missing_person", "time_critical", ["matrix_boards", "sms", "voice", "app", "twitter"],
         ["missing-person-signage", "time-critical"]),
        ("burglary", "time_critical", ["sms", "voice", "app", "twitter"], ["time-critical"]),
        ("robbery", "time_critical", ["sms", "voice", "app", "twitter"], ["time-critical"]),
        ("missing_person", "non_urgent", ["matrix_boards", "email", "messenger"],
         ["missing-person-signage", "non-urgent"]),
        ("burglary", "non_urgent", ["email", "messenger"], ["non-urgent"]),
        ("neighbourhood_inquiry", "non_urgent", ["email", "messenger"], ["non-urgent"]),
        ("prevention", "non_urgent", ["email", "messenger"], ["non-urgent"]),
        ("crisis", "time_critical", ["sms", "voice", "app", "twitter"], ["crisis"]),
    ],
)
def test_defaults_route_by_type_and_urgency(defaults, type_, urgency, channels, routes):
    decision = defaults.route(RouteFacts(type=type_, urgency=urgency, region="utrecht"))
    assert list(decision.channels) == channels
    assert list(decision.routes) == routes


@pytest.mark.parametrize("type_", [t for t in ActionType if t is not ActionType.MISSING_PERSON])
@pytest.mark.parametrize("urgency", list(Urgency))
def test_defaults_put_only_missing_persons_on_matrix_boards(defaults, type_, urgency):
    decision = defaults.route(RouteFacts(type=type_, urgency=urgency))
    assert "matrix_boards" not in decision.channels
    assert decision.channels, "every action reaches some channel"


@pytest.mark.parametrize(
    "type_, urgency, bypass",
    [("crisis", "time_critical", True), ("crisis", "non_urgent", False), ("missing_person", "time_critical", False)],
)
def test_defaults_let_only_time_critical_crisis_bypass_quiet_hours(defaults, type_, urgency, bypass):
    assert defaults.route(RouteFacts(type=type_, urgency=urgency)).bypass_quiet_hours is bypass


def test_defaults_only_name_known_channels(defaults):
    assert defaults.channels == DEFAULT_CHANNELS - {"webhook"}


def test_trace_explains_each_step(defaults):
    decision = defaults.route(RouteFacts(type="burglary", urgency="time_critical", region="utrecht"))
    trace = "\n".join(decision.trace)
    assert "action: type=burglary, urgency=time_critical, region=utrecht, domain=trace" in trace
    assert "missing-person-signage: no match (type is burglary, wanted missing_person)" in trace
    assert "  time-critical: matched (urgency is time_critical)" in trace
    assert "    crisis: no match (type is burglary, wanted crisis)" in trace
    assert "time-critical applies its own channels: sms, voice, app, twitter" in trace
    assert "not checked: non-urgent" in trace
    assert decision.trace[-1] == "result: sms, voice, app, twitter"


def test_decision_to_dict_is_json_ready(defaults):
    d = defaults.route(RouteFacts(type="crisis", urgency="time_critical")).to_dict()
    assert d["routes"] == ["crisis"]
    assert d["channels"] == ["sms", "voice", "app", "twitter"]
    assert d["bypass_quiet_hours"] is True
    assert d["applied"] == [
        {"route": "crisis", "path": ["root", "time-critical", "crisis"],
         "channels": ["sms", "voice", "app", "twitter"], "bypass_quiet_hours": True}
    ]
    assert all(isinstance(line, str) for line in d["trace"])


# -- the walk ----------------------------------------------------------------------------------

TREE = """
    channels: [fallback]
    routes:
      - name: first
        match: {type: missing_person}
        channels: [a]
        continue: true
      - name: second
        match: {urgency: time_critical}
        channels: [b, a]
        routes:
          - name: second-north
            match: {region: [groningen, friesland]}
            channels: [north]
          - name: second-south
            match: {region: limburg}
            continue: true
          - name: second-south-extra
            match: {region: limburg, domain: trace}
            channels: [extra]
      - name: third
        match: {urgency: time_critical}
        channels: [never]
      - name: not-trace
        match_not: {domain: trace}
        channels: [other]
"""


@pytest.mark.parametrize(
    "facts, routes, channels",
    [
        # continue: first matches and the walk goes on; second then stops it (third never checked)
        (dict(type="missing_person", urgency="time_critical"), ["first", "second"], ["a", "b"]),
        # nested: the child matches, so the parent's own channels are not applied
        (dict(type="burglary", urgency="time_critical", region="friesland"), ["second-north"], ["north"]),
        # nested continue: the inheriting child and its next sibling both apply
        (dict(type="burglary", urgency="time_critical", region="limburg"),
         ["second-south", "second-south-extra"], ["b", "a", "extra"]),
        (dict(type="crisis", urgency="time_critical", region="limburg"), ["second-south"], ["b", "a"]),
        # no region never matches a region condition
        (dict(type="burglary", urgency="time_critical"), ["second"], ["b", "a"]),
        # match_not
        (dict(type="prevention", urgency="non_urgent"), ["not-trace"], ["other"]),
        # nothing matches: the root's channels
        (dict(type="burglary", urgency="non_urgent"), ["root"], ["fallback"]),
        # continue into a fallback: first applies, then nothing else matches
        (dict(type="missing_person", urgency="non_urgent"), ["first"], ["a"]),
    ],
)
def test_walk(facts, routes, channels):
    decision = rules(TREE).route(RouteFacts(**facts))
    assert list(decision.routes) == routes
    assert list(decision.channels) == channels


def test_region_condition_explains_a_missing_region():
    decision = rules(TREE).route(RouteFacts(type="burglary", urgency="time_critical"))
    assert "    second-north: no match (region is not set, wanted one of friesland, groningen)" in decision.trace


def test_domain_defaults_from_type_and_can_be_given():
    assert RouteFacts(type="crisis", urgency="time_critical").domain is Domain.ALERT
    assert RouteFacts(type="crisis", urgency="time_critical", domain="inform").domain is Domain.INFORM
    tree = rules("routes:\n  - name: inform\n    match: {domain: inform}\n    channels: [x]\n")
    assert tree.route(RouteFacts(type="prevention", urgency="non_urgent")).channels == ("x",)
    assert tree.route(RouteFacts(type="burglary", urgency="non_urgent")).channels == ()


def test_facts_refuse_unknown_values():
    with pytest.raises(ValidationError) as e:
        RouteFacts(type="plane", urgency="time_critical")
    assert e.value.field == "type"
    assert "'plane' is not one of" in e.value.reason


def test_route_takes_an_action_view(defaults):
    action = make_action(type="missing_person", urgency="non_urgent")
    assert defaults.route(action).channels == ("matrix_boards", "email", "messenger")


def test_bypass_is_inherited_and_can_be_switched_off():
    tree = rules(
        """
        routes:
          - name: crisis
            match: {type: crisis}
            channels: [sms]
            bypass_quiet_hours: true
            routes:
              - name: crisis-info
                match: {urgency: non_urgent}
                bypass_quiet_hours: false
              - name: crisis-now
                match: {urgency: time_critical}
        """
    )
    assert tree.route(RouteFacts(type="crisis", urgency="non_urgent")).bypass_quiet_hours is False
    assert tree.route(RouteFacts(type="crisis", urgency="time_critical")).bypass_quiet_hours is True


# -- refusing bad rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, field, reason",
    [
        ("routes:\n  - name: a\n    match: {type: plane}\n", "routes[0].match.type",
         "'plane' is not one of ['missing_person', 'burglary'"),
        ("routes:\n  - name: a\n  - name: b\n  - name: c\n    match:\n      type: [burglary, plane]\n",
         "routes[2].match.type[1]", "'plane' is not one of"),
        ("routes:\n  - match: {type: burglary}\n", "routes[0].name", "is required"),
        ("routes:\n  - name: a\n    chanels: [sms]\n", "routes[0].chanels", "did you mean 'channels'?"),
        ("routes:\n  - name: a\n    channels: [SMS]\n", "routes[0].channels[0]", "must be a channel name"),
        ("routes:\n  - name: a\n    channels: [sms, sms]\n", "routes[0].channels", "non-unique"),
        ("routes:\n  - name: a\n    continue: maybe\n", "routes[0].continue", "is not of type 'boolean'"),
        ("routes:\n  - name: a\n    match: {}\n", "routes[0].match", "should be non-empty"),
        ("routes:\n  - name: a\n    match: {urgency: soon}\n", "routes[0].match.urgency", "'soon' is not one of"),
        ("routes:\n  - name: a\n    match: {region: Noord Holland}\n", "routes[0].match.region",
         "must be a region id"),
        ("routes:\n  - name: a\n    match: {colour: red}\n", "routes[0].match.colour", "is not an allowed field"),
        ("match: {type: burglary}\n", "match", "is not an allowed field"),
        ("routes:\n  - name: a\n    routes:\n      - name: b\n        match: {domain: fun}\n",
         "routes[0].routes[0].match.domain", "'fun' is not one of"),
        ("routes:\n  - name: a\n  - name: a\n", "routes[1].name", "route name 'a' is used twice (also at routes[0].name)"),
        ("version: 2\n", "version", "1 was expected"),
        ("", "(root)", "got an empty file"),
        ("- name: a\n", "(root)", "got a list"),
    ],
)
def test_bad_rules_are_refused_with_field_and_reason(text, field, reason):
    with pytest.raises(ValidationError) as e:
        RuleSet.load(text)
    assert e.value.field == field
    assert reason in e.value.reason
    assert e.value.as_dict()["field"] == field


def test_reasons_name_the_line():
    text = "channels: []\nroutes:\n  - name: a\n    channels:\n      - sms\n      - Email\n"
    with pytest.raises(ValidationError) as e:
        RuleSet.load(text)
    assert e.value.field == "routes[0].channels[1]"
    assert e.value.reason.endswith("at line 6")


def test_unknown_channel_is_named_with_the_known_ones():
    text = "routes:\n  - name: a\n    channels: [sms]\n  - name: b\n    channels: [smss]\n"
    with pytest.raises(ValidationError) as e:
        RuleSet.load(text, known_channels=["sms", "email"])
    assert str(e.value) == (
        "routes[1].channels[0]: unknown channel 'smss' (did you mean 'sms'? known: email, sms), at line 5"
    )
    RuleSet.load(text.replace("smss", "email"), known_channels=["sms", "email"])


def test_unknown_channel_in_a_nested_route_and_the_root():
    with pytest.raises(ValidationError) as e:
        RuleSet.load("routes:\n  - name: a\n    routes:\n      - name: b\n        channels: [pager]\n",
                     known_channels=["sms"])
    assert e.value.field == "routes[0].routes[0].channels[0]"
    with pytest.raises(ValidationError) as e:
        RuleSet.load("channels: [pager]\n", known_channels=["sms"])
    assert e.value.field == "channels[0]"


@pytest.mark.parametrize(
    "text, where",
    [
        ("routes:\n  - name: a\n    channels: [sms\n", "line 4"),
        ("routes:\n  - name: a\n   match: {}\n", "line 3"),
        ("channels: []\nroutes: []\nchannels: [sms]\n", "line 3, column 1"),
    ],
)
def test_yaml_errors_name_the_line(text, where):
    with pytest.raises(ConfigError) as e:
        RuleSet.load(text, source="routes.yaml")
    assert not isinstance(e.value, ValidationError)
    assert f"routes.yaml, {where}" in str(e.value)


def test_duplicate_keys_are_refused():
    with pytest.raises(ConfigError, match=r"duplicate key 'channels' \(first at line 1\)"):
        RuleSet.load("channels: []\nroutes: []\nchannels: [sms]\n")


def test_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read routing rules"):
        RuleSet.load(tmp_path / "nope.yaml")


# -- the rules in force ------------------------------------------------------------------------

GOOD = "routes:\n  - name: all\n    channels: [sms]\n"
BETTER = "routes:\n  - name: all\n    channels: [sms, email]\n"


def test_reload_swaps_valid_rules():
    holder = RuleHolder(RuleSet.load(GOOD), known_channels={"sms", "email"})
    facts = RouteFacts(type="burglary", urgency="time_critical")
    assert holder.route(facts).channels == ("sms",)
    holder.reload(BETTER)
    assert holder.current.route(facts).channels == ("sms", "email")
    assert holder.text == BETTER
    assert holder.generation == 2


@pytest.mark.parametrize(
    "bad, error",
    [
        ("routes:\n  - name: all\n    channels: [pager]\n", ValidationError),
        ("routes:\n  - name: all\n    match: {type: plane}\n", ValidationError),
        ("routes: [\n", ConfigError),
        ("", ValidationError),
    ],
)
def test_reload_keeps_the_old_rules_on_error(bad, error):
    holder = RuleHolder(RuleSet.load(GOOD), known_channels={"sms", "email"})
    before = holder.current
    with pytest.raises(error):
        holder.reload(bad)
    assert holder.current is before
    assert holder.text == GOOD
    assert holder.generation == 1
    assert holder.route(RouteFacts(type="burglary", urgency="time_critical")).channels == ("sms",)


def test_reload_from_the_file_and_save(tmp_path):
    path = tmp_path / "routes.yaml"
    path.write_text(GOOD)
    holder = RuleHolder.from_path(path)
    path.write_text(BETTER)
    holder.reload()
    assert holder.current.source == str(path)
    assert "email" in holder.current.channels
    holder.reload(GOOD)
    assert holder.save() == path
    assert path.read_text() == GOOD
    assert [p.name for p in tmp_path.iterdir()] == ["routes.yaml"]


def test_save_never_overwrites_the_shipped_defaults():
    holder = RuleHolder.from_path(DEFAULT_RULES)
    assert not holder.writable
    before = DEFAULT_RULES.read_text()
    with pytest.raises(ConfigError, match=r"\[hub\] routes"):
        holder.save()
    assert DEFAULT_RULES.read_text() == before


def test_a_str_path_is_read_as_text_and_says_so():
    with pytest.raises(ValidationError, match="pathlib.Path reads a file"):
        RuleSet.load(str(Path("routes.yaml")))
