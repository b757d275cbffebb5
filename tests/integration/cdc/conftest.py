"""Private database servers for change data capture tests.

Each fixture starts its own server in a temporary directory on a free loopback port
(PostgreSQL with ``wal_level=logical``; MariaDB with a row-format binlog) and stops it at
the end; the shared servers on 5432 and 3306 are never reconfigured. Binaries missing:
skip on a laptop, fail under ``CI=true``. PostgreSQL refuses to run as root, so its
server runs as the ``postgres`` system user (or ``parity-ci``, created if neither exists).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_BIN = Path(os.environ.get("PARITY_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; CI=true, so this is a failure, not a skip.", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_user() -> str:
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    for name in ("postgres", "parity-ci"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    subprocess.run(["useradd", "--system", "--no-create-home", "parity-ci"], check=True)
    return "parity-ci"


def _as(user: str, *command: str) -> list[str]:
    if os.geteuid() != 0:
        return list(command)
    return ["runuser", "-u", user, "--", *command]


@dataclass(frozen=True)
class PostgresServer:
    """A running private PostgreSQL: superuser ``postgres`` over TCP, trust auth."""

    port: int
    directory: Path
    user: str

    def dsn(self, *, user: str = "postgres", database: str = "postgres") -> str:
        """A libpq URL for ``user`` on ``database``."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"


def start_postgres(*, wal_level: str = "logical") -> PostgresServer:
    """initdb + pg_ctl start a server in a new temporary directory."""
    if not (PG_BIN / "initdb").exists():
        _missing(f"PostgreSQL binaries are not in {PG_BIN} (set PARITY_TEST_PG_BIN)")
    user = _server_user()
    directory = Path(tempfile.mkdtemp(prefix="parity-pg-"))
    shutil.chown(directory, user)
    data = directory / "data"
    subprocess.run(
        _as(
            user,
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        ),
        check=True,
        capture_output=True,
    )
    port = free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {directory} -c wal_level={wal_level} "
        "-c max_replication_slots=8 -c max_wal_senders=8 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off"
    )
    subprocess.run(
        _as(
            user,
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "-l",
            str(directory / "log"),
            "start",
        ),
        check=True,
        capture_output=True,
    )
    return PostgresServer(port, directory, user)


def stop_postgres(server: PostgresServer) -> None:
    """pg_ctl stop (immediate) and remove the directory."""
    subprocess.run(
        _as(
            server.user,
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(server.directory / "data"),
            "-m",
            "immediate",
            "stop",
        ),
        capture_output=True,
    )
    shutil.rmtree(server.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def cdc_postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL with wal_level=logical, for the whole session."""
    server = start_postgres()
    try:
        yield server
    finally:
        stop_postgres(server)


@pytest.fixture
def pg_database(cdc_postgres: PostgresServer, unique_prefix: str) -> Iterator[str]:
    """A fresh database on the private server; yields its superuser dsn."""
    import psycopg2

    admin = psycopg2.connect(cdc_postgres.dsn())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{unique_prefix}"')
    try:
        yield cdc_postgres.dsn(database=unique_prefix)
    finally:
        with admin.cursor() as cur:
            cur.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE database = %s AND NOT active",
                (unique_prefix,),
            )
            for _ in range(50):
                try:
                    cur.execute(f'DROP DATABASE "{unique_prefix}" WITH (FORCE)')
                    break
                except psycopg2.errors.ObjectInUse:
                    time.sleep(0.1)
        admin.close()


@dataclass(frozen=True)
class MariaDBServer:
    """A running private MariaDB: ``root`` without a password over TCP."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes]

    def dsn(self, *, user: str = "root", database: str = "") -> str:
        """A ``mysql://`` URL for ``user`` on ``database``."""
        return f"mysql://{user}@127.0.0.1:{self.port}/{database}"


def start_mariadb(*, binlog_format: str = "ROW") -> MariaDBServer:
    """mariadb-install-db + mariadbd with a binlog in a new temporary directory."""
    install, server = shutil.which("mariadb-install-db"), shutil.which("mariadbd")
    if install is None or server is None:
        _missing("MariaDB binaries (mariadb-install-db, mariadbd) are not on PATH")
    assert install is not None and server is not None
    directory = Path(tempfile.mkdtemp(prefix="parity-mariadb-"))
    data = directory / "data"
    user = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run(
        [
            install,
            "--no-defaults",
            f"--datadir={data}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            *user,
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    process = subprocess.Popen(
        [
            server,
            "--no-defaults",
            f"--datadir={data}",
            f"--socket={directory}/sock",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            f"--binlog-format={binlog_format}",
            "--binlog-row-metadata=FULL",
            f"--log-bin={data}/binlog",
            "--server-id=1",
            "--skip-name-resolve",
            f"--log-error={directory}/err.log",
            "--innodb-flush-log-at-trx-commit=0",
            *user,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((directory / "err.log").read_text()) from None
            time.sleep(0.1)
    return MariaDBServer(port, directory, process)


def stop_mariadb(server: MariaDBServer) -> None:
    """Stop the server and remove its directory."""
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    shutil.rmtree(server.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def cdc_mariadb() -> Iterator[MariaDBServer]:
    """A private MariaDB with a row-format binlog, for the whole session."""
    server = start_mariadb()
    try:
        yield server
    finally:
        stop_mariadb(server)


@pytest.fixture
def mariadb_database(cdc_mariadb: MariaDBServer, unique_prefix: str) -> Iterator[str]:
    """A fresh database on the private MariaDB; yields its root dsn."""
    import pymysql

    admin = pymysql.connect(host="127.0.0.1", port=cdc_mariadb.port, user="root", autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{unique_prefix}`")
    try:
        yield cdc_mariadb.dsn(database=unique_prefix)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{unique_prefix}`")
        admin.close()
