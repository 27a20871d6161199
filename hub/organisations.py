"""Organisations that issue actions: who they are, what they may issue, where, and their people's tokens.

An :class:`Organisation` is a police control room, a municipality or a partner (a fire brigade, a
safety region, ...). Its people hold tokens of their own (named in the audit log as
``<organisation>/<person>``, revocable, stored only as a SHA-256 hash) with one role each, among the
roles the organisation allows. An action carries the id of the organisation that issued it
(``action["organisation"]``); each organisation sees its own actions only.

The **national** organisation (:data:`NATIONAL`) is the network's own operator: the static tokens of
``[api] tokens`` and the command line act for it. It may issue every type anywhere and sees every
action, exactly as before organisations existed.

The checks here are pure functions of an organisation and an action; :class:`Organisations` adds
the store (definitions and tokens) and a file format for operators (:func:`load_file`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import schemas
from .errors import ConfigError, Forbidden, NotFound, ValidationError
from .models import Area, Circle
from .territory import first_point_outside
from .yaml_lines import line_of, parse_yaml

NATIONAL_ID = "national"
KINDS = ("national", "police", "municipality", "partner")
ROLES = ("dispatcher", "operator")
TOKEN_PREFIX = "org_"


@dataclass(frozen=True, slots=True)
class TerritoryPart:
    area: Area
    name: str = ""


@dataclass(frozen=True, slots=True)
class Organisation:
    """One issuer of actions. Empty ``action_types`` / ``urgencies`` mean every one."""

    id: str
    name: str
    kind: str
    roles: tuple[str, ...] = ROLES
    action_types: tuple[str, ...] = ()
    urgencies: tuple[str, ...] = ()
    territory: tuple[TerritoryPart, ...] = ()
    cap_senders: tuple[str, ...] = ()

    @property
    def national(self) -> bool:
        return self.kind == "national"

    def to_dict(self) -> dict[str, Any]:
        from .models import area_to_dict

        out: dict[str, Any] = {"id": self.id, "name": self.name, "kind": self.kind, "roles": list(self.roles)}
        if self.action_types:
            out["action_types"] = list(self.action_types)
        if self.urgencies:
            out["urgencies"] = list(self.urgencies)
        if self.territory or not self.national:
            out["territory"] = [
                {**({"name": p.name} if p.name else {}), "area": area_to_dict(p.area)} for p in self.territory
            ]
        if self.cap_senders:
            out["cap_senders"] = list(self.cap_senders)
        return out


NATIONAL = Organisation(id=NATIONAL_ID, name="National operator", kind="national")


def organisation_from_dict(data: Mapping[str, Any]) -> Organisation:
    """Validate (``organisation`` schema) and build. Raises :class:`~hub.errors.ValidationError`."""
    from .actions import area_from_dict

    schemas.validate("organisation", data)
    if data["kind"] == "national" and data["id"] != NATIONAL_ID:
        raise ValidationError("kind", f"only the organisation {NATIONAL_ID!r} is national")
    if data["id"] == NATIONAL_ID and data["kind"] != "national":
        raise ValidationError("kind", f"the organisation {NATIONAL_ID!r} must be of kind 'national'")
    return Organisation(
        id=data["id"],
        name=data["name"],
        kind=data["kind"],
        roles=tuple(data.get("roles") or ROLES),
        action_types=tuple(data.get("action_types", ())),
        urgencies=tuple(data.get("urgencies", ())),
        territory=tuple(
            TerritoryPart(area=area_from_dict(p["area"]), name=p.get("name", "")) for p in data.get("territory", ())
        ),
        cap_senders=tuple(data.get("cap_senders", ())),
    )


# -- the checks ------------------------------------------------------------------------------------


def check_issue(org: Organisation, action_type: str, urgency: str) -> None:
    """Raise :class:`~hub.errors.Forbidden` unless ``org`` may issue this type at this urgency."""
    if org.action_types and action_type not in org.action_types:
        raise Forbidden(
            f"{org.name} ({org.id}) may not issue actions of type {action_type!r}"
            f" (it may issue: {', '.join(org.action_types)})"
        )
    if org.urgencies and urgency not in org.urgencies:
        raise Forbidden(f"{org.name} ({org.id}) may not issue {urgency!r} actions (only {', '.join(org.urgencies)})")


def check_area(org: Organisation, area: Area) -> None:
    """Raise :class:`~hub.errors.Forbidden` when ``area`` leaves the territory of ``org``."""
    if org.national and not org.territory:
        return
    point = first_point_outside(area, [p.area for p in org.territory])
    if point is None:
        return
    what = "circle" if isinstance(area, Circle) else "polygon"
    names = ", ".join(p.name for p in org.territory if p.name) or "its territory"
    raise Forbidden(
        f"the action's {what} leaves the territory of {org.name} ({org.id}: {names})"
        f" near {point[0]:.5f}, {point[1]:.5f}"
    )


def may_see(org: Organisation | None, action: Mapping[str, Any]) -> bool:
    """Whether ``org`` (``None``: the national operator) may see and handle ``action``."""
    return org is None or org.national or action.get("organisation", NATIONAL_ID) == org.id


def ensure_visible(org: Organisation | None, action: Mapping[str, Any]) -> None:
    """Raise :class:`~hub.errors.NotFound` (an organisation does not learn of others' actions)."""
    if not may_see(org, action):
        raise NotFound(f"action {action.get('id')!r} not found")


# -- tokens ----------------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class OrganisationToken:
    """A person's token, as the store keeps it (never the token itself)."""

    id: str
    organisation: str
    name: str
    role: str
    created_at: float
    revoked_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "organisation": self.organisation, "name": self.name, "role": self.role,
                "created_at": self.created_at, "revoked_at": self.revoked_at}


