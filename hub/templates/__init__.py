"""Citizen-facing message text: Jinja2 templates per language, Dutch by default, English too.

Channels render through :class:`MessageTemplates`: their own ``templates_dir`` is searched first, then
the core's folder beside this module, so a channel overrides only what it needs.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import jinja2

from ..models import Notice

CORE_DIR = Path(__file__).parent
LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"


@lru_cache(maxsize=32)
def _environment(dirs: tuple[str, ...]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(d) for d in dirs]),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["squash"] = lambda s: " ".join(str(s).split())
    env.filters["sentence"] = _sentence
    return env


def _sentence(text: Any) -> str:
    """Whitespace squashed and a full stop added when the text does not end a sentence."""
    out = " ".join(str(text).split())
    return out if not out or out[-1] in ".!?…" else out + "."


#: value types whose instances never change, so a text rendered from them can be reused
_IMMUTABLE = (str, int, float, bool, type(None), enum.Enum, datetime.date, datetime.time, datetime.timedelta)


def _immutable(value: Any) -> bool:
    if isinstance(value, _IMMUTABLE):
        return True
    if isinstance(value, (tuple, frozenset)):
        return all(_immutable(v) for v in value)
    params = getattr(type(value), "__dataclass_params__", None)
    if params is not None and params.frozen:
        return all(_immutable(getattr(value, f.name)) for f in dataclasses.fields(value))
    return False


class MessageTemplates:
    """Renders templates for one channel. Cheap to create; environments are shared and cached.

    A text rendered only from immutable values (strings, numbers, enums, dates, tuples and frozen
    dataclasses such as the action and the notice) is kept, so every recipient of a notice who shares
    a language gets the text rendered once, whichever channel asks and however often.
    """

    #: texts kept per instance; a fan-out needs a handful (kinds x languages x variants)
    cache_size = 256

    def __init__(self, channel_dir: Path | None = None, *, defaults: Mapping[str, Any] | None = None):
        dirs = ([str(channel_dir)] if channel_dir else []) + [str(CORE_DIR)]
        self.env = _environment(tuple(dirs))
        self.defaults = dict(defaults or {})
        self.defaults.setdefault("network", "Burgernet")
        self.defaults.setdefault("police_number", "0900 8844")
        self._texts: dict[tuple[Any, ...], str] = {}

    def render(self, name: str, language: str, **variables: Any) -> str:
        language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        key: tuple[Any, ...] | None = (name, language, *variables.items())
        try:
            text = self._texts.get(key)  # type: ignore[arg-type]
        except TypeError:  # an unhashable value
            text, key = None, None
        if text is not None:
            return text
        template = self.env.get_template(f"{language}/{name}")
        text = template.render({**self.defaults, **variables}).strip()
        if key is not None and all(_immutable(v) for v in variables.values()):
            if len(self._texts) >= self.cache_size:
                self._texts.clear()
            self._texts[key] = text
        return text

    def warm(self, names: Iterable[str]) -> None:
        """Compile these templates in every language now, so the first alert does not wait for it."""
        for language in LANGUAGES:
            for name in names:
                self.env.get_template(f"{language}/{name}")

    def text(
        self, notice: Notice, language: str, *, variant: str = "long", call_112: bool = False, **variables: Any
    ) -> str:
        """The core's text for a notice. ``variant`` is ``long`` (mail, voice, app) or ``short`` (SMS, signs).

        ``call_112``: the call to action is "call 112" instead of the call-back number, as on the
        channels where the network tells people so (X, Messenger).
        """
        action = notice.action
        return self.render(
            f"{notice.kind.value}.txt.j2",
            language,
            action=action,
            notice=notice,
            variant=variant,
            ref=action.reference,
            call_112=call_112,
            description=variables.pop("description", action.description),
            **variables,
        )
