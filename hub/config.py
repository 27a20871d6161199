"""Hub configuration: one TOML file, every key optional, validated before anything starts.

A missing file means the embedded defaults: SQLite under ``./var``, the shipped routing rules, every
channel in sandbox mode, the API on 127.0.0.1:8080.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError
from .models import TransportMode

DEFAULT_ROUTES = Path(__file__).parent / "defaults" / "routes.yaml"
ENGINE_KEYS = ("enabled", "concurrency", "rate", "batch_size", "sandbox")
ROLES = ("dispatcher", "operator", "participant")


@dataclass(frozen=True)
class ApiToken:
    name: str
    role: str
    token: str


@dataclass(frozen=True)
class EngineSettings:
    max_attempts: int = 8
    backoff_base: float = 1.0
    backoff_max: float = 120.0
    lease_seconds: float = 120.0
    claim_size: int = 2000
    poll_interval: float = 1.0
    #: seconds a row handed to a provider that reports back later waits after a crash for a report
    #: that settles it, before it is sent again (see hub.engine)
    in_doubt_seconds: float = 30.0


@dataclass(frozen=True)
class ConsoleConfig:
    """The dispatcher's web console (``[console]``)."""

    enabled: bool = True
    #: a map tile URL template (``https://.../{z}/{x}/{y}.png``); empty: the console draws without tiles
    tiles_url: str = ""
    tiles_attribution: str = ""


@dataclass(frozen=True)
class RetentionSettings:
    """``[retention]``: how long what an action leaves behind is kept after it ended (see hub.retention)."""

    #: days after an action ended before its deliveries, outbox rows, tips and photos are removed;
    #: 0 keeps them for ever
    days: float = 90.0
    #: minutes between two sweeps
    sweep_minutes: float = 60.0


