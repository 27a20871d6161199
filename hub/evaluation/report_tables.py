"""The tables of a report: the headline figures, per action type, per channel, tips, reach, per
municipality and per action (see :mod:`.figures` for how each figure is defined, and :mod:`.tables`
for how a cell is printed)."""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import Any

from .. import places
from ..models import Result, Urgency
from . import where
from .figures import REACHED, TZ, ActionFigures, Report, _share, in_scope, reach_distribution
from .tables import COUNT, PEOPLE, RATE, SECONDS, SHARE, TEXT, WITHHELD, Column, Table, cell, small
from .texts import codes, translator, value

#: times-reached buckets: exact up to this many, then ranges
EXACT_REACH = 30
REACH_RANGES = ((31, 50), (51, 100), (101, None))


def tables(r: Report) -> list[Table]:
    out = [summary_table(r), results_table(r), channels_table(r), tips_table(r), reach_table(r),
           municipalities_table(r), actions_table(r), action_messages_table(r)]
    for t in out:
        t.language = r.language  # decimals as the report's language writes them (not in CSV)
    return out


def action_messages_table(r: Report) -> Table:
    """Per action, channel and message kind: the ledger's counts per outcome."""
    _ = translator(r.language)
    statuses = ("queued", "sending", "sent", "delivered", "failed", "cancelled", "skipped")
    cols = (Column("id", _("Action")), Column("channel", _("Channel"), codes=codes(r.language)), Column("kind", _("Message"), codes=codes(r.language)),
            Column("targeted", _("Targeted"), PEOPLE)) + tuple(Column(s, _(s.capitalize()), PEOPLE) for s in statuses) + (
        Column("delivered_share", _("Delivered share (of sent)"), SHARE, of="targeted"),)
    order = {"start": 0, "update": 1, "end": 2}

    def build() -> list[dict[str, Any]]:
        rows = []
        for a in r.actions:
            for channel in sorted(a.channels):
                for kind in sorted(a.channels[channel], key=lambda k: order.get(k, 9)):
                    counts = a.channels[channel][kind]
                    reached = sum(counts.get(s, 0) for s in REACHED)
                    row = {"id": a.id, "channel": channel, "kind": kind, "targeted": sum(counts.values()),
                           "delivered_share": _share(counts.get("delivered", 0), reached)}
                    row.update({s: counts.get(s, 0) for s in statuses})
                    rows.append(row)
        return rows

    return Table("action_messages", _("Per action, channel and message kind"), cols, build=build)


def withheld_figures(r: Report) -> set[str]:
    """The headline's counts of fewer than 5 people (0 < n < 5), and its shares and means computed from
    so few: printed nowhere and absent from the JSON, as a table withholds a share whose count of
    people is that small."""
    dist = reach_distribution(r.reach, r.registered)
    scope = in_scope(r.selection)
    people = {
        "participants": r.headline.get("participants"),
        "participants_reached": r.headline.get("participants_reached"),
        "median_times_reached": sum(c for _, c in dist),
        "participation_16_plus": sum(
            int(n) for p, n in zip(where.municipalities(), r.municipality_participants.tolist()) if scope(p)
        ),
        "mean_times_reached": sum(c for _, c in dist),
        "mean_times_reached_if_reached": sum(c for n, c in dist if n > 0),
        "share_reached_more_than_3": sum(c for n, c in dist if n > 3),
        "share_reached_more_than_5": sum(c for n, c in dist if n > 5),
    }
    return {key for key, n in people.items() if small(n)}


