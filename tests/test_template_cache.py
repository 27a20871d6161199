"""Texts are rendered once per notice, language and variant, not once per recipient."""

from __future__ import annotations

from hub.models import MessageKind
from hub.templates import MessageTemplates
from hub.testing import make_notice


class Counting(MessageTemplates):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.renders = 0
        get_template = self.env.get_template

        def counted(name, *a, **kw):
            self.renders += 1
            return get_template(name, *a, **kw)

        self.env = type("Env", (), {"get_template": staticmethod(counted)})()


def test_every_recipient_of_a_notice_shares_one_rendering_per_language_and_variant():
    templates = Counting()
    notice = make_notice()
    texts = {templates.text(notice, lang, variant=v) for _ in range(1000) for lang in ("nl", "en") for v in ("short", "long")}
    assert templates.renders == 4 and len(texts) == 4
    # an equal notice built anew (as the engine does per batch) is the same text
    assert templates.text(make_notice(), "nl", variant="short") in texts and templates.renders == 4
    # another kind or another description is another text
    templates.text(make_notice(MessageKind.END), "nl", variant="short")
    templates.text(notice, "nl", variant="short", description="Een andere tekst.")
    assert templates.renders == 6


def test_texts_from_values_that_may_change_are_rendered_every_time():
    class Box:  # hashable by identity, and mutable
        def __init__(self, text):
            self.text = text

        def __str__(self):
            return self.text

    templates = Counting()
    box = Box("Man met rode pet.")
    first = templates.text(make_notice(), "nl", variant="short", description=box)
    box.text = "Vrouw met blauwe jas."
    second = templates.text(make_notice(), "nl", variant="short", description=box)
    assert "rode pet" in first and "blauwe jas" in second and templates.renders == 2
    templates.text(make_notice(), "nl", variant="short", description=["unhashable"])
    assert templates.renders == 3


def test_warm_compiles_in_every_language_before_the_first_alert(tmp_path):
    templates = MessageTemplates(tmp_path)  # a folder of its own: a fresh environment
    templates.warm(["start.txt.j2", "end.txt.j2"])
    loaded: list[str] = []
    loader = templates.env.loader
    get_source = loader.get_source
    loader.get_source = lambda env, name: loaded.append(name) or get_source(env, name)
    try:
        for language in ("nl", "en"):
            templates.text(make_notice(), language, variant="short")
            templates.text(make_notice(MessageKind.END), language, variant="short")
    finally:
        del loader.get_source
    assert not [name for name in loaded if name.endswith(("start.txt.j2", "end.txt.j2"))]
