"""Test support for matrix_boards: a private Mosquitto broker, the signage schemas, a recording subscriber."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import ipaddress
import json
import os
import shutil
import socket
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import referencing

from plugins.matrix_boards.contract import Topics
from plugins.matrix_boards.link import BrokerConfig, MqttLink

REPO = Path(__file__).resolve().parents[3]
SCHEMA_DIR = REPO / "schemas" / "signage" / "v1"
MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A Mosquitto process on a free loopback port, without persistence: a restart forgets retained messages."""

    def __init__(self, workdir: Path, config: str | None = None, *, port: int | None = None) -> None:
        """``config`` replaces the default configuration; ``{port}`` in it becomes the port."""
        self.port = port or _free_port()
        self.workdir = workdir
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        if config is None:
            config = (
                "listener {port} 127.0.0.1\n"
                "allow_anonymous true\n"
                "persistence false\n"
                "max_queued_messages 10000\n"
            )
        self.conf.write_text(
            config.replace("{port}", str(self.port))
            + f"\nlog_dest file {self.log}\nlog_type error\nlog_type warning\nlog_type notice\n"
        )
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self) -> None:
        assert MOSQUITTO is not None
        self.proc = await asyncio.create_subprocess_exec(
            MOSQUITTO, "-c", str(self.conf),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        self.starts += 1
        await self._wait_ready()

    async def _wait_ready(self, timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            assert self.proc is not None
            if self.proc.returncode is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {self.log_text()}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                if loop.time() > deadline:
                    raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.log_text()}")
                await asyncio.sleep(0.02)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return

    async def kill(self) -> None:
        """SIGKILL: no goodbyes, retained messages gone (no persistence)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        self.proc = None

    async def restart(self) -> None:
        await self.kill()
        await self.start()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


# -- the public contract's schemas ----------------------------------------------------------------


def _load_schemas() -> dict[str, dict[str, Any]]:
    return {p.name.removesuffix(".schema.json"): json.loads(p.read_text()) for p in sorted(SCHEMA_DIR.glob("*.schema.json"))}


SCHEMAS = _load_schemas()
REGISTRY = referencing.Registry().with_resources(
    (s["$id"], referencing.Resource.from_contents(s)) for s in SCHEMAS.values()
)


def _closed(schema: Any) -> Any:
    """The schema with ``additionalProperties: false`` wherever ``properties`` is listed.

    The published schemas stay open (controllers must accept newer minor versions); the hub's own
    payloads are checked against this closed form, so no undocumented field slips into the contract.
    """
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


CLOSED_REGISTRY = referencing.Registry().with_resources(
    (s["$id"], referencing.Resource.from_contents(_closed(s))) for s in SCHEMAS.values()
)
VALIDATORS = {
    name: jsonschema.Draft202012Validator(_closed(SCHEMAS[name]), registry=CLOSED_REGISTRY)
    for name in ("state", "event", "status")
}
OPEN_VALIDATORS = {
    name: jsonschema.Draft202012Validator(SCHEMAS[name], registry=REGISTRY) for name in ("state", "event", "status")
}


def validate_message(topics: Topics, topic: str, payload: bytes) -> dict[str, Any] | None:
    """Check one published message against the contract; the parsed JSON, or ``None`` for a cleared state."""
    parsed = topics.parse(topic)
    assert parsed is not None, f"message on a topic outside the contract: {topic}"
    region, leaf = parsed
    if leaf == "state" and payload == b"":
        return None
    assert payload.isascii(), topic
    data = json.loads(payload)
    name = {"state": "state", "events": "event", "status": "status"}[leaf]
    VALIDATORS[name].validate(data)
    OPEN_VALIDATORS[name].validate(data)
    if leaf != "status":
        assert data["region"] == region
        lines, width = data["layout"]["lines"], data["layout"]["width"]
        for action in data["actions"] if leaf == "state" else [data["action"]]:
            assert len(action["short"]) <= lines
            assert all(len(line) <= width for line in action["short"])
            assert all(len(page) <= lines and all(len(line) <= width for line in page) for page in action["long"])
    return data


# -- a subscriber that records (and validates) everything it sees ---------------------------------


class Recorder:
    """An MQTT subscriber on the test broker; every message is checked against the schemas on arrival."""

    def __init__(self, port: int, topics: Topics, *filters: str) -> None:
        self.topics = topics
        self.filters = filters or (f"{topics.root}/#",)
        self.messages: list[tuple[str, bytes, bool]] = []
        self.errors: list[BaseException] = []
        self._arrived = asyncio.Event()
        self.link = MqttLink(
            BrokerConfig(host="127.0.0.1", port=port, client_id=f"recorder-{uuid.uuid4().hex[:8]}",
                         reconnect_min_delay=0.1, reconnect_max_delay=0.5),
            on_message=self._on_message,
        )

    def _on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        try:
            validate_message(self.topics, topic, payload)
        except BaseException as e:  # surfaced by the test through .errors
            self.errors.append(e)
        self.messages.append((topic, payload, retained))
        self._arrived.set()

    async def __aenter__(self) -> "Recorder":
        await self.link.subscribe(*self.filters)
        await self.link.start()
        assert await self.link.wait_connected(5), self.link.last_error
        await self.barrier()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.link.close()
        assert not self.errors, self.errors

    async def barrier(self) -> None:
        """Return once every retained message of the subscriptions so far has arrived."""
        await asyncio.wait_for(self.link.subscribe(f"{self.topics.root}/barrier/{uuid.uuid4().hex}"), 5)

    def on(self, topic: str) -> list[tuple[bytes, bool]]:
        return [(p, r) for t, p, r in self.messages if t == topic]

    def last(self, topic: str) -> bytes | None:
        got = self.on(topic)
        return got[-1][0] if got else None

    async def wait_for(self, predicate, timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            self._arrived.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"condition not met within {timeout} s; got {self.messages!r}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)


# -- credentials and certificates for the deployment tests ----------------------------------------


def password_line(user: str, password: str) -> str:
    """A Mosquitto password-file line (``$6$``: SHA-512 over password and salt, as mosquitto_passwd -H sha512)."""
    salt = os.urandom(12)
    digest = hashlib.sha512(password.encode() + salt).digest()
    return f"{user}:$6${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def make_certificates(directory: Path) -> dict[str, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 and localhost, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(name("burgerhub test CA")).issuer_name(name("burgerhub test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(name("localhost")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {"ca": directory / "ca.crt", "cert": directory / "server.crt", "key": directory / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return paths
