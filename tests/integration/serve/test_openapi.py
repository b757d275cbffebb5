"""The OpenAPI document against a live server: schemathesis generates requests from it
(valid and invalid, both request shapes) and every answer must be a non-5xx response that
matches the document. Bounded: 150 examples per operation, at most 5 minutes in all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from parity import FeatureStore

from .conftest import build_repo, serve

EXAMPLES = 150
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root: Path = tmp_path_factory.mktemp("openapi") / "repo"
    store: FeatureStore = build_repo(root)
    with serve(store) as server:
        yield server
    store.close()


@pytest.fixture(scope="module")
def api_schema(live: Any) -> Any:
    return schemathesis.openapi.from_url(f"{live.url}/openapi.json")


# The feature server's own operations; the web UI's /api routes are in the same document
# and tested by their own suite.
schema = schemathesis.pytest.from_fixture("api_schema").exclude(path_regex="^/api/")


def test_the_document_is_openapi_3_1_and_names_every_route(live: Any) -> None:
    document = httpx.get(f"{live.url}/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert {path for path in document["paths"] if not path.startswith("/api/")} == {
        "/get-online-features",
        "/push",
        "/predict",
        "/health",
        "/ready",
        "/metrics",
        "/registry/views",
        "/registry/views/{name}",
        "/registry/services",
        "/openapi.json",
    }
    assert any(path.startswith("/api/") for path in document["paths"])  # one document
    read = document["components"]["schemas"]["ReadRequest"]["oneOf"]
    assert {tuple(shape["required"]) for shape in read} == {("entity_rows",), ("entities",)}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
@pytest.mark.timeout(300)
def test_every_answer_is_documented_and_never_a_server_error(case: Any, live: Any) -> None:
    response = case.call(base_url=live.url, timeout=30)
    case.validate_response(response, checks=CHECKS)
