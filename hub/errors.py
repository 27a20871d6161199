"""The exceptions burgerhub raises, as one documented tree.

    HubError
    ├── ConfigError              a settings or rules file is wrong; nothing was changed
    │   └── ValidationError      input failed its JSON Schema; ``.field`` names the field
    │       ├── MalformedInput   the bytes cannot be read at all (not UTF-8, not JSON, nested too deep)
    │       ├── UnsupportedMedia the body's type is not one the route takes
    │       └── TooLarge         the body or a part of it is larger than the route takes
    ├── StoreError               the store cannot be used as it is
    │   ├── SchemaTooNew         the database was written by a newer burgerhub
    │   └── StoreInUse           another hub serves this embedded database
    ├── PluginError              a plugin failed to load or to start
    ├── NotFound                 an action, participant or record does not exist
    │   └── Gone                 it existed but is served no more (a photo of an action that ended)
    ├── Conflict                 the request is valid but not in this state (e.g. ending an ended action)
    ├── BadMessage               an interchange message (CAP) is malformed or cannot be mapped; ``.element``
    ├── AuthError                no or wrong credentials
    │   └── Forbidden            valid credentials, wrong role, outside what an organisation may do, or a provider callback's wrong signature
    ├── RateLimited              a rate limit was reached (a client's requests, codes to one number); ``retry_after`` seconds
    └── DeliveryError            a channel could not deliver one message
        ├── TransientDeliveryError   try again later (``retry_after`` seconds if the provider said so)
        └── PermanentDeliveryError   never retry (invalid number, unsubscribed, rejected content)

Chain the cause with ``raise ... from e`` so the provider's own error survives.
"""

from __future__ import annotations


class HubError(Exception):
    """Base of every error burgerhub raises on purpose."""


class ConfigError(HubError):
    """A configuration, settings or rules file is invalid."""


class ValidationError(ConfigError):
    """Input did not match its schema.

    ``field`` is a JSON-pointer-like path (``area.radius_m``) to the offending value, ``reason`` says why.
    """

    def __init__(self, field: str, reason: str, *, errors: list[tuple[str, str]] | None = None):
        self.field = field or "(root)"
        self.reason = reason
        self.errors = errors or [(self.field, reason)]
        super().__init__(f"{self.field}: {reason}")

    def as_dict(self) -> dict:
        return {
            "error": "validation_error",
            "field": self.field,
            "reason": self.reason,
            "errors": [{"field": f, "reason": r} for f, r in self.errors],
        }


class MalformedInput(ValidationError):
    """The request cannot be read at all: not UTF-8, not JSON, nested too deep, a multipart without boundary."""


class UnsupportedMedia(ValidationError):
    """The body's declared (or sniffed) type is not one the route takes."""


class TooLarge(ValidationError):
    """The body, or one part of it, is larger than the route takes."""


class StoreError(HubError):
    """The database cannot be used as it is; nothing was changed."""


class SchemaTooNew(StoreError):
    """The database's schema version is newer than this burgerhub knows."""


class StoreInUse(StoreError):
    """Another ``burgerhub serve`` already serves this SQLite database."""


class ReportReadError(StoreError):
    """A process reading part of a report from the database failed (see :mod:`hub.store.slice_reader`)."""


class PluginError(HubError):
    """A plugin could not be loaded, configured or started."""


class NotFound(HubError):
    """The thing asked for does not exist."""


class Gone(NotFound):
    """The thing asked for existed but is no longer served (a photo of an action that has ended)."""


class Conflict(HubError):
    """The request is well-formed but conflicts with the current state."""


class BadMessage(HubError):
    """A message in an interchange format (a CAP alert) is not well-formed, breaks its schema, or holds
    a value burgerhub cannot map. ``element`` names where (``info[1]/urgency``), ``reason`` says why."""

    def __init__(self, element: str, reason: str):
        self.element = element or "(document)"
        self.reason = reason
        super().__init__(f"{self.element}: {reason}")


class AuthError(HubError):
    """Missing or unknown credentials."""


class Forbidden(AuthError):
    """The credentials are valid but their role may not do this."""


class RateLimited(HubError):
    """A rate limit was reached (a client's requests, codes sent to one number, links to one address);
    it may be tried again after ``retry_after`` seconds. ``reason`` says which limit."""

    def __init__(self, retry_after: float, reason: str | None = None):
        self.retry_after = retry_after
        self.reason = reason or f"too many requests: try again in {max(1, round(retry_after))} s"
        super().__init__(self.reason)


class DeliveryError(HubError):
    """A channel failed to deliver one message. ``code`` is a short machine-readable cause."""

    def __init__(self, reason: str, *, code: str = "error", provider_status: int | None = None):
        self.reason = reason
        self.code = code
        self.provider_status = provider_status
        super().__init__(reason)


class TransientDeliveryError(DeliveryError):
    """Worth retrying. ``retry_after`` (seconds) is the provider's own hint, e.g. from ``Retry-After``."""

    def __init__(
        self,
        reason: str,
        *,
        code: str = "transient",
        retry_after: float | None = None,
        provider_status: int | None = None,
    ):
        super().__init__(reason, code=code, provider_status=provider_status)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Never worth retrying for this recipient."""

    def __init__(self, reason: str, *, code: str = "permanent", provider_status: int | None = None):
        super().__init__(reason, code=code, provider_status=provider_status)
