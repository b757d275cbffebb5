"""The command line's argument handling: usage errors exit 2, parity errors exit 1 with
their message on stderr, and ``--json`` prints stable shapes.

Typer's CliRunner drives the app in-process, on a temporary repository with a real SQLite
registry and online store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

import parity as p
from parity.cli.main import app

USER = p.Entity("user", join_keys=[p.Field("user_id", p.Int64)])
STATS = p.FeatureView(
    "stats",
    entities=[USER],
    schema=[p.Field("spend", p.Float64)],
    source=p.ParquetSource("data/stats.parquet", timestamp_field="ts"),
    ttl=timedelta(days=2),
)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "parity.yaml").write_text("project: demo\n")
    monkeypatch.setenv("PARITY_ACTOR", "cli-test")
    with p.FeatureStore(tmp_path) as store:
        store.apply([USER, STATS, p.FeatureService("svc", features=["stats"])], message="v1")
    yield tmp_path


def invoke(repo: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--repo", str(repo), *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-command"],
        ["promote"],
        ["list", "widgets"],
        ["history", "--limit", "many"],
        ["report", "performance", "--model", "m", "--window", "3x"],
        ["report", "performance", "--model", "m", "--validation", "f1"],
    ],
)
def test_usage_errors_exit_2_before_touching_the_repository(
    tmp_path: Path, args: list[str]
) -> None:
    code, _, stderr = invoke(tmp_path, *args)
    assert code == 2, stderr
    assert not (tmp_path / "data").exists()


def test_a_parity_error_exits_1_with_its_message_on_stderr(tmp_path: Path, repo: Path) -> None:
    code, stdout, stderr = invoke(tmp_path / "elsewhere", "list")
    assert code == 1 and stdout == ""
    assert "error: No parity.yaml in" in stderr
    code, _, stderr = invoke(repo, "promote", "stast@v1")
    assert code == 1
    assert "Unknown object 'stast'. Did you mean 'stats'?" in " ".join(stderr.split())
    code, _, stderr = invoke(repo, "materialize", "yesterday", "2026-01-01T00:00:00Z")
    assert code == 1 and "START: 'yesterday' is not a date or time. Use ISO 8601" in stderr


def test_list_json_groups_the_newest_version_of_each_object(repo: Path) -> None:
    code, stdout, _ = invoke(repo, "list", "--json")
    assert code == 0
    listed = json.loads(stdout)
    assert set(listed) == {"entities", "views", "services"}
    assert [(v["name"], v["version"], v["state"]) for v in listed["views"]] == [
        ("stats", 1, "pending")
    ]


def test_lifecycle_json_is_the_version_record(repo: Path) -> None:
    code, stdout, _ = invoke(repo, "promote", "stats@v1", "--force", "-m", "ok", "--json")
    assert code == 0
    record = json.loads(stdout)
    assert (record["name"], record["version"], record["state"]) == ("stats", 1, "serving")
    code, stdout, _ = invoke(repo, "history", "stats", "--json")
    entries = json.loads(stdout)
    assert entries[0]["message"] == "ok [forced: validation skipped]"
    assert entries[0]["actor"] == "cli-test"


def test_plan_json_shape(repo: Path) -> None:
    code, stdout, _ = invoke(repo, "plan", "--json")
    assert code == 0
    plan = json.loads(stdout)
    assert {"project", "base_generation", "has_breaking", "refused", "changes"} <= set(plan)
    assert plan["project"] == "demo"


def test_monitoring_commands_json_shapes(repo: Path) -> None:
    code, stdout, _ = invoke(repo, "status", "--json")
    assert code == 0
    status = json.loads(stdout)
    assert set(status) == {"freshness", "schedules", "alerts"} and status["alerts"] == []
    assert [r["view"] for r in status["freshness"]] == ["stats"]
    code, stdout, _ = invoke(repo, "unblock", "stats@v1", "--json")
    assert code == 0
    assert json.loads(stdout) == {"ref": "stats@v1", "was_blocked": False, "unblocked": False}
    code, stdout, _ = invoke(repo, "alerts", "--json")
    assert code == 0 and json.loads(stdout) == []


def test_commands_refuse_bad_values_with_the_choices(repo: Path) -> None:
    code, _, stderr = invoke(
        repo, "stream", "run", "stats", "--stream", "s", "--transport", "kafka"
    )
    assert code == 1 and "--transport 'kafka': use 'redis' or 'nats'." in stderr
    code, _, stderr = invoke(repo, "verify-consistency", "stats@v1")
    assert code == 1 and "stats@v1 has no aggregations" in stderr
    code, _, stderr = invoke(repo, "retrain", "run", "fraud_model")
    assert code == 1 and "No model 'fraud_model'" in stderr


def test_retrain_status_json_of_a_model_without_versions(repo: Path) -> None:
    code, stdout, _ = invoke(repo, "retrain", "status", "fraud_model", "--json")
    assert code == 0
    assert json.loads(stdout) == {
        "aliases": {"champion": None, "challenger": None, "previous": None},
        "versions": [],
        "runs": [],
        "alerts": [],
        "pending_transitions": [],
    }


def test_materialize_accepts_iso_dates_as_utc_and_says_so(repo: Path) -> None:
    # Fails on main: a date without offset was refused with "datetime(..., tzinfo=...)".
    code, stdout, stderr = invoke(repo, "materialize", "2026-01-01", "2027-01-01T06:30")
    text = " ".join(stderr.split())
    assert "START 2026-01-01 has no UTC offset: read as 2026-01-01T00:00:00Z (UTC)." in text
    assert "END 2027-01-01T06:30 has no UTC offset: read as 2027-01-01T06:30:00Z (UTC)." in text
    assert "tzinfo" not in stderr
    # The run itself went ahead (the sample source is missing, so it is blocked, exit 1).
    assert code == 1 and "stats@v1" in stdout and "blocked" in stdout
    _, _, stderr = invoke(repo, "materialize", "2026-01-01T00:00:00+02:00", "2027-01-01T00:00Z")
    assert "no UTC offset" not in stderr


def test_a_time_that_leaves_the_calendar_in_utc_is_a_command_line_error(repo: Path) -> None:
    code, _, stderr = invoke(repo, "materialize", "0001-01-01T00:00:00+01:00", "2027-01-01")
    assert code == 1
    assert "START: '0001-01-01T00:00:00+01:00' is outside the years 1-9999" in stderr


def test_version_option_prints_the_installed_version(tmp_path: Path) -> None:
    # Fails on main: "No such option: --version".
    code, stdout, _ = invoke(tmp_path, "--version")
    assert (code, stdout.strip()) == (0, f"parity {p.__version__}")


def test_a_status_table_too_wide_for_the_terminal_is_printed_whole(repo: Path) -> None:
    # Fails on main: at 50 columns the sync table cut every column but the first to nothing.
    result = CliRunner().invoke(
        app,
        ["--repo", str(repo), "materialize", "2026-01-01T00:00Z", "2027-01-01T00:00Z"],
        env={"COLUMNS": "50"},
    )
    lines = result.stdout.splitlines()
    assert "outcome: blocked" in lines
    assert "view version: stats@v1" in lines
    assert all(len(line) <= 50 for line in lines)
    assert "…" not in result.stdout.split("Sync runs", 1)[1]


def _command_paths() -> list[str]:
    import typer

    def walk(command: object, prefix: tuple[str, ...]) -> list[str]:
        paths = []
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            path = (*prefix, name)
            if getattr(sub, "invoke_without_command", False) or not hasattr(sub, "commands"):
                paths.append(" ".join(path))
            paths.extend(walk(sub, path))
        return paths

    return walk(typer.main.get_command(app), ())


def test_the_readme_command_table_lists_every_command() -> None:
    # Fails on main: the table listed 13 of the commands.
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    table = readme.split("## CLI", 1)[1].split("Exit codes", 1)[0]
    commands = _command_paths()
    assert len(commands) > 30
    missing = [c for c in commands if f"`parity {c}" not in table and f", `parity {c}" not in table]
    assert missing == []
