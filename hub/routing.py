"""Routing rules: which channels an action goes to, decided from its type, urgency, region and domain.

The operator writes the rules in YAML as a tree of routes, walked the way Prometheus Alertmanager walks
its routing tree (``schemas/routing.schema.json`` is the format; ``hub/defaults/routes.yaml`` the
shipped rules)::

    channels: []                 # the root route: what an action gets when no route below matches
    routes:
      - name: missing-person-signage
        match: {type: missing_person}
        channels: [matrix_boards]
        continue: true           # and keep looking: the action also goes to the routes below
      - name: time-critical
        match: {urgency: time_critical}
        channels: [sms, voice, app, twitter]
        routes:
          - name: crisis
            match: {type: crisis}
            bypass_quiet_hours: true   # no channels: inherits sms, voice, app, twitter

The walk
    * The root matches every action. A route's children are checked in order; a matching child is
      taken (and walked the same way), and the walk stops at it unless it says ``continue: true``.
    * A taken route whose children all fail (or that has none) applies its own channels. A route that
      does not list ``channels`` inherits its parent's; the same holds for ``bypass_quiet_hours``.
    * ``match`` keys must all hold (AND); a list of values matches any of them (OR). ``match_not``
      keys must all fail: the route does not match if the action has any of the values listed.
    * An action without a region never matches a ``region`` condition.

The result is a :class:`RouteDecision`: the names of the routes that applied, their channels in walk
order without duplicates, whether quiet hours are bypassed (any applied route says so), and a trace
that explains every step, for ``burgerhub routes test`` and the API.

Everything here is pure: loading reads the given file, nothing else does I/O, and a :class:`RuleSet`
is immutable, so a :class:`RuleHolder` swaps whole rule sets and a reload can never half-apply.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Iterator, Mapping

from . import schemas
from .errors import ConfigError, ValidationError
from .models import DEFAULT_DOMAIN, ActionType, ActionView, Domain, Urgency
from .yaml_lines import line_of, parse_yaml

DEFAULT_RULES = Path(__file__).parent / "defaults" / "routes.yaml"
MATCH_KEYS = ("type", "urgency", "region", "domain")
_INDENT = "  "


@dataclass(frozen=True, slots=True)
class RouteFacts:
    """What routing looks at. Strings are converted to the enums; ``domain`` defaults from the type."""

    type: ActionType
    urgency: Urgency
    region: str | None = None
    domain: Domain | None = None

    def __post_init__(self) -> None:
        for name, enum in (("type", ActionType), ("urgency", Urgency), ("domain", Domain)):
            value = getattr(self, name)
            if value is None:
                continue
            try:
                object.__setattr__(self, name, enum(value))
            except ValueError as e:
                allowed = ", ".join(repr(m.value) for m in enum)
                raise ValidationError(name, f"{value!r} is not one of [{allowed}]") from e
        if self.domain is None:
            object.__setattr__(self, "domain", DEFAULT_DOMAIN[self.type])
        if not self.region:
            object.__setattr__(self, "region", None)

    @classmethod
    def from_action(cls, action: ActionView) -> "RouteFacts":
        return cls(type=action.type, urgency=action.urgency, region=action.region, domain=action.domain)

    def value(self, key: str) -> str | None:
        value = getattr(self, key)
        return value.value if hasattr(value, "value") else value

    def __str__(self) -> str:
        return ", ".join(f"{key}={self.value(key) or '(none)'}" for key in MATCH_KEYS)


@dataclass(frozen=True, slots=True)
class Applied:
    """One route that applied its channels."""

    route: str
    channels: tuple[str, ...]
    bypass_quiet_hours: bool
    #: the routes walked to reach it, root first, ending with ``route``
    path: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Where an action goes and why. ``trace`` is ready to print, one step per line, indented by depth."""

    routes: tuple[str, ...]
    channels: tuple[str, ...]
    bypass_quiet_hours: bool
    trace: tuple[str, ...]
    applied: tuple[Applied, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "routes": list(self.routes),
            "channels": list(self.channels),
            "bypass_quiet_hours": self.bypass_quiet_hours,
            "applied": [
                {"route": a.route, "path": list(a.path), "channels": list(a.channels),
                 "bypass_quiet_hours": a.bypass_quiet_hours}
                for a in self.applied
            ],
            "trace": list(self.trace),
        }


