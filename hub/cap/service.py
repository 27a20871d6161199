"""CAP in and out for a hub: an organisation's CAP message acts on an action; an action reads as CAP.

Incoming messages go through the same :class:`~hub.actions.ActionService` as the API, so an
organisation's action types and territory hold alike (403 with the reason). Which CAP message made
which version of an action is kept in the store (``cap_messages``): ``references`` find the action
of an Update or Cancel, and a message seen before is refused (409) instead of acting twice.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from ..actions import Actor
from ..errors import BadMessage, Conflict, Forbidden, NotFound, ValidationError
from ..organisations import NATIONAL, ensure_visible
from . import inbound, outbound
from .xml import read_alert

#: the element an action field came from, to name it when the action refuses the value
FIELD_ELEMENTS = {
    "title": "info/headline", "description": "info/description", "area": "info/area",
    "safety_advice": "info/instruction",
    "translations": "info", "expires_in_minutes": "info/expires", "text": "alert/note",
}


@dataclass(frozen=True)
class CapOutcome:
    """What a CAP message did: the action, its version, and (for a dry run) the plan."""

    msg_type: str
    action_id: str | None
    version: int | None
    dry_run: bool = False
    plan: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"msgType": self.msg_type, "action_id": self.action_id, "version": self.version}
        if self.action_id:
            out["cap"] = f"/v1/actions/{self.action_id}/cap"
        if self.dry_run:
            out["dry_run"] = True
            out["plan"] = self.plan
        return out


class CapService:
    def __init__(self, hub) -> None:
        self.hub = hub

    @property
    def sender(self) -> str:
        """The CAP ``sender`` of burgerhub's own messages: ``[hub] cap_sender``, else derived from the public URL."""
        return self.hub.config.cap_sender or outbound.hub_sender(self.hub.config.public_url)

    def own_senders(self) -> set[str]:
        """The senders burgerhub's own messages carry or carried: the configured one and the default (a
        reference to a message sent before ``cap_sender`` was set still finds its action)."""
        return {self.sender, outbound.hub_sender(self.hub.config.public_url)}

    # -- in ------------------------------------------------------------------------------------------
    async def receive(self, body: bytes, actor: Actor) -> CapOutcome:
        """Act on one CAP 1.2 message from ``actor``'s organisation."""
        root = await asyncio.to_thread(read_alert, body)
        alert = inbound.read(root)
        org = actor.organisation or NATIONAL
        if org.cap_senders and alert.sender not in org.cap_senders:
            raise Forbidden(f"{org.name} ({org.id}) sends CAP as {', '.join(org.cap_senders)}, not {alert.sender!r}")
        if not alert.dry_run and await self.hub.store.find_cap_message(alert.sender, alert.identifier):
            raise Conflict(f"CAP message {alert.sender},{alert.identifier} was received before")
        try:
            if alert.msg_type == "Alert":
                return await self._alert(alert, actor)
            action = await self._referenced(alert, actor)
            if alert.msg_type == "Update":
                alert.check_fixed(action)
            if alert.dry_run:
                return CapOutcome(alert.msg_type, action["id"], action["version"], dry_run=True, plan={})
            if alert.msg_type == "Update":
                new = await self.hub.actions.update(action["id"], alert.payload, actor)
            else:
                new = await self.hub.actions.end(action["id"], alert.payload, actor)
        except ValidationError as e:
            raise _as_bad_message(e) from e
        await self._record(alert, new, actor)
        return CapOutcome(alert.msg_type, new["id"], new["version"])

    async def _alert(self, alert: inbound.InboundAlert, actor: Actor) -> CapOutcome:
        if alert.dry_run:
            plan = await self.hub.actions.plan(alert.payload, actor)
            return CapOutcome("Alert", None, None, dry_run=True, plan=plan)
        action = await self.hub.actions.start(alert.payload, actor)
        await self._record(alert, action, actor)
        return CapOutcome("Alert", action["id"], action["version"])

    async def _record(self, alert: inbound.InboundAlert, action: dict[str, Any], actor: Actor) -> None:
        await self.hub.store.add_cap_message({
            "sender": alert.sender, "identifier": alert.identifier, "sent": alert.sent, "action_id": action["id"],
            "version": action["version"], "msg_type": alert.msg_type, "organisation": actor.organisation_id,
        })

    async def _referenced(self, alert: inbound.InboundAlert, actor: Actor) -> dict[str, Any]:
        """The action the message's references name (the newest reference that burgerhub knows)."""
        own = re.compile(r"^(act-[0-9a-f]+|[A-Za-z0-9_-]{6,64})\.(\d+)$")
        own_senders = self.own_senders()
        for ref in reversed(alert.references):
            found = await self.hub.store.find_cap_message(ref.sender, ref.identifier)
            action_id = found["action_id"] if found else None
            if action_id is None and ref.sender in own_senders and (m := own.match(ref.identifier)):
                action_id = m.group(1)
            if action_id is None:
                continue
            action = await self.hub.store.get_action(action_id)
            if action is None:
                continue
            ensure_visible(actor.organisation, action)
            return action
        raise NotFound(
            "alert/references: no action is known for "
            + " ".join(r.text() for r in alert.references)
        )

    # -- out -----------------------------------------------------------------------------------------
    async def document(self, action: dict[str, Any]) -> bytes:
        """The latest CAP message of ``action``."""
        chain = await self.chain(action)
        return outbound.write(action, chain, organisation_name=await self.issuer_name(action),
                              public_url=self.hub.config.public_url, network_name=self.hub.config.network_name)

    async def document_of(self, action_id: str, version: int | None = None) -> bytes:
        """The CAP message of one version of an action (the latest when that version made none)."""
        action = await self.hub.store.get_action(action_id)
        if action is None:
            raise NotFound(f"action {action_id!r} not found")
        chain = await self.chain(action)
        index = next((i for i, m in enumerate(chain) if m.version == version), -1)
        return outbound.write(action, chain, organisation_name=await self.issuer_name(action),
                              public_url=self.hub.config.public_url, network_name=self.hub.config.network_name,
                              index=index)

    async def issuer_name(self, action: dict[str, Any]) -> str:
        """Who is seen issuing ``action``: its organisation, or the network for the national operator."""
        org = await self.hub.organisations.get(action.get("organisation") or NATIONAL.id)
        return org.name if org and not org.national else self.hub.config.network_name

    async def chain(self, action: dict[str, Any]) -> list[outbound.Message]:
        return outbound.messages(action, await self.hub.store.cap_messages(action["id"]), self.sender)


def _as_bad_message(error: ValidationError) -> BadMessage:
    head = error.field.split(".")[0].split("[")[0]
    element = FIELD_ELEMENTS.get(head, "alert")
    return BadMessage(element, f"{error.field}: {error.reason}")