class Organisations:
    """Organisations and their tokens in the store (see :mod:`hub.store.partners`)."""

    def __init__(self, store) -> None:
        self.store = store

    async def get(self, org_id: str) -> Organisation | None:
        if org_id == NATIONAL_ID:
            data = await self.store.get_organisation(org_id)
            return organisation_from_dict(data) if data else NATIONAL
        data = await self.store.get_organisation(org_id)
        return organisation_from_dict(data) if data else None

    async def require(self, org_id: str) -> Organisation:
        org = await self.get(org_id)
        if org is None:
            raise NotFound(f"organisation {org_id!r} not found")
        return org

    async def list(self) -> list[Organisation]:
        """Every organisation; the national operator first when it has not been stored."""
        orgs = [organisation_from_dict(d) for d in await self.store.list_organisations()]
        if not any(o.id == NATIONAL_ID for o in orgs):
            orgs.insert(0, NATIONAL)
        return orgs

    async def put(self, data: Mapping[str, Any]) -> Organisation:
        org = organisation_from_dict(data)
        await self.store.put_organisation(org.id, org.to_dict())
        return org

    async def issue_token(self, org_id: str, name: str, role: str) -> tuple[OrganisationToken, str]:
        """A new token for a person of ``org_id``: its record and the token itself (shown once)."""
        org = await self.require(org_id)
        if org is NATIONAL:  # not stored yet: its tokens need its row
            await self.put(NATIONAL.to_dict())
        if role not in org.roles:
            raise ValidationError("role", f"{org.name} gives its people the roles {', '.join(org.roles)}, not {role!r}")
        if not name or len(name) > 80 or any(c in name for c in "/\n\r\t"):
            raise ValidationError("name", "1-80 characters, no '/' or control characters")
        token = new_token()
        record = await self.store.add_organisation_token(
            "tok-" + secrets.token_hex(6), org.id, name, role, token_hash(token)
        )
        return OrganisationToken(**record), token

    async def tokens(self, org_id: str | None = None) -> list[OrganisationToken]:
        return [OrganisationToken(**r) for r in await self.store.list_organisation_tokens(org_id)]

    async def revoke(self, token_id: str) -> OrganisationToken:
        record = await self.store.revoke_organisation_token(token_id)
        if record is None:
            raise NotFound(f"token {token_id!r} not found")
        return OrganisationToken(**record)

    async def by_token(self, token: str) -> tuple[OrganisationToken, Organisation] | None:
        """The live (not revoked) token and its organisation, or ``None``."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        record = await self.store.organisation_token_by_hash(token_hash(token))
        if record is None or record["revoked_at"] is not None:
            return None
        org = await self.get(record["organisation"])
        if org is None:
            return None
        return OrganisationToken(**record), org


# -- the operator's file -----------------------------------------------------------------------------


def load_file(path: str | Path) -> list[dict[str, Any]]:
    """Read organisations from a YAML file (``organisations: [...]``), each validated; errors name the
    file, the line and the field."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from e
    data, lines = parse_yaml(text, str(p))
    if not isinstance(data, dict) or not isinstance(data.get("organisations"), list):
        raise ConfigError(f"{p}: expected a mapping with a list 'organisations'")
    extra = set(data) - {"organisations"}
    if extra:
        key = sorted(extra)[0]
        raise ConfigError(f"{p}, line {lines.get(key, 1)}: {key}: unknown key")
    seen: dict[str, int] = {}
    out = []
    for i, item in enumerate(data["organisations"]):
        where = f"organisations[{i}]"
        try:
            if not isinstance(item, dict):
                raise ValidationError("(root)", "must be a mapping")
            organisation_from_dict(item)
        except ValidationError as e:
            field_path = where if e.field == "(root)" else f"{where}.{e.field}"
            line = line_of(field_path, lines) or line_of(where, lines)
            raise ConfigError(f"{p}, line {line}: {field_path}: {e.reason}") from e
        if item["id"] in seen:
            raise ConfigError(
                f"{p}, line {line_of(where + '.id', lines)}: {where}.id: {item['id']!r} already defined"
                f" at line {seen[item['id']]}"
            )
        seen[item["id"]] = line_of(where + ".id", lines) or 0
        out.append(item)
    return out


def describe(orgs: Iterable[Organisation]) -> list[dict[str, Any]]:
    return [o.to_dict() for o in orgs]


__all__ = [
    "NATIONAL", "NATIONAL_ID", "Organisation", "OrganisationToken", "Organisations", "TerritoryPart",
    "check_area", "check_issue", "ensure_visible", "may_see", "load_file", "organisation_from_dict",
    "token_hash",
]
