"""Drive the ``parity`` command line as a user would, in a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def parity(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PARITY_ACTOR": "e2e", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "parity", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=full_env,
        check=False,
    )


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    result = parity("init", "fraud", cwd=root)
    assert result.returncode == 0, result.stderr
    return root / "fraud"


def test_init_plan_apply_list_describe_history(repo: Path) -> None:
    plan = parity("plan", "--json", cwd=repo)
    assert plan.returncode == 0, plan.stderr
    classes = {c["name"]: c["class"] for c in json.loads(plan.stdout)["changes"]}
    assert set(classes.values()) == {"new"} and "fraud_detection" in classes

    applied = parity("apply", "-m", "first version", cwd=repo)
    assert applied.returncode == 0, applied.stderr
    assert "Applied." in applied.stdout

    listed = json.loads(parity("list", "--json", cwd=repo).stdout)
    assert {v["name"] for v in listed["views"]} == {
        "user_transaction_stats",
        "user_profile",
        "merchant_risk",
    }
    assert {v["state"] for v in listed["views"]} == {"pending"}

    described = parity("describe", "fraud_detection", "--json", cwd=repo)
    pins = json.loads(described.stdout)["pins"]
    assert [p["position"] for p in pins] == list(range(len(pins)))

    history = json.loads(parity("history", "--json", cwd=repo).stdout)
    assert {e["message"] for e in history} == {"first version"}
    assert {e["actor"] for e in history} == {"e2e"}

    again = parity("plan", cwd=repo)
    assert "No changes" in again.stdout


def test_lifecycle_commands_and_strict_plan_gate(repo: Path) -> None:
    assert parity("apply", "-m", "ensure applied", cwd=repo).returncode == 0
    unvalidated = parity("promote", "user_profile@v1", cwd=repo)
    assert unvalidated.returncode == 1 and "never been synchronized" in unvalidated.stderr
    sync = parity(
        "materialize",
        "2000-01-01T00:00:00Z",
        "2100-01-01T00:00:00Z",
        "--view",
        "user_profile",
        "--json",
        cwd=repo,
    )
    assert sync.returncode == 0, sync.stderr
    [report] = json.loads(sync.stdout)
    assert (report["outcome"], report["rows_rejected"]) == ("succeeded", 0)
    assert report["validation"]["mismatches"] == 0 and report["rows_written"] > 0
    promote = parity("promote", "user_profile@v1", "-m", "validated", cwd=repo)
    assert promote.returncode == 0, promote.stderr
    assert "serving" in promote.stdout

    # A breaking edit: change the ttl of user_profile.
    features = repo / "features.py"
    original = features.read_text()
    assert "user_profile" in original
    edited = _change_profile_ttl(original)
    features.write_text(edited)
    try:
        strict = parity("plan", "--strict", cwd=repo)
        assert strict.returncode == 1
        assert "breaking" in strict.stdout
        loose = parity("plan", cwd=repo)
        assert loose.returncode == 0
        applied = parity("apply", "-m", "longer profile ttl", "--json", cwd=repo)
        change = next(
            c for c in json.loads(applied.stdout)["changes"] if c["name"] == "user_profile"
        )
        assert (change["class"], change["to_version"]) == ("breaking", 2)
    finally:
        features.write_text(original)

    wrong = parity("deprecate", "user_profile@v2", cwd=repo)
    assert wrong.returncode == 1
    assert "pending; it cannot become deprecated" in wrong.stderr
    ambiguous = parity("promote", "user_profile", cwd=repo)
    assert ambiguous.returncode == 1 and "say which version" in ambiguous.stderr


def _change_profile_ttl(text: str) -> str:
    start = text.index('"user_profile"')
    ttl = text.index("ttl=", start)
    end = text.index(",", ttl)
    return text[:ttl] + "ttl=timedelta(days=1234)" + text[end:]


def test_errors_exit_1_with_a_message_and_usage_errors_exit_2(tmp_path: Path) -> None:
    missing = parity("plan", cwd=tmp_path)
    assert missing.returncode == 1
    assert "No parity.yaml" in missing.stderr and "parity init" in missing.stderr
    usage = parity("apply", cwd=tmp_path)  # --message is required
    assert usage.returncode == 2
    assert "--message" in usage.stderr


def test_broken_definition_file_reports_file_and_line(tmp_path: Path) -> None:
    assert parity("init", "broken", cwd=tmp_path).returncode == 0
    repo = tmp_path / "broken"
    (repo / "extra.py").write_text("import parity\n\nx = 1\nraise RuntimeError('boom')\n")
    result = parity("plan", cwd=repo)
    assert result.returncode == 1
    assert "extra.py:4" in result.stderr and "boom" in result.stderr


def test_unknown_config_key_and_unreachable_registry_are_clear(tmp_path: Path) -> None:
    assert parity("init", "cfg", cwd=tmp_path).returncode == 0
    repo = tmp_path / "cfg"
    config = repo / "parity.yaml"
    config.write_text(config.read_text() + "\nonline_stor: {}\n")
    result = parity("plan", cwd=repo)
    assert result.returncode == 1 and "Did you mean 'online_store'" in result.stderr
    config.write_text(config.read_text().replace("\nonline_stor: {}\n", "\n"))
    env = {
        "PARITY__REGISTRY__TYPE": "postgresql",
        "PARITY__REGISTRY__URL": "postgresql://127.0.0.1:1/nope",
    }
    unreachable = parity("list", cwd=repo, env=env)
    assert unreachable.returncode == 1
    assert (
        "Cannot reach the registry at postgresql+psycopg://127.0.0.1:1/nope" in unreachable.stderr
    )


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    result = parity("demo", "--path", str(tmp_path / "demo"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Demo complete" in result.stdout


def test_init_derives_a_valid_project_name_from_the_folder(tmp_path: Path) -> None:
    result = parity("init", "my-fraud-repo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "project: my_fraud_repo" in (tmp_path / "my-fraud-repo" / "parity.yaml").read_text()
    again = parity("init", "my-fraud-repo", cwd=tmp_path)
    assert again.returncode == 1 and "not empty" in again.stderr
