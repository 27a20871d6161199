"""Audience selection: which participants an action's area reaches, on which channel, at which address.

:class:`AudienceIndex` keeps every participant's addresses in memory as numpy arrays sorted by grid
cell, so that selecting the participants in a circle or polygon touches only the cells under the area.
It is built for national scale (millions of participants, 100,000 hits in a few milliseconds) and
kept compact (a few dozen bytes per participant and per address):

* **Addresses**: ``float32`` lat/lon (under half a metre of rounding), the ``int32`` participant slot
  and an ``int32`` *window set*, sorted by cell (0.02° by default); a cell's range is found with
  ``np.searchsorted`` over the sorted keys of the occupied cells.
* **Participants**: one row per slot with a *profile* number, the pause end (minutes), one phone
  number (an ``int64`` of its E.164 digits, 0 for none: the number to text, else the number to call),
  flag bits and a hash of the e-mail address. A participant whose number to call differs from their
  number to text (SMS on the mobile, calls on the landline) has a flag bit saying so and that number
  in a sparse side table, slots and numbers sorted by slot, so it costs memory (12 bytes) only for
  them. Ids and e-mail addresses live in one byte string each with offsets. Slots are numbered by the
  grid cell of each participant's first address, so the participants of one area lie close together
  in memory.
* **Profiles**: what many participants share is stored once: chosen channels, quiet hours, time zone,
  language and which contact details exist. Filtering a hundred thousand candidates then costs a few
  gathers from small per-profile tables computed once per query.
* **Window sets**: the distinct availability windows of addresses ("mon-fri 08:00-18:00"), evaluated
  once per query and time zone.

Changes after the build are cheap and bounded (:mod:`.index`, :mod:`.compaction`): a participant keeps
their slot, which an update overwrites in place and a removal empties (erasing its contents) for a
newcomer to take; new addresses go to an *overlay* tested after a bounding-box filter, while the
sorted entries they replace are hidden. Compaction folds the overlay and the other pending work into
the arrays a bounded step at a time, computed in another thread (:meth:`AudienceIndex.needs_compaction`,
:meth:`AudienceIndex.compaction`, :meth:`AudienceIndex.apply_compaction`), or on the spot past a hard
limit. So an index that has followed any number of changes answers as fast, and weighs about as much,
as a freshly built one. A :class:`Selection` stays valid while the index changes: while one lives,
nothing it reads is overwritten. The index is not thread-safe: use it from one thread (the event loop).

Modules: :mod:`.columns` (column storage), :mod:`.tables` (profiles, window sets, flag bits),
:mod:`.layout` (the sorted arrays), :mod:`.loader` (bulk loading), :mod:`.index` (the index and its
changes), :mod:`.query` (selection), :mod:`.results` (what a selection returns), :mod:`.compaction`
and :mod:`.snapshots` (to and from :mod:`hub.snapshot`).

Selection rules (:meth:`AudienceIndex.select`):

* a participant is *in the area* when any of their addresses lies in it; they may be reached when at
  least one of those addresses is available at that moment, else they are skipped as
  ``address_unavailable``;
* every channel reaches a participant at most once, however many of their addresses lie in the area;
* no contact address (phone number, e-mail) gets the same message twice on one channel, even when
  several participants registered it: one of them gets it (deterministically, the lowest slot), the
  others are skipped as ``duplicate_address``;
* per channel ``in_area == len(recipients) + sum(skipped.values())``.

Skip reasons, in order of precedence: ``paused``, ``channel_not_chosen``, ``no_contact``,
``address_unavailable``, ``quiet_hours`` (unless bypassed), ``duplicate_address``.
"""

from .index import AudienceIndex, Compaction, select_audience
from .loader import IndexLoader
from .results import SKIP_REASONS, ChannelSelection, Member, Selection

__all__ = [
    "SKIP_REASONS",
    "AudienceIndex",
    "ChannelSelection",
    "Compaction",
    "IndexLoader",
    "Member",
    "Selection",
    "select_audience",
]
