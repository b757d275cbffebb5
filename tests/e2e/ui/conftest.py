"""A repository for the web UI's tests, built by running parity as a user would.

``parity demo`` (init, apply, materialize, promote, a saved training set, two retraining
runs), then: a breaking change of ``merchant_risk`` applied with a message and
materialized (v2, pending, so there is a diff and a promotion to make), a source row
with a null key (quarantined by that sync), served reads through ``parity serve`` (the
request log the drift page compares with the training reference), unpublished offline
corrections with the ``block`` policy and ``parity audit`` (a blocked view version), and
two API keys (read, admin) in ``parity.yaml``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from parity.serve.auth import generate_api_key, hash_api_key

BLOCKED_VIEW = "user_transaction_stats"
CHROMIUM = "/usr/bin/chromium"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_browser() -> None:
    """Skip (or fail under CI=true) without Debian's Chromium and Playwright for Python."""
    import importlib.util

    missing = []
    if not Path(CHROMIUM).is_file():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("playwright (pip install playwright; never 'playwright install')")
    if not missing:
        return
    reason = "the browser suite needs " + " and ".join(missing)
    if IN_CI:
        pytest.fail(f"{reason}; CI=true, so this is a failure, not a skip.", pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class UiRepo:
    """The built repository, the keys it accepts, and the running server's address."""

    path: Path
    read_key: str
    admin_key: str
    base_url: str


def parity(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real CLI on ``root``."""
    env = {**os.environ, "PARITY_ACTOR": "ui-e2e", "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "parity", "--repo", str(root), *args],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    if check:
        assert result.returncode == 0, f"parity {' '.join(args)}: {result.stdout}{result.stderr}"
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _breaking_change(root: Path) -> None:
    features = root / "features.py"
    text = features.read_text()
    changed = text.replace(
        "ttl=timedelta(days=14),  # refreshed weekly; one missed week is tolerated",
        "ttl=timedelta(days=21),  # refreshed weekly; two missed weeks are tolerated",
    ).replace('owner="risk-team@example.com"', 'owner="merchant-risk@example.com"')
    assert changed != text
    features.write_text(changed)


def _null_key_row(root: Path) -> None:
    path = root / "data/merchant_risk.parquet"
    table = pq.read_table(path)
    bad = table.slice(0, 1).to_pylist()[0]
    bad["merchant_id"] = None
    bad["created_timestamp"] = datetime.now(UTC)
    pq.write_table(
        pa.concat_tables([table, pa.Table.from_pylist([bad], schema=table.schema)]), path
    )


def _unpublished_corrections(root: Path) -> None:
    path = root / f"data/{BLOCKED_VIEW}.parquet"
    source = pq.read_table(path)
    latest = source.group_by("user_id").aggregate([("event_timestamp", "max")])
    users = sorted(latest.column("user_id").to_pylist())[:20]
    newest = source.join(latest, keys="user_id").filter(
        (pc.field("event_timestamp") == pc.field("event_timestamp_max"))
        & pc.field("user_id").isin(users)
    )
    # Change the newest row of 20 users in place: appending a corrected copy with the same
    # timestamp would leave the offline read free to pick either row.
    keys = ["user_id", "event_timestamp"]
    wanted = {tuple(r.values()) for r in newest.select(keys).to_pylist()}
    hit = pa.array([tuple(r.values()) in wanted for r in source.select(keys).to_pylist()])
    index = source.schema.get_field_index("amount_mean_7d")
    column = source.column("amount_mean_7d")
    fixed = pc.if_else(hit, pc.add(column, 1.0), column)
    pq.write_table(source.set_column(index, "amount_mean_7d", fixed), path)


def _keys(root: Path) -> tuple[str, str]:
    read_key, admin_key = generate_api_key(), generate_api_key()
    with (root / "parity.yaml").open("a") as config:
        config.write(
            "\nserver:\n  api_keys:\n"
            f"    - {{name: viewer, hash: '{hash_api_key(read_key)}', scopes: [read]}}\n"
            f"    - {{name: operator, hash: '{hash_api_key(admin_key)}', scopes: [admin]}}\n"
        )
    return read_key, admin_key


def _serve(root: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PARITY_ACTOR": "ui-e2e"}
    with (root.parent / "serve.log").open("ab") as log:  # the child keeps its own handle
        return subprocess.Popen(
            [sys.executable, "-m", "parity", "--repo", str(root), "serve", "--port", str(port),
             "--workers", "1", "--log-level", "warning"],
            env=env, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip


def _wait_ready(base_url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(120):
        if server.poll() is not None:
            raise RuntimeError(f"parity serve exited: {log.read_text()}")
        try:
            if httpx.get(f"{base_url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError("parity serve did not answer /health in 30 s")


def _served_reads(base_url: str, key: str) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    for start in range(1, 1201, 100):
        rows = [{"user_id": u, "merchant_id": 1 + u % 50} for u in range(start, start + 100)]
        answer = httpx.post(
            f"{base_url}/get-online-features",
            json={"feature_service": "fraud_detection", "entity_rows": rows},
            headers=headers,
            timeout=30.0,
        )
        assert answer.status_code == 200, answer.text


@pytest.fixture(scope="session")
def ui_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiRepo]:
    """The repository with a running ``parity serve`` (UI under /ui), built once."""
    root = tmp_path_factory.mktemp("ui") / "fraud_demo"
    parity(root.parent, "demo", "--path", str(root))
    _breaking_change(root)
    parity(root, "apply", "-m", "merchant_risk: three weeks of ttl (risk asked for it)")
    _null_key_row(root)
    parity(root, "materialize", "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z",
           "--view", "merchant_risk@v2")  # fmt: skip
    read_key, admin_key = _keys(root)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = _serve(root, port)
    try:
        _wait_ready(base_url, server, root.parent / "serve.log")
        _served_reads(base_url, read_key)
        server.terminate()  # a graceful stop flushes the request log
        server.wait(timeout=60)
        _unpublished_corrections(root)
        (root / "monitoring.yaml").write_text("consistency: {on_inconsistent: block}\n")
        # Every key (more than the demo has), so the 20 corrected users are always compared.
        audit = parity(root, "audit", f"{BLOCKED_VIEW}@v1", "--sample", "1000000", check=False)
        assert audit.returncode == 1, audit.stdout + audit.stderr  # inconsistent: blocked
        server = _serve(root, port)
        _wait_ready(base_url, server, root.parent / "serve.log")
        yield UiRepo(root, read_key, admin_key, base_url)
    finally:
        server.terminate()
        server.wait(timeout=60)
