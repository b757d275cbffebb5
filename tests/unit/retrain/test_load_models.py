"""Models are loaded from the repository as ``parity apply`` loads definitions."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from parity.errors import RepoImportError
from parity.retrain.context import find_model, load_models

FEATURES = """\
from parity import Entity, Field, Int64

user = Entity("user", join_keys=[Field("user_id", Int64)])
LABELS = "labels.parquet"
"""

MODELS = """\
from features import LABELS, user
from parity.retrain.model import LabelSource, Model

churn = Model(
    "churn",
    feature_service="churn_features@v1",
    labels=LabelSource(LABELS, entity_keys=tuple(k.name for k in user.join_keys)),
)
"""


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_a_model_file_may_import_another_definition_file(tmp_path: Path) -> None:
    # Fails before models were loaded like definitions: a raw ModuleNotFoundError 'features'.
    root = _write(tmp_path, {"features.py": FEATURES, "models.py": MODELS})
    model = find_model(root, "churn")
    assert model.labels.entity_keys == ("user_id",)
    assert model.labels.path == "labels.parquet"


def test_models_follow_parityignore_and_subfolders(tmp_path: Path) -> None:
    files = {
        "features.py": FEATURES,
        "models/churn.py": MODELS,
        "scripts/train_now.py": "raise RuntimeError('a script, not a definition')\n",
        ".parityignore": "scripts/\n",
    }
    assert sorted(load_models(_write(tmp_path, files))) == ["churn"]


def test_a_failing_model_file_names_its_file_and_line(tmp_path: Path) -> None:
    files = {"models.py": "x = 1\nfrom nowhere_to_be_found import thing\n"}
    with pytest.raises(RepoImportError) as info:
        load_models(_write(tmp_path, files))
    assert str(info.value) == (
        "models.py:2: importing the definition file failed: ModuleNotFoundError: "
        "No module named 'nowhere_to_be_found'"
    )