@dataclass(frozen=True, slots=True)
class Route:
    """One node of the tree. ``channels``/``bypass_quiet_hours`` of ``None`` mean: inherit."""

    name: str
    where: str  # the route's path in the file, e.g. ``routes[1].routes[0]``
    match: Mapping[str, frozenset[str]] = field(default_factory=dict)
    match_not: Mapping[str, frozenset[str]] = field(default_factory=dict)
    channels: tuple[str, ...] | None = None
    continue_: bool = False
    bypass_quiet_hours: bool | None = None
    routes: tuple["Route", ...] = ()
    description: str = ""

    def mismatch(self, facts: RouteFacts) -> str | None:
        """Why this route does not match ``facts``, or ``None`` when it does."""
        for key, wanted in self.match.items():
            actual = facts.value(key)
            if actual not in wanted:
                return f"{key} is {actual or 'not set'}, wanted {_one_of(wanted)}"
        for key, unwanted in self.match_not.items():
            actual = facts.value(key)
            if actual in unwanted:
                return f"{key} is {actual}, excluded by match_not"
        return None

    def why(self, facts: RouteFacts) -> str:
        parts = [f"{key} is {facts.value(key)}" for key in self.match]
        parts += [f"{key} is not {_one_of(values)}" for key, values in self.match_not.items()]
        return ", ".join(parts) or "no conditions: matches every action"

    def walk(self) -> Iterator["Route"]:
        yield self
        for child in self.routes:
            yield from child.walk()


class RuleSet:
    """Validated, immutable routing rules. Build with :meth:`load`; ask with :meth:`route`."""

    def __init__(self, root: Route, *, text: str = "", source: str = "<rules>") -> None:
        self.root = root
        self.text = text
        self.source = source
        #: field paths (``routes[1].match.region``) to 1-based lines of the file, when read from YAML
        self.lines: Mapping[str, int] = {}

    @classmethod
    def load(
        cls, path_or_text: str | os.PathLike[str], *, known_channels: Collection[str] | None = None,
        source: str | None = None, allow_gaps: bool = True,
    ) -> "RuleSet":
        """Parse and validate rules from a file (a path object) or from YAML text (a ``str``).

        Raises :class:`~hub.errors.ConfigError` for an unreadable file or a YAML syntax error (naming
        the line), :class:`~hub.errors.ValidationError` (``field`` + ``reason``, with the line) for
        rules that break the format, name a route twice or, when ``known_channels`` is given, name an
        unknown channel, and, unless ``allow_gaps``, leave an action type and urgency without any
        channel (:meth:`gaps`). The YAML is read with limits (:data:`MAX_RULES_BYTES`, aliases, depth,
        expanded size), so a hostile file is refused quickly instead of expanding.
        """
        if isinstance(path_or_text, os.PathLike):
            path = Path(path_or_text)
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as e:
                raise ConfigError(f"cannot read routing rules {path}: {e.strerror or e}") from e
            source = source or str(path)
        else:
            text = path_or_text
            source = source or "<text>"
        if len(text) > MAX_RULES_BYTES:
            raise ConfigError(f"{source}: the rules are larger than {MAX_RULES_BYTES} characters")
        data, lines = parse_yaml(text, source)
        try:
            rules = cls.from_dict(data, known_channels=known_channels, text=text, source=source)
        except ValidationError as e:
            raise _with_lines(e, lines) from e.__cause__
        rules.lines = lines
        if not allow_gaps:
            rules.check_gaps()
        return rules

    @classmethod
    def from_dict(
        cls, data: Any, *, known_channels: Collection[str] | None = None, text: str = "", source: str = "<dict>"
    ) -> "RuleSet":
        """Validate already-parsed rules (see :meth:`load`)."""
        if not isinstance(data, dict):
            hint = " (a pathlib.Path reads a file; a str is YAML text)" if isinstance(data, str) else ""
            raise ValidationError(
                schemas.ROOT, f"the rules must be a mapping with 'channels' and 'routes', got {_kind(data)}{hint}"
            )
        schemas.validate("routing", data)
        root = _build(data, "", is_root=True)
        _check_unique_names(root)
        rules = cls(root, text=text, source=source)
        if known_channels is not None:
            rules.check_channels(known_channels)
        return rules

    def route_names(self) -> list[str]:
        """Every route's name, root first, in file order."""
        return [r.name for r in self.root.walk()]

    @property
    def channels(self) -> frozenset[str]:
        """Every channel name the rules mention."""
        return frozenset(c for r in self.root.walk() for c in (r.channels or ()))

    def check_channels(self, known: Collection[str]) -> None:
        """Raise :class:`~hub.errors.ValidationError` for the first channel name not in ``known``."""
        known = sorted(known)
        for route in self.root.walk():
            for i, name in enumerate(route.channels or ()):
                if name not in known:
                    hint = difflib.get_close_matches(name, known, n=1)
                    did_you_mean = f"did you mean {hint[0]!r}? " if hint else ""
                    where = f"{route.where}.channels[{i}]" if route.where else f"channels[{i}]"
                    raise ValidationError(
                        where, f"unknown channel {name!r} ({did_you_mean}known: {', '.join(known) or 'none'})"
                    )

    def gaps(self) -> list[tuple[str, str]]:
        """Every (action type, urgency) that these rules send to no channel at all (without a region)."""
        return [
            (t.value, u.value)
            for t in ActionType
            for u in Urgency
            if not self.route(RouteFacts(type=t, urgency=u)).channels
        ]

    def check_gaps(self) -> None:
        """Raise :class:`~hub.errors.ValidationError` if an action type and urgency would reach nobody."""
        gaps = self.gaps()
        if gaps:
            listed = ", ".join(f"{t}/{u}" for t, u in gaps[:6]) + (f" and {len(gaps) - 6} more" if len(gaps) > 6 else "")
            raise ValidationError(
                "channels",
                f"these rules send {len(gaps)} action type/urgency combinations to no channel at all ({listed}); "
                "to load them anyway, confirm explicitly (allow_gaps)",
            )

    def route(self, facts: RouteFacts | ActionView) -> RouteDecision:
        """Walk the tree for ``facts`` (or an action) and say where it goes and why."""
        if isinstance(facts, ActionView):
            facts = RouteFacts.from_action(facts)
        trace = [f"action: {facts}", self.root.name]
        applied: list[Applied] = []
        _walk(self.root, facts, (), False, 0, applied, trace, (self.root.name,))
        channels = tuple(dict.fromkeys(c for a in applied for c in a.channels))
        trace.append(f"result: {', '.join(channels) or 'no channels'}")
        return RouteDecision(
            routes=tuple(a.route for a in applied),
            channels=channels,
            bypass_quiet_hours=any(a.bypass_quiet_hours for a in applied),
            trace=tuple(trace),
            applied=tuple(applied),
        )