def summary_table(r: Report) -> Table:
    _ = translator(r.language)
    h = r.headline
    withheld = withheld_figures(r)
    rows = [
        ("actions", "Actions", COUNT),
        ("time_critical", "Time-critical actions", COUNT),
        ("response_share", "Time-critical actions with at least one participant response", SHARE),
        ("solved_share", "Ended actions solved thanks to participants", SHARE),
        ("solved_share_missing_persons", "Missing persons solved thanks to participants", SHARE),
        ("actions_per_100k", "Actions per 100,000 inhabitants in the period", RATE),
        ("actions_per_100k_per_year", "Actions per 100,000 inhabitants per year", RATE),
        ("participants", "Registered participants", PEOPLE),
        ("participation_16_plus", "Participants as a share of residents aged 16 and over (estimated)", SHARE),
        ("participants_reached", "Participants reached at least once", PEOPLE),
        ("mean_times_reached", "Times a participant was reached (mean, all registered)", RATE),
        ("mean_times_reached_if_reached", "Times a participant was reached (mean, those reached)", RATE),
        ("share_reached_more_than_3", "Participants reached more than 3 times", SHARE),
        ("share_reached_more_than_5", "Participants reached more than 5 times", SHARE),
    ]
    cols = (Column("figure", _("Figure")), Column("label", _("Description")), Column("value", _("Value")))
    out = Table("summary", _("The network's figures"), cols)
    for key, label, kind in rows:
        # a count of people prints as "< 5" itself; a figure computed from so few is withheld
        shown = WITHHELD if key in withheld and kind != PEOPLE else cell(h[key], Column("v", "", kind), language=r.language)
        out.rows.append({"figure": key, "label": _(label), "value": shown})
    return out


def results_table(r: Report) -> Table:
    _ = translator(r.language)
    cols = (Column("type", _("Action type"), codes=codes(r.language)), Column("actions", _("Actions"), COUNT),
            Column("time_critical", _("Time-critical"), COUNT),
            Column("with_response", _("Time-critical with a response"), COUNT),
            Column("response_share", _("Response share"), SHARE),
            Column("ended", _("Ended"), COUNT), Column("solved", _("Solved thanks to participants"), COUNT),
            Column("solved_share", _("Solved share"), SHARE))
    for res in Result:
        cols += (Column(f"result_{res.value}", _("Result: {}").format(value(res.value, r.language)), COUNT),)
    t = Table("types", _("Actions, responses and results per action type"), cols)
    groups: dict[str, list[ActionFigures]] = {}
    for a in r.actions:
        groups.setdefault(a.type, []).append(a)
    for kind in sorted(groups, key=lambda k: -len(groups[k])) + ["all"]:
        acts = r.actions if kind == "all" else groups[kind]
        crit = [a for a in acts if a.urgency == Urgency.TIME_CRITICAL]
        ended = [a for a in acts if a.status == "ended"]
        row = {"type": kind, "actions": len(acts), "time_critical": len(crit),
               "with_response": sum(a.responded for a in crit),
               "response_share": _share(sum(a.responded for a in crit), len(crit)),
               "ended": len(ended), "solved": sum(a.solved for a in ended),
               "solved_share": _share(sum(a.solved for a in ended), len(ended))}
        for res in Result:
            row[f"result_{res.value}"] = sum(a.result == res.value for a in ended)
        t.rows.append(row)
    return t


def channels_table(r: Report) -> Table:
    _ = translator(r.language)
    statuses = ("queued", "sending", "sent", "delivered", "failed", "cancelled", "skipped")
    cols = (Column("channel", _("Channel"), codes=codes(r.language)), Column("kind", _("Message"), codes=codes(r.language)), Column("targeted", _("Targeted"), PEOPLE)) + tuple(
        Column(s, _(s.capitalize()), PEOPLE) for s in statuses
    ) + (Column("delivered_share", _("Delivered share (of reached)"), SHARE, of="targeted"),
         Column("actions", _("Actions"), COUNT))
    t = Table("channels", _("Messages per channel and kind"), cols)
    totals: dict[tuple[str, str], dict[str, int]] = {}
    used: dict[tuple[str, str], int] = {}
    for a in r.actions:
        for channel, kinds in a.channels.items():
            for kind, counts in kinds.items():
                acc = totals.setdefault((channel, kind), {})
                for s, n in counts.items():
                    acc[s] = acc.get(s, 0) + n
                used[(channel, kind)] = used.get((channel, kind), 0) + 1
    order = {"start": 0, "update": 1, "end": 2}
    for (channel, kind) in sorted(totals, key=lambda k: (k[0], order.get(k[1], 9))):
        acc = totals[(channel, kind)]
        reached = sum(acc.get(s, 0) for s in REACHED)
        row = {"channel": channel, "kind": kind, "targeted": sum(acc.values()), "actions": used[(channel, kind)],
               "delivered_share": _share(acc.get("delivered", 0), reached)}
        row.update({s: acc.get(s, 0) for s in statuses})
        t.rows.append(row)
    t.note = _("Delivered share: messages a provider confirmed as delivered, of those sent.")
    return t


