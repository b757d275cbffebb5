"""Fault injection against real servers: a PostgreSQL registry behind a TCP proxy the test
controls, private redis-servers to stop, freeze and wipe, a real ``parity serve`` to
SIGTERM. Every test is bounded in time; none touches the shared servers' settings.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from parity import FeatureStore

from ..conftest import POSTGRES_URL, require_service
from ..integration.serve.conftest import RedisServer, build_repo, free_port, serve
from .proxy import TcpProxy


@pytest.fixture
def pg_proxy() -> Iterator[TcpProxy]:
    """A TCP proxy in front of the real PostgreSQL at 127.0.0.1:5432."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    proxy = TcpProxy(("127.0.0.1", 5432))
    yield proxy
    proxy.close()


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema on the real PostgreSQL, dropped at the end."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import psycopg

    schema = f"parity_fault_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield schema
    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def registry_repo(tmp_path: Path, pg_proxy: TcpProxy, pg_schema: str) -> Iterator[FeatureStore]:
    """The seeded example repository, its registry on PostgreSQL through ``pg_proxy``:
    plans refresh every 0.2 s, a registry read waits at most 0.5 s, plans are served
    up to 4 s after the registry last answered."""
    environ = {
        "PARITY__REGISTRY__TYPE": "postgresql",
        "PARITY__REGISTRY__URL": f"postgresql://127.0.0.1:{pg_proxy.port}/test",
        "PARITY__REGISTRY__SCHEMA": pg_schema,
        "PARITY__REGISTRY__CONNECT_TIMEOUT_S": "1",
        "PARITY__REGISTRY__QUERY_TIMEOUT_S": "0.5",
        "PARITY__REGISTRY_CACHE_SECONDS": "0.2",
        "PARITY__REGISTRY_MAX_STALENESS_SECONDS": "4",
    }
    store = build_repo(tmp_path / "repo", environ=environ)
    yield store
    store.close()


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A private redis-server on a free port (never the shared one), stopped at the end."""
    server = RedisServer(free_port())
    server.start()
    yield server
    server.stop()


def metric(text: str, name: str, **labels: str) -> float | None:
    """The sum of the samples ``name`` with ``labels`` in a Prometheus exposition text
    (None: no such sample)."""
    from prometheus_client.parser import text_string_to_metric_families

    found = None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                found = (found or 0.0) + float(sample.value)
    return found


def all_under(url: str, endpoint: str, bound: str) -> tuple[int, int]:
    """(requests answered within ``bound`` seconds, all requests) for ``endpoint``, as the
    server measured them (its latency histogram; ``bound`` is one of its bucket edges)."""
    import httpx

    text = httpx.get(f"{url}/metrics").text
    within = metric(text, "parity_request_latency_seconds_bucket", endpoint=endpoint, le=bound)
    total = metric(text, "parity_request_latency_seconds_count", endpoint=endpoint)
    return int(within or 0), int(total or 0)


@pytest.fixture
def make_repo(tmp_path: Path) -> Iterator[Any]:
    """Build a fresh seeded repository: ``make_repo(environ=...)``."""
    stores: list[FeatureStore] = []

    def make(environ: dict[str, str] | None = None, name: str = "repo") -> FeatureStore:
        built = build_repo(tmp_path / name, environ=environ)
        stores.append(built)
        return built

    yield make
    for built in stores:
        built.close()


@pytest.fixture
def live_server() -> Any:
    """``live_server(store, **server_config)``: a LiveServer context manager."""
    return serve