class RuleHolder:
    """The rules in force. :meth:`reload` validates first and keeps the old rules on any error."""

    def __init__(self, rules: RuleSet, *, path: Path | None = None, known_channels: Collection[str] | None = None):
        self._current = rules
        self.path = path
        #: channel names new rules are checked against (``None``: not checked); the hub sets it once
        #: every channel is known
        self.known_channels = known_channels
        #: how many rule sets have been loaded; 1 for the first
        self.generation = 1
        #: the stored version of the rules in force on a cluster (:mod:`hub.rules_cluster`); else ``None``
        self.version: int | None = None

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], *, known_channels: Collection[str] | None = None) -> "RuleHolder":
        path = Path(path)
        return cls(RuleSet.load(path, known_channels=known_channels), path=path, known_channels=known_channels)

    @property
    def current(self) -> RuleSet:
        return self._current

    @property
    def text(self) -> str:
        return self._current.text

    def route(self, facts: RouteFacts | ActionView) -> RouteDecision:
        return self._current.route(facts)

    def reload(self, text: str | None = None, *, source: str | None = None, allow_gaps: bool = False) -> RuleSet:
        """Replace the rules with ``text`` (default: re-read :attr:`path`) once they are valid.

        On any error the rules in force stay and the error is raised.
        """
        return self.install(self.parse(text, source=source, allow_gaps=allow_gaps))

    def parse(self, text: str | None = None, *, source: str | None = None, allow_gaps: bool = False) -> RuleSet:
        """Validate ``text`` (default: re-read :attr:`path`) as :meth:`reload` would, without installing it.

        Pure and thread-safe: the API runs it on a worker thread, away from the event loop.
        """
        if text is None:
            if self.path is None:
                raise ConfigError("no rules file to reload from")
            return RuleSet.load(self.path, known_channels=self.known_channels, allow_gaps=allow_gaps)
        return RuleSet.load(
            text, known_channels=self.known_channels, source=source or str(self.path or "<text>"), allow_gaps=allow_gaps
        )

    def install(self, rules: RuleSet) -> RuleSet:
        """Put already validated ``rules`` in force."""
        self._current = rules
        self.generation += 1
        return rules

    @property
    def writable(self) -> bool:
        """Whether :meth:`save` may write :attr:`path` (never the shipped defaults)."""
        return self.path is not None and self.path.resolve() != DEFAULT_RULES.resolve()

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the rules in force to ``path`` (default :attr:`path`) atomically; return where.

        Refuses to overwrite the shipped defaults: set ``[hub] routes`` in ``burgerhub.toml`` instead.
        """
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ConfigError("no path to save the routing rules to")
        if target.resolve() == DEFAULT_RULES.resolve():
            raise ConfigError(
                f"not overwriting the shipped default rules at {target}; set [hub] routes in burgerhub.toml"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".routes-", suffix=".yaml", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self._current.text)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target


# -- walking ---------------------------------------------------------------------------------


def _walk(
    node: Route,
    facts: RouteFacts,
    channels: tuple[str, ...],
    bypass: bool,
    depth: int,
    applied: list[Applied],
    trace: list[str],
    path: tuple[str, ...] = (),
) -> None:
    channels = node.channels if node.channels is not None else channels
    bypass = node.bypass_quiet_hours if node.bypass_quiet_hours is not None else bypass
    pad = _INDENT * (depth + 1)
    taken = False
    for i, child in enumerate(node.routes):
        why_not = child.mismatch(facts)
        if why_not:
            trace.append(f"{pad}{child.name}: no match ({why_not})")
            continue
        more = "; continue: true, so the routes after it are checked too" if child.continue_ else ""
        trace.append(f"{pad}{child.name}: matched ({child.why(facts)}){more}")
        _walk(child, facts, channels, bypass, depth + 1, applied, trace, (*path, child.name))
        taken = True
        rest = [r.name for r in node.routes[i + 1 :]]
        if not child.continue_ and rest:
            trace.append(f"{pad}stop: {child.name} matched without continue, not checked: {', '.join(rest)}")
            break
    if not taken:
        applied.append(Applied(node.name, channels, bypass, path or (node.name,)))
        which = f"{node.name} applies its channels" if not node.routes else (
            f"no route under {node.name} matched, so {node.name} applies its own channels"
        )
        inherited = " (inherited)" if node.channels is None and depth > 0 else ""
        quiet = "; bypasses quiet hours" if bypass else ""
        trace.append(f"{pad}-> {which}: {', '.join(channels) or 'none'}{inherited}{quiet}")


def _one_of(values: frozenset[str]) -> str:
    items = sorted(values)
    return items[0] if len(items) == 1 else "one of " + ", ".join(items)


# -- building and checking -------------------------------------------------------------------


def _build(data: Mapping[str, Any], where: str, *, is_root: bool = False) -> Route:
    prefix = f"{where}." if where else ""
    channels = data.get("channels")
    return Route(
        name=data.get("name", "root" if is_root else ""),
        where=where,
        match=_matcher(data.get("match", {})),
        match_not=_matcher(data.get("match_not", {})),
        channels=tuple(channels) if channels is not None else (() if is_root else None),
        continue_=bool(data.get("continue", False)),
        bypass_quiet_hours=data.get("bypass_quiet_hours", False if is_root else None),
        routes=tuple(_build(child, f"{prefix}routes[{i}]") for i, child in enumerate(data.get("routes", ()))),
        description=data.get("description", ""),
    )


def _matcher(data: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    return {key: frozenset([v] if isinstance(v, str) else v) for key, v in data.items()}


def _check_unique_names(root: Route) -> None:
    seen: dict[str, str] = {}
    for route in root.walk():
        field_name = f"{route.where}.name" if route.where else "name"
        if route.name in seen:
            raise ValidationError(field_name, f"route name {route.name!r} is used twice (also at {seen[route.name]})")
        seen[route.name] = field_name


def _kind(value: Any) -> str:
    return "an empty file" if value is None else f"a {type(value).__name__}"


#: the largest rules document: a rules file is a few kilobytes; this leaves room for comments and many regions
MAX_RULES_BYTES = 256 * 1024


def _with_lines(error: ValidationError, lines: Mapping[str, int]) -> ValidationError:
    def at(path: str, reason: str) -> str:
        line = line_of(path, lines)
        return f"{reason}, at line {line}" if line else reason

    return ValidationError(
        error.field, at(error.field, error.reason), errors=[(f, at(f, r)) for f, r in error.errors]
    )
