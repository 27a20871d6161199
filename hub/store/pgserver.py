"""A throwaway PostgreSQL server for tests, benchmarks and local trials (standard library only).

::

    with PrivatePostgres() as pg:
        dsn = pg.create_database("hub")      # postgresql://postgres@127.0.0.1:PORT/hub
        ...                                  # connect with any driver: trust auth, no password

:class:`PrivatePostgres` runs ``initdb`` in a fresh temporary folder (trust authentication, UTF8,
``--no-sync``) and starts the server with ``pg_ctl`` on a free TCP port of 127.0.0.1 only, its unix
socket in that folder, tuned for throwaway data (``fsync``, ``synchronous_commit`` and
``full_page_writes`` off). It never uses the machine's standard server or port 5432. :meth:`~PrivatePostgres.stop`
kills it (``pg_ctl stop -m immediate``) and removes the folder; a server still running when the
interpreter exits is stopped then.

The server programs are looked up on ``PATH`` (``initdb``, ``pg_ctl`` and ``postgres`` from one
folder), then in ``/usr/lib/postgresql/*/bin`` (Debian and Ubuntu; highest version first);
``$BURGERHUB_PG_BINDIR`` or ``bindir=`` name a folder explicitly. :class:`PostgresNotFound` says what
to install when there are none.

PostgreSQL refuses to run as root, so as root the folder is given to an unprivileged system user
(``postgres`` when it exists, else ``nobody``) and the server programs run as that user; clients
connect over TCP as before.

Databases are created over a minimal client of PostgreSQL's wire protocol (:meth:`~PrivatePostgres.execute`:
simple queries, trust authentication only), so this module needs neither a Python driver nor ``psql``.

``python -m hub.store.pgserver`` starts one and prints its DSN until Ctrl-C, for trying several hubs
on one database.
"""

from __future__ import annotations

import argparse
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = ["PostgresNotFound", "PostgresError", "PrivatePostgres", "find_bindir"]

PROGRAMS = ("initdb", "pg_ctl", "postgres")
#: the standard port: a private server never takes it
STANDARD_PORT = 5432
ENV_BINDIR = "BURGERHUB_PG_BINDIR"

#: settings for throwaway data: durability off, a modest footprint, room for many test connections
SETTINGS: dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "64MB",
    "max_connections": "200",
    "jit": "off",
    "timezone": "UTC",
    "log_timezone": "UTC",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "log_checkpoints": "off",
    "max_wal_size": "1GB",
}


class PostgresNotFound(RuntimeError):
    """The PostgreSQL server programs (``initdb``, ``pg_ctl``, ``postgres``) are not installed."""


