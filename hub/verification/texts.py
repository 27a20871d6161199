"""The words of codes and links, in Dutch (default) and English."""

from __future__ import annotations

from html import escape

from ..models import PersonalMessage

_CODE = {
    "nl": "{network}: uw code is {code}. Deze code is {minutes} minuten geldig. Vroeg u hem niet aan? Dan kunt u dit bericht negeren.",
    "en": "{network}: your code is {code}. It is valid for {minutes} minutes. Did you not ask for it? Then ignore this message.",
}
_CALL = {
    "nl": "Dit is {network}. Uw code is {code}.",
    "en": "This is {network}. Your code is {code}.",
}
_LINKS = {
    "verify_email": {
        "nl": ("Bevestig uw e-mailadres voor {network}",
               "Bevestig met deze link dat dit e-mailadres van u is:"),
        "en": ("Confirm your e-mail address for {network}",
               "Confirm with this link that this e-mail address is yours:"),
    },
    "signup": {
        "nl": ("Aanmelden bij {network}",
               "U meldt zich aan als deelnemer van {network}. Maak uw aanmelding af met deze link:"),
        "en": ("Signing up for {network}",
               "You are signing up as a participant of {network}. Complete it with this link:"),
    },
    "signin": {
        "nl": ("Inloggen bij {network}",
               "U hebt al een aanmelding bij {network}. Log in met deze link:"),
        "en": ("Signing in to {network}",
               "You are already signed up for {network}. Sign in with this link:"),
    },
}
_FOOTER = {
    "nl": "De link is {minutes} minuten geldig en werkt één keer. Vroeg u hier niet om? Dan kunt u deze e-mail negeren.",
    "en": "The link is valid for {minutes} minutes and works once. Did you not ask for this? Then ignore this e-mail.",
}


def _lang(language: str) -> str:
    return language if language in ("nl", "en") else "nl"


def code_message(*, address: str, language: str, code: str, minutes: int, network: str, call: bool) -> PersonalMessage:
    """A code for a phone number: an SMS, or (``call``) what a call to a landline reads."""
    lang = _lang(language)
    template = _CALL[lang] if call else _CODE[lang]
    return PersonalMessage(
        address=address, language=lang, purpose="verify_phone",
        text=template.format(network=network, code=code, minutes=minutes), code=code,
    )


def link_message(*, purpose: str, address: str, language: str, link: str, minutes: int, network: str) -> PersonalMessage:
    """A confirmation, sign-up or sign-in link by e-mail."""
    lang = _lang(language)
    subject, intro = (part.format(network=network) for part in _LINKS[purpose][lang])
    footer = _FOOTER[lang].format(minutes=minutes)
    text = f"{intro}\n\n{link}\n\n{footer}\n"
    html = (
        f'<!doctype html><html lang="{lang}"><body><p>{escape(intro)}</p>'
        f'<p><a href="{escape(link)}">{escape(link)}</a></p><p>{escape(footer)}</p></body></html>'
    )
    return PersonalMessage(address=address, language=lang, purpose=purpose, text=text, subject=subject, html=html)
