"""Warnings about routing rules that are valid but cannot be what the operator meant.

Two kinds, both pure functions of the rules:

* a route that **can never match**: its conditions contradict its parents' (``match: {type: crisis}``
  under a route that matched ``type: missing_person``), or every action it would match is taken by an
  earlier sibling that matches without ``continue``;
* a ``region`` that **does not exist** (``utrech``): no action's region will ever equal it.

Rules with warnings still load: a warning is advice, an error (:mod:`hub.routing`) refuses the file.
The check walks the tree once for every combination of type, urgency, domain and region (about a
thousand), which takes milliseconds.
"""

from __future__ import annotations

import difflib
import itertools
from dataclasses import dataclass
from typing import Collection, Iterable, Mapping

from .models import ActionType, Domain, Urgency
from .places import PROVINCES
from .routing import Route, RouteFacts, RuleSet


@dataclass(frozen=True, slots=True)
class RuleWarning:
    """One warning: ``field`` is the path in the file (``routes[1].routes[0]``), ``line`` its line."""

    field: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}" + (f", at line {self.line}" if self.line else "")

    def to_dict(self) -> dict:
        return {"field": self.field, "reason": self.reason, "line": self.line}


def lint(rules: RuleSet, *, regions: Collection[str] = tuple(PROVINCES)) -> list[RuleWarning]:
    """Every warning for ``rules``, in file order. ``regions``: the region ids that exist."""
    known = set(regions)
    warnings = list(_unknown_regions(rules, known))
    warnings += _never_matching(rules, known)
    order = {r.where: i for i, r in enumerate(rules.root.walk())}
    warnings.sort(key=lambda w: (order.get(w.field.split(".match")[0], 0), w.field))
    return [RuleWarning(w.field, w.reason, _line(w.field, rules.lines)) for w in warnings]


def _unknown_regions(rules: RuleSet, known: set[str]) -> Iterable[RuleWarning]:
    for route in rules.root.walk():
        for key, matcher in (("match", route.match), ("match_not", route.match_not)):
            for value in sorted(matcher.get("region", ())):
                if value in known:
                    continue
                hint = difflib.get_close_matches(value, sorted(known), n=1)
                did_you_mean = f"did you mean {hint[0]!r}? " if hint else ""
                yield RuleWarning(
                    f"{route.where}.{key}.region",
                    f"route {route.name!r}: region {value!r} does not exist ({did_you_mean}known: {', '.join(sorted(known))})",
                )


def _domain(rules: RuleSet, known: set[str]) -> list[RouteFacts]:
    mentioned = {v for r in rules.root.walk() for m in (r.match, r.match_not) for v in m.get("region", ())}
    regions = [None, *sorted(known | mentioned)]
    return [
        RouteFacts(type=t, urgency=u, domain=d, region=r)
        for t, u, d, r in itertools.product(ActionType, Urgency, Domain, regions)
    ]


def _never_matching(rules: RuleSet, known: set[str]) -> list[RuleWarning]:
    facts = _domain(rules, known)
    reached: set[str] = set()
    taken_by: dict[str, dict[str, None]] = {}  # route -> earlier siblings that took its actions
    for f in facts:
        _reach(rules.root, f, reached, taken_by)
    out: list[RuleWarning] = []
    parents = {c.where: r for r in rules.root.walk() for c in r.routes}

    def chain(route: Route) -> list[Route]:
        out = [route]
        while out[-1].where in parents:
            out.append(parents[out[-1].where])
        return out[::-1]

    for route in rules.root.walk():
        if not route.where or route.where in reached:
            continue
        parent = parents.get(route.where)
        if parent is not None and parent.where and parent.where not in reached:
            continue  # said once, for the topmost route that can never match
        ancestors = chain(route)
        if not any(all(r.mismatch(f) is None for r in ancestors) for f in facts):
            above = [r.name for r in ancestors[1:-1]]
            why = (f"its conditions contradict those of {', '.join(repr(n) for n in above)}" if above
                   else "its match and match_not exclude every action")
        else:
            names = ", ".join(repr(n) for n in taken_by.get(route.where, {})) or "earlier routes"
            why = f"every action it matches is taken first by {names} (matched without continue)"
        out.append(RuleWarning(route.where, f"route {route.name!r} can never match: {why}"))
    return out


def _reach(node: Route, facts: RouteFacts, reached: set[str], taken_by: dict[str, dict[str, None]]) -> None:
    for i, child in enumerate(node.routes):
        if child.mismatch(facts) is not None:
            continue
        reached.add(child.where)
        _reach(child, facts, reached, taken_by)
        if not child.continue_:
            for later in node.routes[i + 1:]:
                if later.mismatch(facts) is None:
                    taken_by.setdefault(later.where, {})[child.name] = None
            return


def _line(field: str, lines: Mapping[str, int]) -> int | None:
    while field:
        if field in lines:
            return lines[field]
        cut = max(field.rfind("."), field.rfind("["))
        field = field[:cut] if cut > 0 else ""
    return None
