"""What a retraining run works with: the feature access, the model, the registries, a clock.

Also the two small readers every step shares: the label rows of a model and the
train/holdout split of a saved training set.

Example:
    >>> ctx = RunContext(store.retraining, model, registry, ledger, alerts,  # doctest: +SKIP
    ...                  run_id="r1")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity.definitions.repo_files import import_definitions
from parity.retrain.errors import LabelsMissing, ModelNotFound
from parity.retrain.model import Model

if TYPE_CHECKING:
    import pandas as pd

    from parity.retrain.alerts import AlertSink
    from parity.retrain.features import FeatureAccess
    from parity.retrain.ledger import Ledger
    from parity.retrain.registries.base import ModelRegistry

Clock = Callable[[], datetime]
"""Returns "now" (UTC); tests inject a controlled one."""


def system_clock() -> datetime:
    """The wall clock in UTC.

    Example:
        >>> system_clock().tzinfo
        datetime.timezone.utc
    """
    return datetime.now(UTC)


@dataclass
class RunContext:
    """One run's collaborators and the outputs of the steps done so far.

    Example:
        >>> ctx.outputs["build_training_set"]["dataset"]  # doctest: +SKIP
        'fraud_model__r1'
    """

    features: FeatureAccess
    model: Model
    registry: ModelRegistry
    ledger: Ledger
    alerts: AlertSink
    run_id: str
    clock: Clock = system_clock
    trigger: str = "manual"
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        """Scratch folder of this run (candidate artifact, holdout scores)."""
        path = self.features.storage.models_root / "_runs" / self.model.name / self.run_id
        path.mkdir(parents=True, exist_ok=True)
        return path


def read_labels(
    features: FeatureAccess, model: Model, *, until: datetime | None = None
) -> pd.DataFrame:
    """The model's label rows (keys, timestamp, request features, label), labelled only.

    Raises :class:`LabelsMissing` when no labelled row exists (labels not arrived yet).

    Example:
        >>> read_labels(store.retraining, model).columns.tolist()  # doctest: +SKIP
        ['user_id', 'merchant_id', 'event_timestamp', 'amount', 'is_fraud']
    """
    import pandas as pd

    src = model.labels
    path = Path(src.path)
    path = path if path.is_absolute() else features.repo_root / path
    columns = [*src.entity_keys, src.timestamp_column, *src.request_features, src.label_column]
    if path.is_dir():
        from deltalake import DeltaTable

        frame = DeltaTable(str(path)).to_pandas(columns=columns)
    elif path.is_file():
        frame = pd.read_parquet(path, columns=columns)
    else:
        raise LabelsMissing(
            f"Model {model.name!r}: label source {str(path)!r} does not exist yet. Labels are "
            "written there when they arrive; the run can be resumed with the same run id."
        )
    frame = frame[frame[src.label_column].notna()]
    if until is not None:
        frame = frame[frame[src.timestamp_column] < pd.Timestamp(until)]
    if frame.empty or frame[src.label_column].nunique() < 2:
        raise LabelsMissing(
            f"Model {model.name!r}: {str(path)!r} has {len(frame)} labelled rows with "
            f"{frame[src.label_column].nunique()} distinct label values; training needs both "
            "classes. Wait for labels to arrive, then resume the run."
        )
    return frame.sort_values(src.timestamp_column, kind="stable").reset_index(drop=True)


def arrow_frame(frame: pd.DataFrame) -> Any:
    """``frame`` as an Arrow table, tz-aware timestamps kept as UTC microseconds.

    Built column by column: ``Table.from_pandas`` goes through ``Series.values``, which
    pandas 3.1 deprecates for tz-aware columns (a warning, an error under our tests).

    Example:
        >>> import pandas as pd
        >>> t = arrow_frame(pd.DataFrame({"t": pd.to_datetime(["2026-01-01"], utc=True)}))
        >>> str(t.schema.field("t").type)
        'timestamp[us, tz=UTC]'
    """
    import pandas as pd
    import pyarrow as pa

    columns = {}
    for name in frame.columns:
        series = frame[name]
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            naive = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
            columns[str(name)] = pa.array(naive, type=pa.timestamp("us", tz="UTC"))
        else:
            columns[str(name)] = pa.array(series.to_numpy(), from_pandas=True)
    return pa.table(columns)


def feature_matrix(
    frame: pd.DataFrame, feature_names: tuple[str, ...], text_features: tuple[str, ...]
) -> pd.DataFrame:
    """The model's input columns in canonical order: text as str ('' for null), numbers as float.

    The column kinds come from the definitions, not from the values, so a serving row whose
    numeric feature is null reaches the model exactly as a null did in training (NaN).

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"b": [None], "a": ["x"]})
        >>> feature_matrix(frame, ("a", "b"), ("a",)).dtypes.astype(str).tolist()
        ['object', 'float64']
    """
    import pandas as pd

    out = frame.loc[:, list(feature_names)].copy()
    for column in out.columns:
        if column in text_features:
            out[column] = out[column].astype(object).where(out[column].notna(), "")
        else:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    return out


def load_models(repo_path: Path) -> dict[str, Model]:
    """Every :class:`Model` defined at module level in the repository's definition files,
    loaded as ``parity apply`` loads definitions (files may import each other;
    ``.parityignore`` applies).

    Example:
        >>> import tempfile
        >>> repo = Path(tempfile.mkdtemp())
        >>> _ = (repo / "models.py").write_text(
        ...     "from parity.retrain.model import LabelSource, Model\\n"
        ...     "churn = Model('churn', feature_service='churn_features@v2',\\n"
        ...     "              labels=LabelSource('churn.parquet', entity_keys=('user_id',)))")
        >>> sorted(load_models(repo))
        ['churn']
    """
    found: dict[str, Model] = {}
    root = Path(repo_path).resolve()
    for value, _file in import_definitions(root, (Model,), prefix="parity_models_"):
        if isinstance(value, Model):
            found[value.name] = value
    return found


def find_model(repo_path: Path, name: str) -> Model:
    """The model called ``name`` in the repository, with a "did you mean" on a miss."""
    from parity.errors import did_you_mean

    models = load_models(repo_path)
    if name not in models:
        raise ModelNotFound(
            f"No model {name!r} in {repo_path}. Define parity.retrain.Model({name!r}, ...) in a "
            f"*.py file of the repository.{did_you_mean(name, models)} Known: {sorted(models)}."
        )
    return models[name]
