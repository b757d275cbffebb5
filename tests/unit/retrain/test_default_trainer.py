"""The default trainer fits the frames training sets really produce (Arrow -> pandas)."""

from __future__ import annotations

import pyarrow as pa

from parity.retrain.model import default_trainer


def test_default_trainer_one_hot_encodes_arrow_string_columns_with_nulls() -> None:
    # pandas 3 turns Arrow strings into its str dtype, not object: they must still be
    # treated as categories, never handed to the median imputer.
    frame = pa.table(
        {
            "amount": [1.0, 2.0, 30.0, 40.0, 5.0, None, 35.0, 3.0],
            "country": ["fr", "de", None, "us", "fr", "us", "us", "de"],
        }
    ).to_pandas()
    labels = [0, 0, 1, 1, 0, 1, 1, 0]
    estimator = default_trainer(frame, labels)
    encoder = estimator.named_steps["encode"]
    text_columns = dict((name, cols) for name, _, cols in encoder.transformers_)["text"]
    assert text_columns == ["country"]
    assert estimator.predict(frame).tolist() == labels


def test_default_trainer_treats_numeric_columns_as_numbers() -> None:
    frame = pa.table(
        {"count": pa.array([1, 2, 30, 40], pa.int64()), "amount": [1.0, 2.0, 3.0, 4.0]}
    ).to_pandas()
    estimator = default_trainer(frame, [0, 0, 1, 1])
    encoder = estimator.named_steps["encode"]
    numbers = dict((name, cols) for name, _, cols in encoder.transformers_)["numbers"]
    assert numbers == ["count", "amount"]