class PostgresError(RuntimeError):
    """The private server failed to start or stop, or a statement sent with ``execute`` failed."""

    def __init__(self, message: str, *, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


# -- finding the programs ----------------------------------------------------------------------------


def _has_programs(folder: str | os.PathLike[str]) -> bool:
    return all(os.access(os.path.join(folder, p), os.X_OK) for p in PROGRAMS)


def _version_key(path: str) -> tuple[int, ...]:
    name = Path(path).parent.name  # /usr/lib/postgresql/<version>/bin
    return tuple(int(n) for n in re.findall(r"\d+", name)) or (0,)


def find_bindir(bindir: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres`` of one PostgreSQL version.

    Looks in ``bindir`` or ``$BURGERHUB_PG_BINDIR`` when given, else on ``PATH`` (following a symlink
    such as ``/usr/local/bin/initdb`` to the folder it points into), else in the highest version of
    ``/usr/lib/postgresql/*/bin``. Raises :class:`PostgresNotFound` naming what to install.
    """
    explicit = bindir or os.environ.get(ENV_BINDIR)
    if explicit:
        if _has_programs(explicit):
            return Path(explicit)
        raise PostgresNotFound(f"{explicit} does not hold {', '.join(PROGRAMS)}")
    initdb = shutil.which("initdb")
    if initdb:
        for folder in (os.path.dirname(os.path.realpath(initdb)), os.path.dirname(initdb)):
            if _has_programs(folder):
                return Path(folder)
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True):
        if _has_programs(folder):
            return Path(folder)
    raise PostgresNotFound(
        "PostgreSQL server programs (initdb, pg_ctl, postgres) not found on PATH or in "
        "/usr/lib/postgresql/*/bin. Install them: on Debian/Ubuntu the package 'postgresql' "
        "(apt-get install postgresql; scripts/setup-system does it), on macOS 'brew install postgresql'; "
        f"or point ${ENV_BINDIR} at the folder that holds them."
    )


# -- who runs the server -----------------------------------------------------------------------------


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as when this process is root; None otherwise."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresError("running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


def _traversable(path: Path, uid: int, gid: int) -> bool:
    """Whether ``uid`` (primary group ``gid``) may pass through every folder above ``path``."""
    for folder in path.resolve().parents:
        st = folder.stat()
        if st.st_uid == uid:
            bit = 0o100
        elif st.st_gid == gid:
            bit = 0o010
        else:
            bit = 0o001
        if not st.st_mode & bit:
            return False
    return True


def _free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port != STANDARD_PORT:
            return port


def _conf_value(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)):
        return str(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    if not name or "\0" in name:
        raise ValueError(f"invalid identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


# -- the server --------------------------------------------------------------------------------------


class PrivatePostgres:
    """A PostgreSQL server of its own in a temporary folder, on 127.0.0.1 and a free port.

    ``PrivatePostgres(start=True)`` starts it at once; otherwise :meth:`start` or ``with`` does.

    * ``port``: the TCP port (default: a free one; never 5432);
    * ``user``: the superuser's name in the DSN (default ``postgres``; trust auth, no password);
    * ``settings``: ``postgresql.conf`` settings over :data:`SETTINGS`;
    * ``bindir``: the folder of the server programs (default: see :func:`find_bindir`);
    * ``base_dir``: where the temporary folder goes (default: the system's temporary folder);
    * ``locale``: the cluster's locale (default ``C``: byte-order sorting, fast; UTF8 encoding either way);
    * ``timeout``: seconds to wait for start-up.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        user: str = "postgres",
        settings: Mapping[str, Any] | None = None,
        bindir: str | os.PathLike[str] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        locale: str = "C",
        timeout: float = 60.0,
        start: bool = False,
    ) -> None:
        if port == STANDARD_PORT:
            raise ValueError(f"a private server does not take the standard port {STANDARD_PORT}")
        self.bindir = find_bindir(bindir)
        self.host = "127.0.0.1"
        self.user = user
        self._fixed_port = port
        self.port: int = port or 0
        self.settings = {**SETTINGS, **(settings or {})}
        self.base_dir = Path(base_dir) if base_dir is not None else None
        self.locale = locale
        self.timeout = timeout
        self.folder: Path | None = None
        #: seconds the last start took: initdb, and pg_ctl start until the server accepted connections
        self.timings: dict[str, float] = {}
        self._owner = _run_as()
        self._finalizer: weakref.finalize | None = None
        if start:
            self.start()

    # -- paths -------------------------------------------------------------------------------------
    @property
    def datadir(self) -> Path:
        return self._folder() / "data"

    @property
    def socket_dir(self) -> Path:
        """The folder of the server's unix socket (``host=`` for a socket connection)."""
        return self._folder()

    @property
    def log_path(self) -> Path:
        return self._folder() / "postgres.log"

    @property
    def running(self) -> bool:
        return self._finalizer is not None and self._finalizer.alive

    def _folder(self) -> Path:
        if self.folder is None:
            raise PostgresError("the server has not been started")
        return self.folder

    def dsn(self, dbname: str = "postgres") -> str:
        """``postgresql://USER@127.0.0.1:PORT/DBNAME`` (trust authentication: no password)."""
        if not self.port:
            raise PostgresError("the server has not been started")
        from urllib.parse import quote

        return f"postgresql://{quote(self.user, safe='')}@{self.host}:{self.port}/{quote(dbname, safe='')}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, PostgresError):
            return ""

    # -- running the programs ------------------------------------------------------------------------
    def _run(self, program: str, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        if self._owner is not None:
            kwargs.update(user=self._owner.pw_uid, group=self._owner.pw_gid, extra_groups=[])
            env.update(HOME=str(self._folder()), USER=self._owner.pw_name, LOGNAME=self._owner.pw_name)
        return subprocess.run(
            [str(self.bindir / program), *args],
            cwd=self._folder(),
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout or self.timeout,
            # the server must not get the terminal's Ctrl-C: stop() (or the CLI) shuts it down
            start_new_session=True,
            **kwargs,
        )

    def _make_folder(self) -> Path:
        base = self.base_dir
        if self._owner is not None and base is None:
            default = Path(tempfile.gettempdir())
            if not _traversable(default / "x", self._owner.pw_uid, self._owner.pw_gid):
                base = Path("/tmp")
        folder = Path(tempfile.mkdtemp(prefix="burgerhub-pg-", dir=base))
        if self._owner is not None:
            if not _traversable(folder, self._owner.pw_uid, self._owner.pw_gid):
                shutil.rmtree(folder, ignore_errors=True)
                raise PostgresError(
                    f"user {self._owner.pw_name!r} cannot reach {folder}; pass base_dir= a folder it can enter"
                )
            os.chown(folder, self._owner.pw_uid, self._owner.pw_gid)
        return folder

    def start(self) -> "PrivatePostgres":
        """initdb in a new temporary folder and start the server; returns when it accepts connections."""
        if self.running:
            return self
        t0 = time.perf_counter()
        self.folder = self._make_folder()
        # from here on stop() (or the interpreter's exit) removes the folder and any server in it
        self._finalizer = weakref.finalize(self, _shutdown, self.bindir, self.folder, self._owner)
        try:
            self._initdb()
            t1 = time.perf_counter()
            self._start_server()
            t2 = time.perf_counter()
        except BaseException:
            self.stop()
            raise
        self.timings = {"initdb_s": t1 - t0, "start_s": t2 - t1, "total_s": t2 - t0}
        return self

    def _initdb(self) -> None:
        args = ["-D", str(self.datadir), "-U", self.user, "-A", "trust", "-E", "UTF8", "--locale", self.locale, "--no-sync"]
        result = self._run("initdb", *args)
        if result.returncode != 0:
            raise PostgresError(f"initdb failed ({result.returncode}):\n{result.stderr.strip() or result.stdout.strip()}")

    def _write_conf(self) -> None:
        settings = {
            **self.settings,
            "listen_addresses": "127.0.0.1",
            "port": self.port,
            "unix_socket_directories": str(self.socket_dir),
        }
        lines = ["", "# burgerhub PrivatePostgres: throwaway data, 127.0.0.1 only"]
        lines += [f"{k} = {_conf_value(v)}" for k, v in settings.items()]
        # postgresql.auto.conf is read last and belongs to the server's user already
        with open(self.datadir / "postgresql.auto.conf", "a") as f:
            f.write("\n".join(lines) + "\n")

    def _start_server(self) -> None:
        conf = self.datadir / "postgresql.auto.conf"
        pristine = conf.read_text()
        for attempt in range(5):
            self.port = self._fixed_port or _free_port()
            conf.write_text(pristine)
            self._write_conf()
            result = self._run(
                "pg_ctl", "-D", str(self.datadir), "-l", str(self.log_path), "-w", "-t", str(int(self.timeout)),
                "-s", "start", timeout=self.timeout + 10,
            )
            if result.returncode == 0:
                return
            log = self.log_tail()
            # another process took the port between choosing it and binding it: try another
            if self._fixed_port is None and "could not bind" in log and attempt < 4:
                self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "-s", "stop")
                continue
            raise PostgresError(f"PostgreSQL did not start ({result.returncode}): {result.stderr.strip()}\n{log}")

    def stop(self) -> None:
        """Kill the server (``pg_ctl stop -m immediate``) and remove its folder; safe to call twice."""
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self) -> "PrivatePostgres":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.dsn() if self.running else "stopped"
        return f"<PrivatePostgres {state}>"

    # -- databases -----------------------------------------------------------------------------------
    def execute(self, sql: str, dbname: str = "postgres") -> list[tuple[str | None, ...]]:
        """Run ``sql`` (simple query protocol; several statements allowed) and return the rows of the
        last result as text. Raises :class:`PostgresError` with the server's message on error."""
        if not self.running:
            raise PostgresError("the server is not running")
        return _simple_query(self.host, self.port, self.user, dbname, sql, timeout=self.timeout)

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create database ``name`` (a copy of ``template`` when given) and return its DSN."""
        sql = f"CREATE DATABASE {quote_ident(name)}"
        if template is not None:
            # a template's copy is a file copy: fast with fsync off; needs no one connected to it
            sql += f" TEMPLATE {quote_ident(template)} STRATEGY FILE_COPY"
        self.execute(sql)
        return self.dsn(name)

    def drop_database(self, name: str, *, force: bool = True) -> None:
        """Drop database ``name`` if it exists (disconnecting its sessions unless ``force=False``)."""
        self.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}" + (" WITH (FORCE)" if force else ""))


def _shutdown(bindir: Path, folder: Path, owner: pwd.struct_passwd | None) -> None:
    """Stop a server in ``folder`` (if one runs) and remove the folder. Holds no reference to the object."""
    datadir = folder / "data"
    if (datadir / "postmaster.pid").exists():
        kwargs: dict[str, Any] = {}
        if owner is not None:
            kwargs.update(user=owner.pw_uid, group=owner.pw_gid, extra_groups=[])
        try:
            subprocess.run(
                [str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "-w", "-t", "30", "-s", "stop"],
                cwd=folder, stdin=subprocess.DEVNULL, capture_output=True, timeout=40, **kwargs,
            )
        except (OSError, subprocess.SubprocessError):
            pass
        _kill_leftover(datadir)
    shutil.rmtree(folder, ignore_errors=True)


def _kill_leftover(datadir: Path) -> None:
    """SIGKILL the postmaster if pg_ctl could not stop it (its pid is the first line of postmaster.pid)."""
    try:
        pid = int((datadir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


# -- a minimal client of the wire protocol (protocol 3.0, trust authentication, simple queries) -------


def _simple_query(host: str, port: int, user: str, dbname: str, sql: str, *, timeout: float = 30.0) -> list[tuple[str | None, ...]]:
    params = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in (("user", user), ("database", dbname), ("client_encoding", "UTF8")))
    startup = struct.pack("!ii", 8 + len(params) + 1, 196608) + params + b"\0"
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = sock.makefile("rb")
        sock.sendall(startup)
        _until_ready(reader, during="connecting")
        body = sql.encode() + b"\0"
        sock.sendall(b"Q" + struct.pack("!i", 4 + len(body)) + body)
        rows = _until_ready(reader, during="running the statement")
        try:
            sock.sendall(b"X\0\0\0\4")
        except OSError:
            pass
        return rows


def _until_ready(reader, *, during: str) -> list[tuple[str | None, ...]]:
    """Read messages up to ReadyForQuery; the DataRows of the last result, or the first error raised."""
    rows: list[tuple[str | None, ...]] = []
    error: PostgresError | None = None
    while True:
        head = reader.read(5)
        if len(head) < 5:
            raise error or PostgresError(f"connection closed by the server while {during}")
        kind, length = head[:1], struct.unpack("!i", head[1:])[0]
        body = reader.read(length - 4)
        if kind == b"R":
            code = struct.unpack("!i", body[:4])[0]
            if code != 0:
                raise PostgresError(f"the server asks for authentication method {code}; only trust is supported")
        elif kind == b"T":
            rows = []
        elif kind == b"D":
            rows.append(_data_row(body))
        elif kind == b"E":
            fields = _fields(body)
            if error is None:
                error = PostgresError(f"{fields.get('S', 'ERROR')}: {fields.get('M', '?')}", sqlstate=fields.get("C"))
            if during == "connecting":
                raise error
        elif kind == b"Z":
            if error is not None:
                raise error
            return rows
        # S (parameter status), K (backend key), N (notice), C (command complete), I (empty): nothing to do


def _data_row(body: bytes) -> tuple[str | None, ...]:
    (n,) = struct.unpack_from("!h", body, 0)
    pos, values = 2, []
    for _ in range(n):
        (size,) = struct.unpack_from("!i", body, pos)
        pos += 4
        if size < 0:
            values.append(None)
        else:
            values.append(body[pos : pos + size].decode())
            pos += size
    return tuple(values)


def _fields(body: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in body.split(b"\0"):
        if part:
            out[chr(part[0])] = part[1:].decode(errors="replace")
    return out


# -- python -m hub.store.pgserver ----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hub.store.pgserver",
        description="Start a throwaway PostgreSQL server on 127.0.0.1, print its DSN, and remove it on Ctrl-C.",
    )
    parser.add_argument("--port", type=int, help="TCP port (default: a free one)")
    parser.add_argument("--database", "-d", action="append", default=[], metavar="NAME", help="create this database (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a postgresql.conf setting")
    args = parser.parse_args(argv)
    settings = dict(s.split("=", 1) for s in args.set)
    try:
        pg = PrivatePostgres(port=args.port, settings=settings)
    except PostgresNotFound as e:
        print(e, file=sys.stderr)
        return 2
    stop = False

    def on_signal(signum, frame):  # Ctrl-C, SIGTERM, a closed terminal: stop and clean up
        nonlocal stop
        stop = True

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    with pg:
        dsns = [pg.create_database(name) for name in args.database] or [pg.dsn()]
        for dsn in dsns:
            print(dsn, flush=True)
        print(
            f"PostgreSQL {pg.execute('SHOW server_version')[0][0]} in {pg.folder} "
            f"(started in {pg.timings['total_s']:.2f} s); Ctrl-C stops it and removes the folder",
            file=sys.stderr, flush=True,
        )
        while not stop:
            time.sleep(0.2)
    print("stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
