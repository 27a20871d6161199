"""Reading CAP 1.2 documents safely and checking them against the official OASIS XML Schema.

The parser is lxml's (libxml2) with every door shut: no DTD is loaded, no entity is resolved, nothing
is fetched from the network, no huge trees; and a document that declares a DOCTYPE at all is refused,
so neither external entities (XXE) nor entity expansion ("billion laughs") can do anything. CAP never
needs a DTD. The schema is ``schemas/cap/CAP-v1.2.xsd`` as OASIS publishes it.

Parsing and validation are CPU work: :func:`read_alert` is meant to run on a worker thread (the hub
calls it through ``asyncio.to_thread``); each thread compiles the schema once for itself, because
lxml's validators keep per-call error state.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from lxml import etree

from ..errors import BadMessage
from ..schemas import default_directory

NS = "urn:oasis:names:tc:emergency:cap:1.2"
MAX_BYTES = 512 * 1024
"""Largest CAP document accepted; real alerts are a few kilobytes."""

_local = threading.local()
_PREFIX = re.compile(r"\w+:")


def schema_path() -> Any:
    return default_directory() / "cap" / "CAP-v1.2.xsd"


def _schema() -> etree.XMLSchema:
    schema = getattr(_local, "schema", None)
    if schema is None:
        with Path(str(schema_path())).open("rb") as f:
            schema = etree.XMLSchema(etree.parse(f, _parser()))
        _local.schema = schema
    return schema


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
        remove_pis=True, collect_ids=False,
    )


def parse(body: bytes) -> etree._Element:
    """The document's root element; :class:`~hub.errors.BadMessage` for anything not plain, well-formed XML."""
    if len(body) > MAX_BYTES:
        raise BadMessage("(document)", f"larger than {MAX_BYTES} bytes")
    if not body.strip():
        raise BadMessage("(document)", "is empty")
    try:
        tree = etree.fromstring(body, _parser()).getroottree()
    except etree.XMLSyntaxError as e:
        raise BadMessage("(document)", f"not well-formed XML: {e.msg}") from e
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise BadMessage("(document)", "a DOCTYPE (and so any entity declaration) is not allowed in a CAP message")
    return tree.getroot()


def validate(root: etree._Element) -> None:
    """Check ``root`` against the CAP 1.2 XML Schema; the error names the element (``alert/info[1]/urgency``)."""
    if root.tag != f"{{{NS}}}alert":
        raise BadMessage(_local_name(root.tag), f"the root element must be <alert> in the namespace {NS}")
    schema = _schema()
    if schema.validate(root):
        return
    error = schema.error_log[0]
    path = _named_path(root, error.path)
    message = re.sub(r"\{" + re.escape(NS) + r"\}", "", error.message)
    raise BadMessage(path, f"violates the CAP 1.2 schema: {message}")


def read_alert(body: bytes) -> etree._Element:
    """Parse and validate a CAP 1.2 ``<alert>`` (run it on a worker thread)."""
    root = parse(body)
    validate(root)
    return root


def validate_document(text: bytes) -> None:
    """Parse and validate a CAP document (for tests and tools): raises :class:`~hub.errors.BadMessage`."""
    validate(parse(text))


def element_path(element: etree._Element) -> str:
    """``alert/info[2]/area/circle``: local names from the root, with a position where a name repeats."""
    parts = []
    node = element
    while node is not None:
        name = _local_name(node.tag)
        parent = node.getparent()
        if parent is not None:
            same = [c for c in parent if c.tag == node.tag]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    return "/".join(reversed(parts))


def _named_path(root: etree._Element, xpath: str | None) -> str:
    try:
        found = root.getroottree().xpath(xpath) if xpath else []
    except etree.XPathError:
        found = []
    if found and isinstance(found[0], etree._Element):
        return element_path(found[0])
    return _PREFIX.sub("", xpath or "").lstrip("/") or "alert"


def _local_name(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else "(document)"
