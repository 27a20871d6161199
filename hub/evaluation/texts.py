"""The report's texts in Dutch (the default) and English.

Labels are written in English in the code, as the key of their Dutch text here (a message catalogue:
a text missing from :data:`DUTCH` shows in English). Values that are codes (action types, urgencies,
results, message kinds, channels) are printed through :func:`value`. Counts and figures never change
with the language; only the words around them do.
"""

from __future__ import annotations

from typing import Callable

LANGUAGES = ("nl", "en")
DEFAULT = "nl"

DUTCH: dict[str, str] = {
    # the summary
    "The network's figures": "De cijfers van het netwerk",
    "Figure": "Cijfer",
    "Description": "Omschrijving",
    "Value": "Waarde",
    "Actions": "Acties",
    "Time-critical actions": "Tijdkritische acties",
    "Time-critical actions with at least one participant response":
        "Tijdkritische acties met minstens één reactie van een deelnemer",
    "Ended actions solved thanks to participants": "Beëindigde acties opgelost dankzij deelnemers",
    "Missing persons solved thanks to participants": "Vermissingen opgelost dankzij deelnemers",
    "Actions per 100,000 inhabitants in the period": "Acties per 100.000 inwoners in de periode",
    "Actions per 100,000 inhabitants per year": "Acties per 100.000 inwoners per jaar",
    "Registered participants": "Geregistreerde deelnemers",
    "Participants as a share of residents aged 16 and over (estimated)":
        "Deelnemers als aandeel van de inwoners van 16 jaar en ouder (geschat)",
    "Participants reached at least once": "Deelnemers minstens één keer bereikt",
    "Times a participant was reached (mean, all registered)":
        "Keren dat een deelnemer werd bereikt (gemiddeld, alle geregistreerden)",
    "Times a participant was reached (mean, those reached)":
        "Keren dat een deelnemer werd bereikt (gemiddeld, wie bereikt werd)",
    "Participants reached more than 3 times": "Deelnemers meer dan 3 keer bereikt",
    "Participants reached more than 5 times": "Deelnemers meer dan 5 keer bereikt",
    # per action type
    "Actions, responses and results per action type": "Acties, reacties en resultaten per soort actie",
    "Action type": "Soort actie",
    "Time-critical": "Tijdkritisch",
    "Time-critical with a response": "Tijdkritisch met een reactie",
    "Response share": "Aandeel met reactie",
    "Ended": "Beëindigd",
    "Solved thanks to participants": "Opgelost dankzij deelnemers",
    "Solved share": "Aandeel opgelost",
    "Result: {}": "Resultaat: {}",
    # messages
    "Messages per channel and kind": "Berichten per kanaal en soort",
    "Per action, channel and message kind": "Per actie, kanaal en soort bericht",
    "Channel": "Kanaal",
    "Message": "Bericht",
    "Targeted": "Bedoeld",
    "Queued": "In de wachtrij",
    "Sending": "Wordt verstuurd",
    "Sent": "Verstuurd",
    "Delivered": "Afgeleverd",
    "Failed": "Mislukt",
    "Cancelled": "Geannuleerd",
    "Skipped": "Overgeslagen",
    "Delivered share (of reached)": "Aandeel afgeleverd (van bereikt)",
    "Delivered share (of sent)": "Aandeel afgeleverd (van verstuurd)",
    "Delivered share: messages a provider confirmed as delivered, of those sent.":
        "Aandeel afgeleverd: berichten waarvan de aanbieder de aflevering bevestigde, van de verstuurde.",
    # tips
    "Tips per channel": "Tips per kanaal",
    "Tips": "Tips",
    "Actions with a tip by this channel": "Acties met een tip via dit kanaal",
    "Median time to the action's first tip": "Mediane tijd tot de eerste tip van de actie",
    "phone: tips on the call-back line, logged by a dispatcher.":
        "telefoon: tips via de terugbellijn, vastgelegd door een centralist.",
    # reach
    "How often participants were reached (a distribution, not a list)":
        "Hoe vaak deelnemers werden bereikt (een verdeling, geen lijst)",
    "Times reached": "Keren bereikt",
    "Participants": "Deelnemers",
    "Share of registered participants": "Aandeel van de geregistreerde deelnemers",
    "0: registered now (living in the selected province or municipality, if one is selected) and "
    "not reached by a start message of the selected actions.":
        "0: nu geregistreerd (wonend in de gekozen provincie of gemeente, als die gekozen is) en niet "
        "bereikt door een startbericht van de gekozen acties.",
    # municipalities
    "Actions and participation per municipality": "Acties en deelname per gemeente",
    "Municipality": "Gemeente",
    "Province": "Provincie",
    "Inhabitants": "Inwoners",
    "Inhabitants aged 16+ (estimated)": "Inwoners van 16+ (geschat)",
    "Actions per 100,000 inhabitants": "Acties per 100.000 inwoners",
    "… per year": "… per jaar",
    "Participants living there": "Deelnemers die er wonen",
    "Participants as a share of inhabitants aged 16+ (estimated)":
        "Deelnemers als aandeel van de inwoners van 16+ (geschat)",
    "Sorted by participation, lowest first: where few are registered. An action counts for the "
    "municipality nearest its area's centre; a participant for the one nearest their home. "
    "Inhabitants aged 16 and over are estimated as {share} of all inhabitants (the national share, "
    "CBS); the places table has no age groups.":
        "Gesorteerd op deelname, laagste eerst: waar weinig mensen geregistreerd zijn. Een actie telt "
        "voor de gemeente die het dichtst bij het midden van haar gebied ligt, een deelnemer voor de "
        "gemeente die het dichtst bij zijn huis ligt. Het aantal inwoners van 16 jaar en ouder is "
        "geschat als {share} van alle inwoners (het landelijke aandeel, CBS); de tabel met plaatsen "
        "heeft geen leeftijdsgroepen.",
    # per action
    "Per action": "Per actie",
    "Action": "Actie",
    "Started": "Gestart",
    "Type": "Soort",
    "Urgency": "Urgentie",
    "Region": "Regio",
    "Result": "Resultaat",
    "Participants targeted": "Deelnemers bedoeld",
    "Participants reached": "Deelnemers bereikt",
    "Start messages": "Startberichten",
    "Start messages sent": "Startberichten verstuurd",
    "Start messages delivered": "Startberichten afgeleverd",
    "Delivered share": "Aandeel afgeleverd",
    "Closing messages sent": "Slotberichten verstuurd",
    "Time to first start message": "Tijd tot het eerste startbericht",
    "Time to last start message": "Tijd tot het laatste startbericht",
    "Time to first tip": "Tijd tot de eerste tip",
    "Start messages per channel": "Startberichten per kanaal",
    # charts
    "The seeds' figures": "De kerncijfers",
    "Response (time-critical)": "Reactie (tijdkritisch)",
    "… missing persons": "… vermissingen",
    "Reached more than 3 times": "Meer dan 3 keer bereikt",
    "Reached more than 5 times": "Meer dan 5 keer bereikt",
    "Actions per type": "Acties per soort",
    "Start messages delivered, per channel": "Startberichten afgeleverd, per kanaal",
    "How often participants were reached": "Hoe vaak deelnemers werden bereikt",
    "times reached": "keren bereikt",
    "actions per 100,000 inhabitants per year": "acties per 100.000 inwoners per jaar",
    "Participants as a share of inhabitants aged 16+": "Deelnemers als aandeel van de inwoners van 16+",
    "red: few registered": "rood: weinig geregistreerd",
    "estimated": "geschat",
    # the HTML report
    "{network}: evaluation": "{network}: evaluatie",
    "{network} evaluation {selection}": "{network} evaluatie {selection}",
    "{days} days": "{days} dagen",
    "generated {at} (participants per municipality counted {counted})":
        "gemaakt {at} (deelnemers per gemeente geteld {counted})",
    "counts only; fewer than 5 people shown as “< 5”": "alleen aantallen; minder dan 5 personen staat er als “< 5”",
    "actions": "acties",
    "time-critical actions with a participant response": "tijdkritische acties met reactie van een deelnemer",
    "solved thanks to participants": "opgelost dankzij deelnemers",
    "missing persons solved thanks to participants": "vermissingen opgelost dankzij deelnemers",
    "times a reached participant was reached (mean)": "keer bereikt per bereikte deelnemer (gemiddeld)",
    "Per action type": "Per soort actie",
    "Messages and tips": "Berichten en tips",
    "Reach per participant": "Bereik per deelnemer",
    "Municipalities": "Gemeenten",
    "Every municipality": "Alle gemeenten",
    "First {limit} of {total} rows; the CSV export has all.":
        "De eerste {limit} van {total} rijen; de CSV-export heeft ze allemaal.",
    # the selection
    "region": "regio",
    "municipality": "gemeente",
    "type": "soort",
    "urgency": "urgentie",
    "organisation": "organisatie",
}

