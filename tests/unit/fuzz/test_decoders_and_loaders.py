"""Fuzzing the inputs parity reads from outside: the push and read payload decoders, the
definition loader (``from_dict`` of stored specs) and the config loader. Whatever the
input, the answer is a value or one of parity's own errors (a 4xx at the HTTP edge, a
message in the CLI), never a bare ``KeyError``/``TypeError``/``OverflowError``.
"""

from __future__ import annotations

import contextlib
import json
import string
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parity.config import load_config
from parity.definitions import Entity, FeatureService, FeatureView
from parity.errors import ParityError
from parity.push.request import parse_push_request
from parity.serve.wire import loads_object, parse_feature_request

NAMES = st.text(string.ascii_lowercase + "_", min_size=1, max_size=12)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(NAMES, inner, max_size=4),
    max_leaves=20,
)
PUSH_KEYS = st.sampled_from(
    ["push_source_name", "rows", "df", "to", "push_id", "ignore_unknown_columns", "x"]
)
READ_KEYS = st.sampled_from(
    [
        "feature_service",
        "features",
        "entity_rows",
        "entities",
        "now",
        "deadline_ms",
        "full_feature_names",
        "response_format",
    ]
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _body(keys: Any) -> Any:
    return st.dictionaries(keys, JSON_VALUES, max_size=6).map(
        lambda d: json.dumps(d).encode()
    ) | st.binary(max_size=200)


@FUZZ
@given(_body(PUSH_KEYS))
def test_the_push_decoder_answers_any_body_with_a_request_or_a_parity_error(body: bytes) -> None:
    try:
        request = parse_push_request(loads_object(body, endpoint="/push"), max_rows=50)
    except ParityError:
        return
    assert request.push_source_name and request.rows
    assert request.to in ("online", "offline", "online_and_offline")


@FUZZ
@given(_body(READ_KEYS))
def test_the_read_decoder_answers_any_body_with_a_request_or_a_parity_error(body: bytes) -> None:
    try:
        request = parse_feature_request(body, max_entities=50)
    except ParityError:
        return
    assert (request.feature_service is None) != (request.features is None)
    assert 1 <= len(request.entity_rows) <= 50


SPEC_KEYS = st.sampled_from(
    ["name", "entities", "schema", "source", "ttl", "features", "join_keys", "dtype", "kind"]
)


@FUZZ
@given(st.dictionaries(SPEC_KEYS, JSON_VALUES, max_size=6))
def test_the_definition_loader_refuses_any_malformed_spec_with_a_parity_error(
    spec: dict[str, Any],
) -> None:
    for kind in (Entity, FeatureView, FeatureService):
        with contextlib.suppress(ParityError):
            kind.from_dict(spec)


CONFIG_KEYS = st.sampled_from(
    [
        "project",
        "registry",
        "online_store",
        "offline_store",
        "server",
        "registry_cache_seconds",
        "registry_max_staleness_seconds",
        "sync",
        "type",
    ]
)
CONFIG = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(CONFIG_KEYS, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(CONFIG_KEYS, CONFIG, max_size=5).map(yaml.safe_dump) | st.text(max_size=200))
def test_the_config_loader_answers_any_file_with_a_config_or_a_parity_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "parity.yaml").write_text(text)
        try:
            config = load_config(folder, environ={})
        except ParityError:
            return
        assert config.project
