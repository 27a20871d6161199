"""One rule set for every hub of a cluster: the routing rules in force live in the shared store.

On PostgreSQL (several hub processes) the rules in force are the highest version stored in
``routing_rules`` (:mod:`hub.store.rules`):

* **Loading rules stores them.** ``PUT /v1/routes``, ``POST /v1/routes/reload`` and ``SIGHUP`` validate
  the new rules on the hub that received them, store them as the next version (audited as before), and
  put them in force there. ``PUT`` also writes them over that hub's rules file, as on one process.
* **Every hub follows.** Storing a version sends ``NOTIFY burgerhub_rules``; each hub then reads the
  new version, validates it against its own channels and puts it in force. A check every
  :data:`CHECK_SECONDS` catches a notification lost with a dropped listening connection.
* **The store wins over the file.** A hub that starts reads the stored version, not its rules file.
  Only the first hub to start on an empty store seeds it with its file. A changed file is put in force
  by a reload (``POST /v1/routes/reload`` or ``SIGHUP`` on any hub), which stores it for the cluster;
  a hub whose file differs from the stored version says so in its log when it starts.

A stored version a hub cannot take (it names a channel this hub does not have) is logged once and
that hub keeps the rules it has, so one misconfigured hub does not stop the others.

On SQLite there is one process: the rules file and the rules in force are as before, nothing is stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from .errors import HubError
from .routing import RuleSet

log = logging.getLogger("burgerhub.rules")

#: how often a hub checks the store for a newer version it was not told of
CHECK_SECONDS = 30.0


def rules_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class ClusterRules:
    """Keeps one hub's rules on the version stored for its cluster (nothing to do on SQLite)."""

    def __init__(self, hub: Any, *, check_seconds: float = CHECK_SECONDS) -> None:
        self.hub = hub
        self.enabled = bool(hub.shared)
        self.check_seconds = check_seconds
        self._task: asyncio.Task | None = None
        self._checking: asyncio.Task | None = None
        self._again = False
        self._stopped = False
        #: a stored version this hub could not take (logged once, not tried again)
        self._refused: int | None = None

    async def start(self) -> None:
        """Take the stored rules (seeding the store with the rules file when none are stored), then follow."""
        if not self.enabled:
            return
        self._stopped = False
        store, holder = self.hub.store, self.hub.rules
        stored = await store.active_rules()
        if stored is None:
            await store.store_rules(holder.text, rules_sha256(holder.text), source=f"rules file {holder.path}",
                                    actor="burgerhub", role="system", seed=True)
            stored = await store.active_rules()
        if stored is not None:
            differs = stored.sha256 != rules_sha256(holder.text)
            if await self._adopt(stored) and differs:
                log.warning("the rules file %s differs from the cluster's rules in force (version %d); the stored "
                            "version is used. POST /v1/routes/reload or SIGHUP puts the file in force for the "
                            "cluster", holder.path, stored.version)
            elif differs:
                log.warning("the rules file %s differs from the cluster's rules in force (version %d), which this "
                            "hub cannot take: it runs on its rules file", holder.path, stored.version)
        await store.listen("rules", self._notified)
        # a version stored after active_rules() and before listening sent a notification nobody heard
        self.check_soon()
        self._task = asyncio.create_task(self._check_forever(), name="burgerhub-rules-check")

    async def stop(self) -> None:
        """Stop following: no notification starts a check any more, and no check outlives this."""
        self._stopped = True
        if self.enabled:
            self.hub.store.unlisten("rules", self._notified)
        tasks = [task for task in (self._task, self._checking) if task is not None]
        self._task = self._checking = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def publish(self, rules: RuleSet, *, source: str, actor: Any) -> int | None:
        """Store validated ``rules`` as the cluster's next version and answer it (``None`` on SQLite)."""
        if not self.enabled:
            return None
        return await self.hub.store.store_rules(rules.text, rules_sha256(rules.text), source=source,
                                                actor=actor.name, role=actor.role)

    def _notified(self, _payload: str) -> None:
        self.check_soon()

    def check_soon(self) -> None:
        """Check for a newer version without waiting (one check at a time; another after it if asked)."""
        if self._stopped:
            return
        if self._checking is not None and not self._checking.done():
            self._again = True
            return
        self._checking = asyncio.get_running_loop().create_task(self._check_until_settled())

    async def _check_until_settled(self) -> None:
        while True:
            self._again = False
            try:
                await self.check()
            except Exception as e:
                log.warning("could not check the cluster's routing rules: %s", e)
            if not self._again:
                return

    async def _check_forever(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            self.check_soon()

    async def check(self) -> bool:
        """Put a newer stored version in force; whether one was taken."""
        version = await self.hub.store.rules_version()
        if version <= (self.hub.rules.version or 0) or version == self._refused:
            return False
        stored = await self.hub.store.active_rules()
        return stored is not None and await self._adopt(stored)

    async def _adopt(self, stored: Any) -> bool:
        holder = self.hub.rules
        if stored.version <= (holder.version or 0) or stored.version == self._refused:
            return False
        if stored.sha256 == rules_sha256(holder.text):
            holder.version = stored.version
            return True
        try:
            # never on the event loop: a large rule set takes a while to parse and check
            rules = await asyncio.to_thread(holder.parse, stored.text, source=f"stored version {stored.version}",
                                            allow_gaps=True)
        except HubError as e:
            self._refused = stored.version
            log.error("routing rules version %d (loaded by %s from %s) cannot be used on this hub; the rules "
                      "in force stay: %s", stored.version, stored.actor, stored.source, e)
            return False
        if stored.version <= (holder.version or 0):
            return False  # a newer one was put in force meanwhile
        holder.install(rules)
        holder.version = stored.version
        log.warning("routing rules version %d in force (loaded by %s from %s)", stored.version, stored.actor,
                    stored.source)
        return True
