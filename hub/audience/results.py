"""What a selection returns: per channel, who is reached at which address, and who is skipped why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping, NamedTuple, Sequence

import numpy as np

from ..channel import Contact
from ..models import Recipient, TransportMode
from ..participants import SkipReason
from .tables import _SECOND

SKIP_REASONS: tuple[str, ...] = tuple(
    r.value
    for r in (
        SkipReason.PAUSED,
        SkipReason.CHANNEL_NOT_CHOSEN,
        SkipReason.NO_CONTACT,
        SkipReason.ADDRESS_UNAVAILABLE,
        SkipReason.QUIET_HOURS,
        SkipReason.DUPLICATE_ADDRESS,
    )
)
"""Every skip reason, in order of precedence."""



class Member(NamedTuple):
    """One recipient of one channel: the participant and the contact address to deliver to."""

    participant_id: str
    address: str
    language: str

    def recipient(self) -> Recipient:
        return Recipient(address=self.address, participant_id=self.participant_id, language=self.language)


class _Members(Sequence[Member]):
    """A channel's recipients, materialised on access (cheap to hold for large selections).

    It reads the index's columns when asked, so the index does not overwrite them in place while any
    such object lives (it holds them weakly as *leases*; see :class:`~hub.audience.AudienceIndex`).
    """

    __slots__ = (
        "_slots", "_prof", "_lang_of", "_contact", "_ids", "_phones", "_emails", "_languages", "_flags",
        "_seconds", "__weakref__",
    )

    def __init__(self, slots, prof, lang_of, contact, ids, phones, emails, languages, flags=None, seconds=None):
        self._slots = slots
        self._prof = prof  # every slot's profile
        self._lang_of = lang_of  # profile -> language code
        self._contact = contact
        self._ids = ids
        self._phones = phones  # every slot's number: to text, else to call
        self._emails = emails
        self._languages = languages
        # for calls: every slot's flags, and the second numbers of the slots whose flag says they have
        # one (their number to call, where it differs from the number to text)
        self._flags = flags
        self._seconds = seconds

    def __len__(self) -> int:
        return len(self._slots)

    def _address(self, slot: int) -> str:
        if self._contact is Contact.EMAIL:
            return self._emails.get(slot)
        if self._seconds is not None and self._flags[slot] & _SECOND:
            return f"+{self._seconds.get(slot)}"
        return f"+{int(self._phones[slot])}"

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        slot = int(self._slots[i])
        lang = self._languages[int(self._lang_of[self._prof[slot]])]
        return Member(self._ids.get(slot), self._address(slot), lang)

    def columns(self) -> tuple[list[str], list[str], list[str]]:
        """(participant ids, addresses, languages), each in recipient order: no object per recipient."""
        slots = self._slots
        languages = self._languages
        langs = [languages[c] for c in self._lang_of[self._prof[slots]].tolist()]
        if self._contact is Contact.EMAIL:
            addresses = self._emails.get_many(slots)
        else:
            numbers = self._phones[slots]
            if self._seconds is not None:
                second = np.flatnonzero(self._flags[slots] & _SECOND)
                if len(second):
                    numbers[second] = self._seconds.get_many(slots[second])
            addresses = list(map("+".__add__, map(str, numbers.tolist())))
        return self._ids.get_many(slots), addresses, langs

    def __iter__(self) -> Iterator[Member]:
        return map(Member, *self.columns())

    def __repr__(self) -> str:
        return f"<{len(self)} recipients>"


_EMPTY_MEMBERS: Sequence[Member] = ()


@dataclass(frozen=True, slots=True)
class ChannelSelection:
    """Who one channel reaches, and why the other participants in the area are skipped."""

    channel: str
    contact: Contact
    count: int
    skipped: Mapping[str, int]
    recipients: Sequence[Member] = _EMPTY_MEMBERS


@dataclass(frozen=True, slots=True)
class Selection:
    """The audience of an action's area at one moment, per channel.

    ``radius_m`` and ``transport`` repeat a circle's radius and the mode of transport it followed from.
    With ``count_only`` the recipient lists are empty and only the counts are filled in.
    """

    in_area: int
    channels: Mapping[str, ChannelSelection]
    radius_m: float | None = None
    transport: TransportMode | None = None
    count_only: bool = False

    def recipients(self, channel: str) -> Sequence[Member]:
        return self.channels[channel].recipients

    def skipped(self, channel: str) -> Mapping[str, int]:
        return self.channels[channel].skipped

    def summary(self) -> dict[str, Any]:
        """Counts only (no personal data), for dry-runs, logs and the API."""
        return {
            "in_area": self.in_area,
            "radius_m": self.radius_m,
            "transport": self.transport.value if self.transport else None,
            "channels": {
                name: {"recipients": c.count, "skipped": dict(c.skipped)} for name, c in self.channels.items()
            },
        }
