"""A push source's Delta table missing a commit: ``/push`` answers 503
``SourceUnreadable`` having written nothing, and the same push applies once the table is
repaired. (The CLI side of damaged sources is in test_offline_faults.py.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from parity import FeatureStore

from ..integration.serve.conftest import push_body, serve


def _cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "parity", "--repo", str(repo), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_a_missing_delta_commit_is_503_on_push_and_the_retry_applies_after_repair(
    make_repo: Any,
) -> None:
    store: FeatureStore = make_repo()
    log = store.repo_path / "data" / "txn_events" / "_delta_log"
    with serve(store) as live:
        url = live.url
        for user in (1, 2):
            assert httpx.post(f"{url}/push", json=push_body(user, 1.0)).status_code == 200
        first = sorted(log.glob("*.json"))[0]
        backup = first.with_suffix(".bak")
        shutil.move(first, backup)
        body = {**push_body(3, 7.0), "push_id": "after-the-damage"}
        damaged = httpx.post(f"{url}/push", json=body)
        assert damaged.status_code == 503, damaged.text
        error = damaged.json()["error"]
        assert error["type"] == "SourceUnreadable"
        assert "txn_events" in error["message"] and "nothing was written" in error["message"]
        read = {"feature_service": "live", "entity_rows": [{"user_id": 3}]}
        assert httpx.post(f"{url}/get-online-features", json=read).json()["results"][0][
            "statuses"
        ] == ["not_found", "not_found"]
        shutil.move(backup, first)  # the operator restores the commit: the retry applies
        again = httpx.post(f"{url}/push", json=body)
        assert again.status_code == 200, again.text
        assert again.json()["rows_written"] == 1
        assert (
            httpx.post(f"{url}/get-online-features", json=read).json()["results"][0]["values"][0]
            == 7.0
        )