#: codes printed as words: action types, urgencies, results, message kinds, channels, yes/no
VALUES: dict[str, tuple[str, str]] = {
    "missing_person": ("Vermiste persoon", "Missing person"),
    "burglary": ("Inbraak", "Burglary"),
    "robbery": ("Overval", "Robbery"),
    "hit_and_run": ("Doorrijden na ongeval", "Hit and run"),
    "shoplifting": ("Winkeldiefstal", "Shoplifting"),
    "suspicious_vehicle": ("Verdacht voertuig", "Suspicious vehicle"),
    "crisis": ("Crisis", "Crisis"),
    "neighbourhood_inquiry": ("Buurtonderzoek", "Neighbourhood inquiry"),
    "prevention": ("Preventie", "Prevention"),
    "time_critical": ("Tijdkritisch", "Time-critical"),
    "non_urgent": ("Niet urgent", "Non-urgent"),
    "found": ("Gevonden", "Found"),
    "arrested": ("Aangehouden", "Arrested"),
    "vehicle_found": ("Voertuig gevonden", "Vehicle found"),
    "useful_information": ("Nuttige informatie verstrekt", "Useful information received"),
    "all_clear": ("Gevaar voorbij", "All clear"),
    "ended_without_result": ("Beëindigd zonder resultaat", "Ended without result"),
    "cancelled": ("Ingetrokken", "Cancelled"),
    "active": ("Actief", "Active"),
    "ended": ("Beëindigd", "Ended"),
    "start": ("start", "start"),
    "update": ("update", "update"),
    "end": ("slot", "closing"),
    "phone": ("telefoon", "phone"),
    "email": ("e-mail", "e-mail"),
    "voice": ("spraak", "voice"),
    "unknown": ("onbekend", "unknown"),
    "all": ("alle", "all"),
    "yes": ("ja", "yes"),
    "no": ("nee", "no"),
}


