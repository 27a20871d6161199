"""Hub configuration: one TOML file, every key optional, validated before anything starts.

A missing file means the embedded defaults: SQLite under ``./var``, the shipped routing rules, every
channel in sandbox mode, the API on 127.0.0.1:8080.
"""

from __future__ import annotations

import os
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


@dataclass(frozen=True)
class ConsoleConfig:
    """The dispatcher's web console (``[console]``)."""

    enabled: bool = True
    #: a map tile URL template (``https://.../{z}/{x}/{y}.png``); empty: the console draws without tiles
    tiles_url: str = ""
    tiles_attribution: str = ""


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
    #: the police's number for later, non-urgent information (112 for anything urgent)
    police_number: str = "0900 8844"
    #: how long before an action expires the console warns the dispatcher
    expiry_warning_minutes: float = 30.0
    max_photo_bytes: int = 5 * 1024 * 1024
    console: ConsoleConfig = ConsoleConfig()
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

    def channel_settings(self, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Split ``[channels.<name>]`` into (engine options, channel settings)."""
        raw = dict(self.channels.get(name, {}))
        engine = {k: raw.pop(k) for k in ENGINE_KEYS if k in raw}
        return engine, raw


def _expect(cond: bool, where: str, reason: str) -> None:
    if not cond:
        raise ConfigError(f"{where}: {reason}")


def load_config(path: str | Path | None = None, *, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read a TOML config file (or ``$BURGERHUB_CONFIG``); ``None`` and no variable means defaults."""
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


def config_from_dict(data: Mapping[str, Any], *, base: Path | None = None, source: Path | None = None) -> Config:
    base = base or Path.cwd()
    known = {"hub", "api", "channels", "transport_radius_m", "engine", "plugins", "console"}
    for key in data:
        _expect(key in known, key, f"unknown section (known: {', '.join(sorted(known))})")
    hub = dict(data.get("hub", {}))
    api = dict(data.get("api", {}))
    plugins = dict(data.get("plugins", {}))

    data_dir = Path(hub.pop("data_dir", "") or os.environ.get("BURGERHUB_DATA_DIR") or "var")
    if not data_dir.is_absolute():
        data_dir = base / data_dir
    routes = hub.pop("routes", None)
    routes_file = (base / routes) if routes and not Path(routes).is_absolute() else (Path(routes) if routes else None)

    tokens = []
    for i, t in enumerate(api.pop("tokens", [])):
        where = f"api.tokens[{i}]"
        _expect(isinstance(t, dict), where, "must be a table")
        _expect(t.get("role") in ROLES[:2], f"{where}.role", f"must be one of {ROLES[:2]}")
        token = t.get("token") or os.environ.get(t.get("token_env", ""), "")
        _expect(len(token) >= 16, f"{where}.token", "must be at least 16 characters (or set token_env)")
        tokens.append(ApiToken(name=t.get("name", t["role"]), role=t["role"], token=token))

    radius = {}
    for mode, value in dict(data.get("transport_radius_m", {})).items():
        _expect(mode in set(TransportMode), f"transport_radius_m.{mode}", "unknown mode of transport")
        _expect(isinstance(value, (int, float)) and value > 0, f"transport_radius_m.{mode}", "must be > 0")
        radius[mode] = float(value)

    engine_raw = dict(data.get("engine", {}))
    try:
        engine = EngineSettings(**engine_raw)
    except TypeError as e:
        raise ConfigError(f"engine: {e}") from e

    console_raw = dict(data.get("console", {}))
    for key, value in console_raw.items():
        _expect(key in ConsoleConfig.__dataclass_fields__, f"console.{key}", "unknown setting")
        _expect(isinstance(value, bool) if key == "enabled" else isinstance(value, str), f"console.{key}",
                "must be true or false" if key == "enabled" else "must be a string")
    console = ConsoleConfig(**console_raw)

    secret = hub.pop("secret", None) or os.environ.get("BURGERHUB_SECRET")
    # the database URL may carry a password: it can come from the environment instead of the file
    database_env = hub.pop("database_env", "")
    _expect(isinstance(database_env, str), "hub.database_env", "must be the name of an environment variable")
    database = hub.pop("database", "") or os.environ.get(database_env or "BURGERHUB_DATABASE", "")
    if database_env:
        _expect(bool(database), "hub.database_env", f"the environment variable {database_env} is not set")
    _expect(isinstance(database, str), "hub.database", "must be a string")
    _expect(
        database == "" or database.startswith(("sqlite:///", "postgresql://", "postgres://")),
        "hub.database", "must start with sqlite:/// or postgresql://",
    )
    channels = data.get("channels", {})
    _expect(isinstance(channels, dict), "channels", "must be a table of tables")
    cfg = Config(
        data_dir=data_dir,
        database=database,
        public_url=hub.pop("public_url", f"http://{api.get('host', '127.0.0.1')}:{api.get('port', 8080)}"),
        secret=secret.encode() if secret else b"",
        network_name=hub.pop("network_name", "Burgernet"),
        callback_number=hub.pop("callback_number", "0800 0011"),
        routes_file=routes_file,
        host=api.pop("host", "127.0.0.1"),
        port=int(api.pop("port", 8080)),
        tokens=tuple(tokens),
        blocked_plugins=tuple(plugins.pop("blocked", ())),
        strict_plugins=bool(plugins.pop("strict", False)),
        channels=channels,
        transport_radius_m=radius,
        engine=engine,
        action_ttl_hours=float(hub.pop("action_ttl_hours", 24.0)),
        action_page_url=hub.pop("action_page_url", ""),
        police_number=hub.pop("police_number", "0900 8844"),
        expiry_warning_minutes=float(hub.pop("expiry_warning_minutes", 30.0)),
        max_photo_bytes=int(api.pop("max_photo_bytes", 5 * 1024 * 1024)),
        console=console,
        source=source,
    )
    for section, rest in (("hub", hub), ("api", api), ("plugins", plugins)):
        for key in rest:
            raise ConfigError(f"{section}.{key}: unknown setting")
    return cfg


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
