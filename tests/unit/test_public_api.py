"""The public surface: exactly the names in ``parity.__all__``, and a light import."""

from __future__ import annotations

import subprocess
import sys

import parity

EXPECTED = {
    "Array",
    "Bool",
    "Aggregation",
    "Bytes",
    "Client",
    "LabelSource",
    "Model",
    "RetrainPolicy",
    "RowTransform",
    "TimeSplit",
    "DType",
    "DeltaSource",
    "Entity",
    "FeatureSelection",
    "FeatureService",
    "FeatureStore",
    "FeatureView",
    "Field",
    "Float32",
    "Float64",
    "FreshnessPolicy",
    "Int32",
    "Int64",
    "ParityError",
    "ParquetSource",
    "PushSource",
    "PushIdConflict",
    "PostgresCDCSource",
    "MySQLCDCSource",
    "ServingBlocked",
    "TransformFailed",
    "TransformUnavailable",
    "String",
    "Timestamp",
    "Vector",
    "__version__",
}


def test_exported_names_are_exactly_the_public_api() -> None:
    assert set(parity.__all__) == EXPECTED
    for name in parity.__all__:
        assert hasattr(parity, name), name


def test_public_names_have_docstrings() -> None:
    for name in parity.__all__:
        obj = getattr(parity, name)
        if callable(obj) and not isinstance(obj, parity.DType):
            assert (obj.__doc__ or "").strip(), f"{name} has no docstring"


def test_import_parity_does_not_import_heavy_backends() -> None:
    code = (
        "import sys, parity; "
        "heavy = ('redis', 'pyspark', 'mlflow', 'psycopg', 'nats', 'sklearn', 'starlette', "
        "'psycopg2', 'pymysql', 'pymysqlreplication'); "
        "heavy = [m for m in heavy if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