def tips_table(r: Report) -> Table:
    _ = translator(r.language)
    cols = (Column("channel", _("Channel"), codes=codes(r.language)), Column("tips", _("Tips"), PEOPLE),
            Column("actions", _("Actions with a tip by this channel"), COUNT),
            Column("median_first_tip", _("Median time to the action's first tip"), SECONDS))
    t = Table("tips", _("Tips per channel"), cols)
    tips: dict[str, int] = {}
    acts: dict[str, int] = {}
    for a in r.actions:
        for channel, n in a.tips.items():
            tips[channel] = tips.get(channel, 0) + n
            acts[channel] = acts.get(channel, 0) + 1
    firsts = [a.first_tip_s for a in r.actions if a.first_tip_s is not None]
    for channel in sorted(tips, key=lambda c: -tips[c]):
        t.rows.append({"channel": channel, "tips": tips[channel], "actions": acts[channel]})
    t.rows.append({"channel": "all", "tips": sum(tips.values()), "actions": sum(1 for a in r.actions if a.responded),
                   "median_first_tip": statistics.median(firsts) if firsts else None})
    t.note = _("phone: tips on the call-back line, logged by a dispatcher.")
    return t


def _bucket(n: int) -> str:
    if n <= EXACT_REACH:
        return str(n)
    for lo, hi in REACH_RANGES:
        if n >= lo and (hi is None or n <= hi):
            return f"{lo}–{hi}" if hi else f"{lo}+"
    return str(n)


def reach_buckets(r: Report) -> list[tuple[str, int]]:
    """``(times reached, participants)`` in the report's buckets: exact to 30, then ranges."""
    out: dict[str, int] = {}
    for n, c in reach_distribution(r.reach, r.registered):
        out[_bucket(n)] = out.get(_bucket(n), 0) + c
    return list(out.items())


def reach_table(r: Report) -> Table:
    _ = translator(r.language)
    cols = (Column("times_reached", _("Times reached")), Column("participants", _("Participants"), PEOPLE),
            Column("share", _("Share of registered participants"), SHARE, of="participants"))
    t = Table("reach", _("How often participants were reached (a distribution, not a list)"), cols)
    total = max(1, r.registered, sum(r.reach.values()))
    for label, c in reach_buckets(r):
        t.rows.append({"times_reached": label, "participants": c, "share": c / total})
    t.note = _("0: registered now (living in the selected province or municipality, if one is selected) and "
               "not reached by a start message of the selected actions.")
    return t


