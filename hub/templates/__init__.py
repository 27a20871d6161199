"""Citizen-facing message text: Jinja2 templates per language, Dutch by default, English too.

Channels render through :class:`MessageTemplates`: their own ``templates_dir`` is searched first, then
the core's folder beside this module, so a channel overrides only what it needs.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

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


class MessageTemplates:
    """Renders templates for one channel. Cheap to create; environments are shared and cached."""

    def __init__(self, channel_dir: Path | None = None, *, defaults: Mapping[str, Any] | None = None):
        dirs = ([str(channel_dir)] if channel_dir else []) + [str(CORE_DIR)]
        self.env = _environment(tuple(dirs))
        self.defaults = dict(defaults or {})
        self.defaults.setdefault("network", "Burgernet")

    def render(self, name: str, language: str, **variables: Any) -> str:
        language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        template = self.env.get_template(f"{language}/{name}")
        return template.render({**self.defaults, **variables}).strip()

    def text(self, notice: Notice, language: str, *, variant: str = "long", **variables: Any) -> str:
        """The core's text for a notice. ``variant`` is ``long`` (mail, voice, app) or ``short`` (SMS, signs)."""
        action = notice.action
        return self.render(
            f"{notice.kind.value}.txt.j2",
            language,
            action=action,
            notice=notice,
            variant=variant,
            ref=action.reference,
            description=variables.pop("description", action.description),
            **variables,
        )
