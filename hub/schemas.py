"""JSON Schemas of the hub's inputs (actions, participants, routing rules...), compiled once.

Every ``<name>.schema.json`` in the repository's top-level ``schemas/`` folder is a schema, addressed by
``<name>``::

    from hub import schemas
    schemas.validate("routing", data)   # raises hub.errors.ValidationError

Each schema is compiled into a :class:`jsonschema.Draft202012Validator` with format checking the first
time it is used and kept for the life of the process: ``jsonschema.validate()`` recompiles on every call
and is ~40x slower, so never call it per request. A schema may ``$ref`` another one by its file name
(``{"$ref": "area.schema.json#/$defs/circle"}``).

Where the folder is found
    1. ``<repository>/schemas``, beside the ``hub`` package: a source checkout and an editable install
       (``pip install -e .``), which is how the hub is developed and deployed from git;
    2. otherwise the ``schemas`` package through :mod:`importlib.resources`: a wheel install, when
       ``schemas`` is listed in ``[tool.setuptools.packages.find] include`` (the folder then ships as a
       namespace package and the existing ``*.json`` package-data rule picks up its files).

The folder stays at the top level, not inside ``hub/``, because it is a public interface: API clients
and operators' tools read the same files. Pass ``directory=`` to :class:`SchemaSet` to use another one.

Formats checked: ``email``, ``ipv4``, ``ipv6``, ``date``, ``uuid``, ``regex`` always; ``date-time`` and
``uri`` through ``rfc3339-validator`` and ``rfc3986-validator``. An unknown format is not checked.

Errors become one :class:`~hub.errors.ValidationError`: ``field`` is a dotted path to the offending value
(``routes[2].match.type``), ``reason`` says what is wrong, ``errors`` lists every problem found. A
schema may give a friendlier reason for a failing subschema with a non-standard ``"x-reason"`` keyword.
"""

from __future__ import annotations

import difflib
import importlib.resources
import json
import re
import threading
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import referencing
import referencing.exceptions
import referencing.jsonschema
from jsonschema.exceptions import best_match
from jsonschema.exceptions import ValidationError as SchemaViolation

from .errors import ConfigError, ValidationError

SUFFIX = ".schema.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")


def default_directory() -> Any:
    """The folder of the shipped schemas: a :class:`~pathlib.Path` or an importlib Traversable."""
    beside = Path(__file__).resolve().parent.parent / "schemas"
    if beside.is_dir():
        return beside
    try:
        return importlib.resources.files("schemas")
    except ModuleNotFoundError as e:
        raise ConfigError(
            f"the schemas folder is missing: not at {beside} and no installed 'schemas' package"
        ) from e


