"""Citizens prove their contacts and sign in without a password (see :mod:`.service`).

An unverified phone number or e-mail address is never alerted: the audience index takes only
verified contacts (:meth:`hub.participants.Participant.contact_for`). Sending codes and links is
bounded by :mod:`.limits`; the words are in :mod:`.texts`.
"""

from .limits import Bound, Limits, SendLimiter
from .service import MINIMUM_AGE, SendFailed, VerificationSettings, Verifier, session_hash, with_settings

__all__ = [
    "MINIMUM_AGE",
    "Bound",
    "Limits",
    "SendFailed",
    "SendLimiter",
    "VerificationSettings",
    "Verifier",
    "session_hash",
    "with_settings",
]