def language_of(value: str | None) -> str:
    """``value`` when it is a language of the report, else the default (Dutch)."""
    return value if value in LANGUAGES else DEFAULT


def translator(language: str) -> Callable[[str], str]:
    """``_(text)``: the English ``text`` in ``language``."""
    if language == "en":
        return lambda text: text
    return lambda text: DUTCH.get(text, text)


def number(x: float, decimals: int = 0, language: str | None = None) -> str:
    """``x`` with ``decimals`` and thousands grouped as ``language`` writes them: Dutch "1.234,5",
    English "1,234.5"; ``None`` (machine-readable, CSV): "1234.5"."""
    if language is None:
        return f"{x:.{decimals}f}"
    text = f"{x:,.{decimals}f}"
    if language == "nl":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def percent(fraction: float, language: str | None = None) -> str:
    """A fraction 0..1 as a percentage with one decimal: "12,3 %" in Dutch, "12.3 %" in English."""
    return f"{number(100 * fraction, 1, language)} %"


def value(code: object, language: str) -> str:
    """A code (action type, result, channel...) as a word in ``language``; other values as they are."""
    words = VALUES.get(code) if isinstance(code, str) else None
    if words is None:
        return "" if code is None else str(code)
    return words[0] if language == "nl" else words[1]


def codes(language: str) -> dict[str, str]:
    """Every code of :data:`VALUES` as printed in ``language`` (a table column's ``codes``)."""
    k = 0 if language == "nl" else 1
    return {code: words[k] for code, words in VALUES.items()}