class SchemaSet:
    """The schemas of one folder, each loaded and compiled once, on first use. Safe to share."""

    def __init__(self, directory: Path | Any | None = None) -> None:
        self._directory = directory
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}
        self._resources: dict[str, referencing.Resource] = {}
        self._lock = threading.Lock()

    @cached_property
    def directory(self) -> Any:
        return self._directory if self._directory is not None else default_directory()

    def names(self) -> list[str]:
        """The names of every schema in the folder, sorted."""
        return sorted(
            entry.name.removesuffix(SUFFIX) for entry in self.directory.iterdir() if entry.name.endswith(SUFFIX)
        )

    def schema(self, name: str) -> dict[str, Any]:
        """The raw schema document ``<name>.schema.json``."""
        return self.validator(name).schema

    def validator(self, name: str) -> jsonschema.Draft202012Validator:
        """The compiled validator of ``<name>.schema.json``; compiled on first use, then cached."""
        validator = self._validators.get(name)
        if validator is None:
            with self._lock:
                validator = self._validators.get(name) or self._compile(name)
                self._validators[name] = validator
        return validator

    def validate(self, name: str, data: Any) -> None:
        """Raise :class:`~hub.errors.ValidationError` unless ``data`` is valid against schema ``name``."""
        validator = self.validator(name)
        found = list(validator.iter_errors(data))
        if not found:
            return
        field, reason = describe(best_match(found))
        errors = [describe(e) for e in sorted(found, key=lambda e: [str(p) for p in e.absolute_path])]
        raise ValidationError(field, reason, errors=errors)

    def _load(self, file_name: str) -> dict[str, Any]:
        entry = self.directory / file_name
        try:
            return json.loads(entry.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise ConfigError(f"no schema {file_name!r} in {self.directory}") from e
        except json.JSONDecodeError as e:
            raise ConfigError(f"schema {file_name} is not valid JSON: {e}") from e

    def _compile(self, name: str) -> jsonschema.Draft202012Validator:
        if not _NAME.fullmatch(name):
            raise ConfigError(f"invalid schema name {name!r}")
        schema = self._load(name + SUFFIX)
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as e:
            raise ConfigError(f"schema {name}{SUFFIX} is invalid: {e.message}") from e
        self._load_references(schema)
        registry = referencing.Registry(retrieve=self._retrieve)
        return jsonschema.Draft202012Validator(
            schema, registry=registry, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )

    def _load_references(self, document: Any) -> None:
        """Load every schema file ``document`` refers to (transitively) now, not on first use."""
        pending = [document]
        while pending:
            node = pending.pop()
            if isinstance(node, dict):
                ref = node.get("$ref")
                target = ref.split("#", 1)[0] if isinstance(ref, str) else ""
                if target.endswith(SUFFIX) and target.rsplit("/", 1)[-1] not in self._resources:
                    pending.append(self._retrieve(target).contents)
                pending.extend(node.values())
            elif isinstance(node, list):
                pending.extend(node)

    def _retrieve(self, uri: str) -> referencing.Resource:
        # The registry is immutable and does not keep what it retrieves: cache here, or every
        # validation would read the referenced file again.
        file_name = uri.rstrip("/").rsplit("/", 1)[-1]
        if not file_name.endswith(SUFFIX):
            raise referencing.exceptions.NoSuchResource(ref=uri)
        resource = self._resources.get(file_name)
        if resource is None:
            resource = referencing.Resource.from_contents(
                self._load(file_name), default_specification=referencing.jsonschema.DRAFT202012
            )
            self._resources[file_name] = resource
        return resource


ROOT = "(root)"


def field_path(parts: Iterable[Any]) -> str:
    """``["routes", 2, "match", "type"]`` -> ``routes[2].match.type``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def most_specific(error: SchemaViolation) -> SchemaViolation:
    """Descend into ``anyOf``/``oneOf`` failures, preferring branches of the value's own type.

    For ``"plane"`` against *an enum value or a list of them*, the useful reason is the enum's
    (``'plane' is not one of [...]``), not ``not valid under any of the given schemas``.
    """
    while error.context:
        fitting = [e for e in error.context if e.validator != "type"] or list(error.context)
        error = best_match(fitting)
    return error


def describe(error: SchemaViolation) -> tuple[str, str]:
    """One schema violation as (dotted field path, human-readable reason)."""
    error = most_specific(error)
    path = list(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "required":
        missing = [p for p in error.validator_value if p not in error.instance]
        return field_path([*path, missing[0]]), "is required"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(schema.get("properties", {}))
        extra = sorted(str(k) for k in error.instance if k not in known)  # YAML keys may be null or numbers
        if extra:
            hint = difflib.get_close_matches(extra[0], sorted(known), n=1)
            reason = "is not an allowed field"
            reason += f" (did you mean {hint[0]!r}?)" if hint else f" (allowed: {', '.join(sorted(known))})"
            return field_path([*path, extra[0]]), reason
    if "x-reason" in schema:
        return field_path(path) or ROOT, str(schema["x-reason"])
    return field_path(path) or ROOT, error.message


_default = SchemaSet()


def validate(schema_name: str, data: Any) -> None:
    """Validate ``data`` against the shipped schema ``schema_name``; raises :class:`~hub.errors.ValidationError`."""
    _default.validate(schema_name, data)


def schema(schema_name: str) -> dict[str, Any]:
    """The raw document of the shipped schema ``schema_name``."""
    return _default.schema(schema_name)


def validator(schema_name: str) -> jsonschema.Draft202012Validator:
    """The compiled, cached validator of the shipped schema ``schema_name``."""
    return _default.validator(schema_name)


def names() -> list[str]:
    """The names of the shipped schemas."""
    return _default.names()