def municipalities_table(r: Report) -> Table:
    _ = translator(r.language)
    per_year = 365.0 / r.selection.days
    cols = (Column("municipality", _("Municipality")), Column("province", _("Province")),
            Column("inhabitants", _("Inhabitants"), COUNT),
            Column("inhabitants_16_plus", _("Inhabitants aged 16+ (estimated)"), COUNT),
            Column("actions", _("Actions"), COUNT),
            Column("actions_per_100k", _("Actions per 100,000 inhabitants"), RATE),
            Column("actions_per_100k_per_year", _("… per year"), RATE),
            Column("participants", _("Participants living there"), PEOPLE),
            Column("participation", _("Participants as a share of inhabitants aged 16+ (estimated)"), SHARE,
                   of="participants"))
    t = Table("municipalities", _("Actions and participation per municipality"), cols)
    scope = in_scope(r.selection)
    for p, n, k in zip(where.municipalities(), r.municipality_actions.tolist(), r.municipality_participants.tolist()):
        if not scope(p):
            continue
        t.rows.append({
            "municipality": p.name, "province": p.province_name, "inhabitants": p.population,
            "inhabitants_16_plus": p.population_16_plus, "actions": n,
            "actions_per_100k": n / p.population * 100_000, "actions_per_100k_per_year": n / p.population * 100_000 * per_year,
            "participants": k, "participation": k / p.population_16_plus,
        })
    t.rows.sort(key=lambda row: row["participation"])
    t.note = _("Sorted by participation, lowest first: where few are registered. An action counts for the "
               "municipality nearest its area's centre; a participant for the one nearest their home. "
               "Inhabitants aged 16 and over are estimated as {share} of all inhabitants (the national share, "
               "CBS); the places table has no age groups.").format(share=f"{100 * places.SHARE_16_PLUS:.0f} %")
    return t


def actions_table(r: Report) -> Table:
    _ = translator(r.language)
    cols = (
        Column("id", _("Action")), Column("started", _("Started")), Column("type", _("Type"), codes=codes(r.language)), Column("urgency", _("Urgency"), codes=codes(r.language)),
        Column("region", _("Region")), Column("municipality", _("Municipality")), Column("result", _("Result"), codes=codes(r.language)),
        Column("solved_by_participants", _("Solved thanks to participants"), codes=codes(r.language)),
        Column("participants_targeted", _("Participants targeted"), PEOPLE),
        Column("participants_reached", _("Participants reached"), PEOPLE),
        Column("start_messages", _("Start messages"), PEOPLE), Column("start_reached", _("Start messages sent"), PEOPLE),
        Column("start_delivered", _("Start messages delivered"), PEOPLE),
        Column("delivered_share", _("Delivered share"), SHARE, of="start_reached"),
        Column("closing_messages", _("Closing messages sent"), PEOPLE),
        Column("first_start", _("Time to first start message"), SECONDS),
        Column("last_start", _("Time to last start message"), SECONDS),
        Column("tips", _("Tips"), PEOPLE), Column("tips_by_channel", _("Tips per channel"), TEXT, codes=codes(r.language)),
        Column("first_tip", _("Time to first tip"), SECONDS),
        Column("channels", _("Start messages per channel"), TEXT, codes=codes(r.language)),
    )
    def build() -> list[dict[str, Any]]:
        return [_action_row(a) for a in r.actions]

    def _action_row(a: ActionFigures) -> dict[str, Any]:
        targeted, reached, delivered = a.start_counts()
        closing = sum(sum(k.get("end", {}).get(s, 0) for s in REACHED) for k in a.channels.values())
        per_channel = tuple((ch, sum(k["start"].values())) for ch, k in sorted(a.channels.items()) if k.get("start"))
        return {
            "id": a.id, "started": datetime.fromtimestamp(a.started, TZ).strftime("%Y-%m-%d %H:%M"),
            "type": a.type, "urgency": a.urgency, "region": a.region or "", "municipality": a.municipality or "",
            "result": a.result or a.status, "solved_by_participants": "yes" if a.solved else "no",
            "participants_targeted": a.targeted, "participants_reached": a.reached,
            "start_messages": targeted, "start_reached": reached, "start_delivered": delivered,
            "delivered_share": _share(delivered, reached), "closing_messages": closing,
            "first_start": a.first_start_s, "last_start": a.last_start_s,
            "tips": sum(a.tips.values()),
            "tips_by_channel": tuple(sorted(a.tips.items())),
            "first_tip": a.first_tip_s, "channels": per_channel,
        }

    return Table("actions", _("Per action"), cols, build=build)