@dataclass(frozen=True)
class Config:
    data_dir: Path = Path("var")
    database: str = ""
    public_url: str = "http://127.0.0.1:8080"
    secret: bytes = b""
    network_name: str = "Burgernet"
    callback_number: str = "0800 0011"
    routes_file: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    tokens: tuple[ApiToken, ...] = ()
    blocked_plugins: tuple[str, ...] = ()
    strict_plugins: bool = False
    channels: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    transport_radius_m: Mapping[str, float] = field(default_factory=dict)
    engine: EngineSettings = EngineSettings()
    action_ttl_hours: float = 24.0
    #: the public pages about actions: an action's page is ``<action_page_url>/<id>``; empty: no link
    action_page_url: str = ""
    #: the CAP ``sender`` of burgerhub's own messages; empty: ``burgerhub@<host of public_url>``
    cap_sender: str = ""
    #: the police's number for later, non-urgent information (112 for anything urgent)
    police_number: str = "0900 8844"
    #: how long before an action expires the console warns the dispatcher
    expiry_warning_minutes: float = 30.0
    #: how long SMS waits for the app's confirmation for participants who chose "app first" (0: off)
    app_first_seconds: float = 120.0
    max_photo_bytes: int = 5 * 1024 * 1024
    #: unauthenticated writes per client: requests per second on average, and at once
    public_rate: float = 2.0
    public_burst: int = 60
    #: reverse proxies whose ``X-Forwarded-For`` names the client (addresses or networks)
    trusted_proxies: tuple[str, ...] = ()
    console: ConsoleConfig = ConsoleConfig()
    retention: RetentionSettings = RetentionSettings()
    source: Path | None = None

    @property
    def database_path(self) -> Path:
        if self.database.startswith("sqlite:///"):
            return Path(self.database.removeprefix("sqlite:///"))
        return self.data_dir / "burgerhub.sqlite3"

    @property
    def shared_database(self) -> bool:
        """Several hub processes may share this database (PostgreSQL)."""
        return self.database.startswith(("postgresql://", "postgres://"))

    @property
    def routes_path(self) -> Path:
        return self.routes_file or DEFAULT_ROUTES

    @property
    def rules_in_force(self) -> Path:
        """Where the hub reads its rules: ``[hub] routes``; else rules saved through the API in the data
        folder; else the shipped defaults."""
        if self.routes_file is not None:
            return self.routes_file
        saved = self.data_dir / "routes.yaml"
        return saved if saved.exists() else DEFAULT_ROUTES

    def channel_settings(self, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Split ``[channels.<name>]`` into (engine options, channel settings)."""
        raw = dict(self.channels.get(name, {}))
        engine = {k: raw.pop(k) for k in ENGINE_KEYS if k in raw}
        return engine, raw


class _Problems:
    """Every mistake in a configuration, collected so the operator sees them all at once."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def check(self, cond: bool, where: str, reason: str) -> bool:
        if not cond:
            self.found.append(f"{where}: {reason}")
        return cond

    def raise_any(self, source: Path | None) -> None:
        if not self.found:
            return
        where = f"{source}: " if source else ""
        if len(self.found) == 1:
            raise ConfigError(f"{where}{self.found[0]}")
        lines = "\n".join(f"  - {p}" for p in self.found)
        raise ConfigError(f"{where}{len(self.found)} problems:\n{lines}")


def load_config(path: str | Path | None = None, *, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read a TOML config file (or ``$BURGERHUB_CONFIG``); ``None`` and no variable means defaults.

    A file with mistakes raises one :class:`~hub.errors.ConfigError` that lists every one of them.
    """
    path = path or os.environ.get("BURGERHUB_CONFIG")
    data: dict[str, Any] = {}
    base = Path.cwd()
    if path:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise ConfigError(f"{p}: config file not found") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: {e}") from e
        base = p.resolve().parent
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return config_from_dict(data, base=base, source=Path(path) if path else None)


def _table(problems: _Problems, data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    return dict(value) if problems.check(isinstance(value, dict), key, "must be a table") else {}


def _number(problems: _Problems, table: dict[str, Any], section: str, key: str, default: float, kind=float):
    value = table.pop(key, default)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (kind is float or float(value).is_integer())
    if problems.check(ok and value >= 0, f"{section}.{key}",
                      "must be a whole number >= 0" if kind is int else "must be a number >= 0"):
        return kind(value)
    return kind(default)


def _string(problems: _Problems, table: dict[str, Any], section: str, key: str, default: str) -> str:
    value = table.pop(key, default)
    return value if problems.check(isinstance(value, str), f"{section}.{key}", "must be a string") else default


def _proxies(problems: _Problems, api: dict[str, Any]) -> tuple[str, ...]:
    value = api.pop("trusted_proxies", ())
    if problems.check(isinstance(value, (list, tuple)) and all(isinstance(p, str) and _network(p) for p in value),
                      "api.trusted_proxies", "must be a list of addresses or networks"):
        return tuple(value)
    return ()


#: a CAP ``sender``: no spaces, commas or the characters CAP restricts (< and &), printable ASCII
_CAP_SENDER = re.compile(r"[!-~]{1,255}")


def _cap_sender(problems: _Problems, hub: dict[str, Any]) -> str:
    value = _string(problems, hub, "hub", "cap_sender", "")
    if value and not problems.check(
        _CAP_SENDER.fullmatch(value) is not None and not any(c in value for c in ",<&"), "hub.cap_sender",
        "must be 1 to 255 printable ASCII characters without spaces, commas, < or & (CAP's rule for sender),"
        " e.g. burgerhub@alerts.example.nl",
    ):
        return ""
    return value


def _network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def config_from_dict(data: Mapping[str, Any], *, base: Path | None = None, source: Path | None = None) -> Config:
    base = base or Path.cwd()
    problems = _Problems()
    known = {"hub", "api", "channels", "transport_radius_m", "engine", "plugins", "console", "retention"}
    for key in data:
        problems.check(key in known, key, f"unknown section (known: {', '.join(sorted(known))})")
    hub = _table(problems, data, "hub")
    api = _table(problems, data, "api")
    plugins = _table(problems, data, "plugins")

    data_dir = Path(_string(problems, hub, "hub", "data_dir", "") or os.environ.get("BURGERHUB_DATA_DIR") or "var")
    if not data_dir.is_absolute():
        data_dir = base / data_dir
    routes = _string(problems, hub, "hub", "routes", "")
    routes_file = (base / routes) if routes and not Path(routes).is_absolute() else (Path(routes) if routes else None)

    tokens = []
    raw_tokens = api.pop("tokens", [])
    if not problems.check(isinstance(raw_tokens, list), "api.tokens", "must be an array of tables ([[api.tokens]])"):
        raw_tokens = []
    for i, t in enumerate(raw_tokens):
        where = f"api.tokens[{i}]"
        if not problems.check(isinstance(t, dict), where, "must be a table"):
            continue
        role_ok = problems.check(t.get("role") in ROLES[:2], f"{where}.role", f"must be one of {ROLES[:2]}")
        token = t.get("token") or os.environ.get(t.get("token_env", ""), "")
        token_ok = problems.check(isinstance(token, str) and len(token) >= 16, f"{where}.token",
                                  "must be at least 16 characters (or set token_env)")
        if role_ok and token_ok:
            tokens.append(ApiToken(name=t.get("name", t["role"]), role=t["role"], token=token))

    radius = {}
    for mode, value in _table(problems, data, "transport_radius_m").items():
        mode_ok = problems.check(mode in set(TransportMode), f"transport_radius_m.{mode}", "unknown mode of transport")
        value_ok = problems.check(isinstance(value, (int, float)) and value > 0, f"transport_radius_m.{mode}",
                                  "must be > 0")
        if mode_ok and value_ok:
            radius[mode] = float(value)

    engine_raw = _table(problems, data, "engine")
    engine_args = {}
    for key in list(engine_raw):
        if not problems.check(key in EngineSettings.__dataclass_fields__, f"engine.{key}", "unknown setting"):
            continue
        kind = int if key in ("max_attempts", "claim_size") else float
        engine_args[key] = _number(problems, engine_raw, "engine", key, getattr(EngineSettings, key), kind)
    engine = EngineSettings(**engine_args)

    console_raw = _table(problems, data, "console")
    console_args = {}
    for key, value in console_raw.items():
        if not problems.check(key in ConsoleConfig.__dataclass_fields__, f"console.{key}", "unknown setting"):
            continue
        if problems.check(isinstance(value, bool) if key == "enabled" else isinstance(value, str), f"console.{key}",
                          "must be true or false" if key == "enabled" else "must be a string"):
            console_args[key] = value
    console = ConsoleConfig(**console_args)

    retention_raw = _table(problems, data, "retention")
    retention_args = {}
    for key in list(retention_raw):
        if problems.check(key in RetentionSettings.__dataclass_fields__, f"retention.{key}", "unknown setting"):
            retention_args[key] = _number(problems, retention_raw, "retention", key,
                                          getattr(RetentionSettings, key))
    problems.check(retention_args.get("sweep_minutes", 1) > 0, "retention.sweep_minutes", "must be more than 0")
    retention = RetentionSettings(**{k: float(v) for k, v in retention_args.items()})

    secret = hub.pop("secret", None) or os.environ.get("BURGERHUB_SECRET")
    problems.check(secret is None or isinstance(secret, str), "hub.secret", "must be a string")
    # the database URL may carry a password: it can come from the environment instead of the file
    database_env = _string(problems, hub, "hub", "database_env", "")
    database = _string(problems, hub, "hub", "database", "") or os.environ.get(database_env or "BURGERHUB_DATABASE", "")
    if database_env:
        problems.check(bool(database), "hub.database_env", f"the environment variable {database_env} is not set")
    problems.check(
        database == "" or database.startswith(("sqlite:///", "postgresql://", "postgres://")),
        "hub.database", "must start with sqlite:/// or postgresql://",
    )
    channels = data.get("channels", {})
    if not problems.check(isinstance(channels, dict), "channels", "must be a table of tables"):
        channels = {}
    for name, table in channels.items():
        problems.check(isinstance(table, dict), f"channels.{name}", "must be a table")
    channels = {k: v for k, v in channels.items() if isinstance(v, dict)}
    host = _string(problems, api, "api", "host", "127.0.0.1")
    port = _number(problems, api, "api", "port", 8080, int)
    problems.check(0 < port < 65536, "api.port", "must be between 1 and 65535")
    blocked = plugins.pop("blocked", ())
    if not problems.check(isinstance(blocked, (list, tuple)) and all(isinstance(b, str) for b in blocked),
                          "plugins.blocked", "must be a list of entry-point names"):
        blocked = ()
    strict = plugins.pop("strict", False)
    problems.check(isinstance(strict, bool), "plugins.strict", "must be true or false")
    cfg_args = dict(
        data_dir=data_dir,
        database=database,
        public_url=_string(problems, hub, "hub", "public_url", f"http://{host}:{port}"),
        secret=secret.encode() if isinstance(secret, str) and secret else b"",
        network_name=_string(problems, hub, "hub", "network_name", "Burgernet"),
        callback_number=_string(problems, hub, "hub", "callback_number", "0800 0011"),
        routes_file=routes_file,
        host=host,
        port=port,
        tokens=tuple(tokens),
        blocked_plugins=tuple(blocked),
        strict_plugins=bool(strict),
        channels=channels,
        transport_radius_m=radius,
        engine=engine,
        action_ttl_hours=_number(problems, hub, "hub", "action_ttl_hours", 24.0),
        action_page_url=_string(problems, hub, "hub", "action_page_url", ""),
        police_number=_string(problems, hub, "hub", "police_number", "0900 8844"),
        cap_sender=_cap_sender(problems, hub),
        expiry_warning_minutes=_number(problems, hub, "hub", "expiry_warning_minutes", 30.0),
        app_first_seconds=_number(problems, hub, "hub", "app_first_seconds", 120.0),
        max_photo_bytes=_number(problems, api, "api", "max_photo_bytes", 5 * 1024 * 1024, int),
        public_rate=_number(problems, api, "api", "public_rate", 2.0),
        public_burst=_number(problems, api, "api", "public_burst", 60, int),
        trusted_proxies=_proxies(problems, api),
        console=console,
        retention=retention,
        source=source,
    )
    for section, rest in (("hub", hub), ("api", api), ("plugins", plugins)):
        for key in rest:
            problems.check(False, f"{section}.{key}", "unknown setting")
    problems.raise_any(source)
    return Config(**cfg_args)


def ensure_secret(config: Config) -> bytes:
    """The hub's signing secret: configured, or generated once and kept in the data directory."""
    if config.secret:
        return config.secret
    path = config.data_dir / "secret"
    if path.exists():
        return path.read_bytes().strip()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(value)
    return value
