"""Loading a feature repository: files are imported, definitions validated together."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from parity import Entity, FeatureService, FeatureView, Field, Float64, Int64, ParquetSource
from parity.definitions import RepoContents, load_repo
from parity.errors import DefinitionError, ParityError, RepoImportError

HEADER = """\
from datetime import timedelta

from parity import (
    Entity, FeatureService, FeatureView, Field, Float64, Int64, ParquetSource, String,
)

user = Entity("user", join_keys=[Field("user_id", Int64)])
"""

STATS = (
    HEADER
    + """
stats = FeatureView(
    "stats",
    entities=[user],
    schema=[Field("spend", Float64), Field("count", Int64)],
    source=ParquetSource("data/stats.parquet"),
)
"""
)

PROFILE = (
    HEADER
    + """
profile = FeatureView(
    "profile",
    entities=[user],
    schema=[Field("spend", Float64), Field("country", String)],
    source=ParquetSource("data/profile.parquet"),
)
"""
)


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def _load_error(root: Path, files: dict[str, str]) -> str:
    with pytest.raises(ParityError) as info:
        load_repo(_write(root, files))
    return str(info.value)


def test_load_repo_collects_definitions_from_every_file(tmp_path: Path) -> None:
    service = 'svc = FeatureService("svc", features=["stats:spend", "profile:country"])\n'
    repo = load_repo(
        _write(
            tmp_path, {"stats.py": STATS, "profile.py": PROFILE, "services.py": HEADER + service}
        )
    )
    assert sorted(repo.entities) == ["user"]
    assert sorted(repo.views) == ["profile", "stats"]
    assert sorted(repo.services) == ["svc"]
    assert repo.origins["feature_view:stats"] == "stats.py"
    assert repo.origins["feature_service:svc"] == "services.py"
    # The same entity defined identically in several files is one entity.
    assert repo.origins["entity:user"] in {"profile.py", "services.py", "stats.py"}


def test_load_repo_reads_subfolders_and_skips_data_hidden_and_virtualenv_folders(
    tmp_path: Path,
) -> None:
    broken = "raise RuntimeError('must not be imported')\n"
    files = {
        "features/stats.py": STATS,
        "data/generate.py": broken,
        ".hidden/x.py": broken,
        ".venv/lib/y.py": broken,
        "venv/z.py": broken,
        "__pycache__/w.py": broken,
    }
    repo = load_repo(_write(tmp_path, files))
    assert repo.origins["feature_view:stats"] == "features/stats.py"


def test_definition_files_may_import_each_other(tmp_path: Path) -> None:
    files = {
        "entities_for_import_test.py": HEADER,
        "views.py": """
            from entities_for_import_test import user
            from parity import FeatureView, Field, Float64, ParquetSource
            v = FeatureView("v", entities=[user], schema=[Field("x", Float64)],
                            source=ParquetSource("p"))
        """,
    }
    repo = load_repo(_write(tmp_path, files))
    assert sorted(repo.views) == ["v"]


def test_modules_a_repository_imports_do_not_leak_into_the_next_load(tmp_path: Path) -> None:
    def repo(folder: str, dtype: str) -> Path:
        common = HEADER.replace('Field("user_id", Int64)', f'Field("user_id", {dtype})')
        views = """
            from shared_for_leak_test import user
            from parity import FeatureView, Field, Float64, ParquetSource
            v = FeatureView("v", entities=[user], schema=[Field("x", Float64)],
                            source=ParquetSource("p"))
        """
        root = tmp_path / folder
        return _write(root, {"shared_for_leak_test.py": common, "views.py": views})

    first, second = repo("first", "Int64"), repo("second", "String")
    assert load_repo(first).views["v"].join_keys == ("user_id",)
    key = load_repo(second).views["v"].entities[0].join_keys[0]
    assert key.dtype.name == "string"
    assert "shared_for_leak_test" not in sys.modules


def test_a_repository_path_must_be_a_folder(tmp_path: Path) -> None:
    with pytest.raises(RepoImportError, match=r"Feature repository '.*nope' is not a folder\."):
        load_repo(tmp_path / "nope")


def test_an_empty_repository_has_no_definitions(tmp_path: Path) -> None:
    repo = load_repo(tmp_path)
    assert (repo.entities, repo.views, repo.services) == ({}, {}, {})


def test_load_repo_leaves_sys_path_as_it_was(tmp_path: Path) -> None:
    before = list(sys.path)
    load_repo(_write(tmp_path, {"stats.py": STATS}))
    assert sys.path == before


def test_duplicate_view_names_across_files_name_both_files(tmp_path: Path) -> None:
    other = STATS.replace('Field("count", Int64)', 'Field("count", Float64)')
    message = _load_error(tmp_path, {"a.py": STATS, "b.py": other})
    assert message == (
        "Duplicate feature view name 'stats': two different definitions (in a.py and b.py). "
        "Names must be unique per kind; rename one of them."
    )


def test_duplicate_entity_names_with_different_keys_are_refused(tmp_path: Path) -> None:
    other = HEADER.replace('Field("user_id", Int64)', 'Field("user_id", String)')
    message = _load_error(tmp_path, {"a.py": HEADER, "b.py": other})
    assert message.startswith("Duplicate entity name 'user': two different definitions")
    assert "(in a.py and b.py)" in message


def test_duplicate_service_names_are_refused(tmp_path: Path) -> None:
    files = {
        "stats.py": STATS,
        "a.py": HEADER + 'svc = FeatureService("svc", features=["stats:spend"])\n',
        "b.py": HEADER + 'svc = FeatureService("svc", features=["stats:count"])\n',
    }
    assert _load_error(tmp_path, files).startswith("Duplicate feature service name 'svc'")


def test_unknown_view_in_a_service_suggests_the_closest(tmp_path: Path) -> None:
    files = {
        "stats.py": STATS,
        "svc.py": HEADER + 'svc = FeatureService("svc", features=["stast"])\n',
    }
    assert _load_error(tmp_path, files) == (
        "FeatureService 'svc' references unknown feature view 'stast'. Did you mean 'stats'? "
        "Known views: stats."
    )


def test_unknown_feature_in_a_service_suggests_the_closest(tmp_path: Path) -> None:
    files = {
        "stats.py": STATS,
        "svc.py": HEADER + 'svc = FeatureService("s", features=["stats:spnd"])\n',
    }
    message = _load_error(tmp_path, files)
    assert message.startswith("FeatureView 'stats' has no feature 'spnd'. Did you mean 'spend'?")


def test_feature_name_collision_in_a_service_names_both_views(tmp_path: Path) -> None:
    service = 'svc = FeatureService("svc", features=["stats", "profile"])\n'
    files = {"stats.py": STATS, "profile.py": PROFILE, "svc.py": HEADER + service}
    assert _load_error(tmp_path, files) == (
        "FeatureService 'svc': feature name 'spend' comes from both 'stats' and 'profile'. "
        "Select only one of them, or set full_feature_names=True on the service."
    )


def test_full_feature_names_resolve_a_collision(tmp_path: Path) -> None:
    service = (
        'svc = FeatureService("svc", features=["stats", "profile"], full_feature_names=True)\n'
    )
    files = {"stats.py": STATS, "profile.py": PROFILE, "svc.py": HEADER + service}
    repo = load_repo(_write(tmp_path, files))
    assert repo.services["svc"].full_feature_names is True


def test_selecting_only_one_of_the_colliding_features_resolves_a_collision(
    tmp_path: Path,
) -> None:
    service = 'svc = FeatureService("svc", features=["stats", "profile:country"])\n'
    files = {"stats.py": STATS, "profile.py": PROFILE, "svc.py": HEADER + service}
    assert sorted(load_repo(_write(tmp_path, files)).services) == ["svc"]


def test_a_pinned_older_version_is_checked_at_apply_not_against_the_repo(
    tmp_path: Path,
) -> None:
    service = 'svc = FeatureService("svc", features=["stats@v1:renamed_since"])\n'
    files = {"stats.py": STATS, "svc.py": HEADER + service}
    assert sorted(load_repo(_write(tmp_path, files)).services) == ["svc"]


def test_a_failing_definition_file_shows_file_and_line(tmp_path: Path) -> None:
    files = {"stats.py": STATS, "broken.py": "import os\n\nx = 1\nraise RuntimeError('boom')\n"}
    with pytest.raises(RepoImportError) as info:
        load_repo(_write(tmp_path, files))
    assert str(info.value) == (
        "broken.py:4: importing the definition file failed: RuntimeError: boom"
    )
    assert isinstance(info.value.__cause__, RuntimeError)


def test_an_invalid_definition_shows_file_line_and_the_definition_error(tmp_path: Path) -> None:
    text = HEADER + '\n\nbad = Field("amount", Float64, min_value="0")\n'
    line = text.count("\n")
    with pytest.raises(RepoImportError) as info:
        load_repo(_write(tmp_path, {"features/bad.py": text}))
    assert str(info.value) == (
        f"features/bad.py:{line}: importing the definition file failed: DefinitionError: "
        "Field 'amount'.min_value: expected a number, got '0'."
    )


def test_an_error_raised_in_a_helper_points_at_the_definition_file_line(tmp_path: Path) -> None:
    files = {
        "helper_for_line_test.py": "def make():\n    raise ValueError('bad helper')\n",
        "features.py": "import helper_for_line_test\n\n\nhelper_for_line_test.make()\n",
    }
    message = _load_error(tmp_path, files)
    assert message.startswith("features.py:4: importing the definition file failed: ValueError")


def test_a_syntax_error_shows_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(RepoImportError) as info:
        load_repo(_write(tmp_path, {"features.py": "x = 1\n\ndef f(:\n    pass\n"}))
    assert str(info.value) == (
        "features.py:3: syntax error: invalid syntax. Fix the file and run the command again."
    )


def test_repo_import_errors_are_parity_errors() -> None:
    assert issubclass(RepoImportError, ParityError)


def test_build_accepts_objects_and_collects_nested_definitions() -> None:
    user = Entity("user", join_keys=[Field("user_id", Int64)])
    view = FeatureView(
        "v", entities=[user], schema=[Field("x", Float64)], source=ParquetSource("p")
    )
    repo = RepoContents.build([FeatureService("svc", features=[view])])
    assert repo.views == {"v": view}
    assert repo.entities == {"user": user}
    assert repo.origins == {
        "entity:user": "<api>",
        "feature_view:v": "<api>",
        "feature_service:svc": "<api>",
    }


def test_build_refuses_objects_that_are_not_definitions() -> None:
    with pytest.raises(
        DefinitionError, match="'x' is not an Entity, FeatureView or FeatureService"
    ):
        RepoContents.build(["x"])  # type: ignore[list-item]


def test_build_reports_an_unknown_view_when_there_are_none() -> None:
    with pytest.raises(DefinitionError, match=r"unknown feature view 'v'\. Known views: none\."):
        RepoContents.build([FeatureService("svc", features=["v"])])


def test_files_listed_in_parityignore_are_not_imported(tmp_path: Path) -> None:
    broken = "raise RuntimeError('must not be imported')\n"
    files = {
        "stats.py": STATS,
        "scripts/backfill.py": broken,
        "tools/deep/report.py": broken,
        "check_stats.py": broken,
        ".parityignore": "# helpers, not definitions\nscripts/\ntools/deep\ncheck_*.py\n",
    }
    repo = load_repo(_write(tmp_path, files))
    assert sorted(repo.views) == ["stats"]


def test_a_file_that_applies_the_repository_is_refused_once_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fails on the loader before .parityignore: the helper recursed until RecursionError.
    helper = "from parity import FeatureStore\n\n\nFeatureStore('.').apply(message='all')\n"
    files = {"stats.py": STATS, "apply_all.py": helper}
    root = _write(tmp_path, files)
    (root / "parity.yaml").write_text("project: reentry\n")
    monkeypatch.chdir(root)
    with pytest.raises(RepoImportError) as info:
        load_repo(root)
    assert str(info.value) == (
        "apply_all.py:4: this file loads the feature repository when imported, and it is "
        "itself in the repository. Move it out of the repository folder or list it in "
        ".parityignore."
    )
    assert info.value.__cause__ is None
    assert not isinstance(info.value.__context__, RecursionError)
    # Listing it in .parityignore makes the repository load.
    (root / ".parityignore").write_text("apply_all.py\n")
    assert sorted(load_repo(root).views) == ["stats"]
