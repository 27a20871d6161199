"""Changing the rules in force: from the API (``PUT /v1/routes``), from their file (``POST
/v1/routes/reload``, ``SIGHUP``), each validated first, warned about, and audited with a diff. On a
cluster (PostgreSQL) the new rules are stored as the next version, which every hub puts in force
(:mod:`hub.rules_cluster`).

Which rules an action follows: the route is decided once, when the action starts, and kept with the
action. Its updates, a larger area and its closing message go to the channels of that route, whatever
the rules in force say later; new rules apply to actions started after they were loaded.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import logging
from typing import Any

from .routing_lint import lint
from .store import AuditEntry

log = logging.getLogger("burgerhub.rules")


def rules_diff(before: str, after: str) -> str:
    """A unified diff of two rules texts ("" when they are the same)."""
    return "".join(difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), "rules before", "rules after", n=2))


async def replace_rules(
    hub: Any, actor: Any, *, text: str | None = None, source: str, allow_gaps: bool = False
) -> dict[str, Any]:
    """Load new rules: ``text`` (then saved where a restart reads them), or else re-read the rules file.

    Invalid rules raise (:class:`~hub.errors.ConfigError` / :class:`~hub.errors.ValidationError`) and
    the rules in force stay. Valid ones replace them at once (on a cluster: stored first, as the
    version every hub follows); the audit keeps who, from where, the version, the diff and the warnings.
    """
    before = hub.rules.text
    # parsing and checking take time on a large or hostile file: never on the event loop
    parsed = await asyncio.to_thread(hub.rules.parse, text, source=source, allow_gaps=allow_gaps)
    version = await hub.cluster_rules.publish(parsed, source=source, actor=actor)
    new = parsed
    # two loads at once on a cluster: the later version may already be in force here
    if version is None or version > (hub.rules.version or 0):
        hub.rules.install(parsed)
        hub.rules.version = version
    saved = str(hub.save_rules()) if text is not None else None
    diff = rules_diff(before, new.text)
    warnings = [w.to_dict() for w in lint(new)]
    sha256 = hashlib.sha256(new.text.encode()).hexdigest()
    detail = {"source": source, "sha256": sha256, "version": version, "diff": diff,
              "warnings": [f"{w['field']}: {w['reason']}" for w in warnings]}
    if saved:
        detail["saved_to"] = saved
    await hub.store.add_audit(AuditEntry(actor.name, actor.role, "routes.reload", "routes", detail))
    log.warning("routing rules reloaded from %s by %s (%s)", source, actor.name,
                f"{diff.count(chr(10))} diff lines" if diff else "unchanged")
    return {"status": "loaded", "source": str(hub.rules.path), "saved_to": saved, "changed": bool(diff),
            "version": version, "sha256": sha256, "diff": diff, "warnings": warnings}
