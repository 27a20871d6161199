"""Bearer tokens of organisations' people: an :class:`~hub.actions.Actor` that carries its organisation.

The actor's name is ``<organisation>/<person>``, so the audit log says who acted for whom. A revoked
token, or one of an organisation that no longer exists, is unknown.
"""

from __future__ import annotations

from ..actions import Actor
from ..organisations import Organisations


async def organisation_actor(organisations: Organisations, token: str) -> Actor | None:
    """The actor for an organisation's token, or ``None`` when it is not one (or is revoked)."""
    found = await organisations.by_token(token)
    if found is None:
        return None
    record, org = found
    return Actor(f"{org.id}/{record.name}", record.role, organisation=org)


async def visible_action(hub, actor: Actor, action_id: str) -> dict:
    """The stored action, if it exists and the actor's organisation may see it (else NotFound)."""
    from ..errors import NotFound
    from ..organisations import ensure_visible

    data = await hub.store.get_action(action_id)
    if data is None:
        raise NotFound(f"action {action_id!r} not found")
    ensure_visible(actor.organisation, data)
    return data


def national_only(actor: Actor) -> None:
    """Network-wide duties (participants, routing rules, the whole audit log, the sandbox outbox) are
    the national operator's: an organisation's people are refused with 403."""
    from ..errors import Forbidden

    if actor.organisation is not None and not actor.organisation.national:
        raise Forbidden(f"{actor.organisation.name} ({actor.organisation.id}) may not do this: it is for the national operator")
