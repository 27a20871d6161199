"""Words of the public overview in Dutch (default) and English."""

from __future__ import annotations

from ..cap.outbound import EVENT

TYPES = EVENT
RESULTS = {
    "nl": {"found": "Gevonden", "arrested": "Aangehouden", "ended_without_result": "Beëindigd zonder resultaat",
           "cancelled": "Ingetrokken"},
    "en": {"found": "Found", "arrested": "Arrested", "ended_without_result": "Ended without result",
           "cancelled": "Withdrawn"},
}
WORDS = {
    "nl": {
        "title": "Acties en hun resultaat", "active": "Loopt", "ended": "Beëindigd", "started": "Gestart",
        "ended_at": "Beëindigd", "result": "Resultaat", "area": "Gebied", "around": "rond",
        "none": "Er zijn nu geen openbare acties.", "hidden": "De beschrijving is niet (meer) openbaar.",
        "feed": "Atom-feed (CAP)", "back": "Alle acties", "cap": "Als CAP-bericht", "km": "km",
        "time_critical": "Spoed", "non_urgent": "Geen spoed", "call": "Ziet u iets? Bel gratis",
        "other": "English",
    },
    "en": {
        "title": "Actions and their results", "active": "Running", "ended": "Ended", "started": "Started",
        "ended_at": "Ended", "result": "Result", "area": "Area", "around": "around",
        "none": "There are no public actions now.", "hidden": "The description is not (or no longer) public.",
        "feed": "Atom feed (CAP)", "back": "All actions", "cap": "As a CAP message", "km": "km",
        "time_critical": "Urgent", "non_urgent": "Not urgent", "call": "Seen something? Call free of charge",
        "other": "Nederlands",
    },
}
