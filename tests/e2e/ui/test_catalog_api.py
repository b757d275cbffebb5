"""The JSON API the UI is a client of, over HTTP on ``parity serve``: scopes, shapes,
errors and the OpenAPI document (read-only here; the browser suite makes the promotion)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import BLOCKED_VIEW, UiRepo

pytestmark = pytest.mark.slow


def get(repo: UiRepo, path: str, key: str | None = None, **params: Any) -> httpx.Response:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    return httpx.get(f"{repo.base_url}{path}", params=params, headers=headers, timeout=30.0)


def test_reads_need_a_key_and_actions_need_the_admin_scope(ui_repo: UiRepo) -> None:
    assert get(ui_repo, "/api/catalog").status_code == 401
    me = get(ui_repo, "/api/whoami", ui_repo.read_key).json()
    assert me == {"name": "viewer", "scopes": ["read"], "admin": False}
    assert get(ui_repo, "/api/whoami", ui_repo.admin_key).json()["admin"] is True
    refused = httpx.post(
        f"{ui_repo.base_url}/api/actions",
        json={"action": "retire", "ref": "merchant_risk@v1", "message": "no"},
        headers={"X-API-Key": ui_repo.read_key},
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["type"] == "Forbidden"


def test_an_action_without_a_message_is_refused_and_changes_nothing(ui_repo: UiRepo) -> None:
    answer = httpx.post(
        f"{ui_repo.base_url}/api/actions",
        json={"action": "deprecate", "ref": "user_profile@v1", "message": "  "},
        headers={"Authorization": f"Bearer {ui_repo.admin_key}"},
    )
    assert answer.status_code == 409 and "message" in answer.json()["error"]["message"]
    state = get(ui_repo, "/api/objects/feature_view/user_profile", ui_repo.read_key).json()
    assert state["history"][0]["state"] == "serving"


def test_catalog_diff_lineage_health_and_quarantine_answer_json(ui_repo: UiRepo) -> None:
    key = ui_repo.read_key
    found = get(ui_repo, "/api/catalog", key, q="feature:risk_score").json()
    assert {r["name"] for r in found["results"]} >= {"merchant_risk", "fraud_detection"}
    diff = get(ui_repo, "/api/objects/feature_view/merchant_risk/diff", key, old=1, new=2).json()
    assert diff["change_class"] == "breaking"
    lineage = get(ui_repo, "/api/lineage", key, node="model:fraud_model@v2").json()
    assert "source:data/merchant_risk.parquet" in lineage["upstream"]
    health = get(ui_repo, f"/api/views/{BLOCKED_VIEW}@v1/health", key).json()
    assert health["blocked"]["ref"] == f"{BLOCKED_VIEW}@v1"
    assert health["syncs"][0]["outcome"] == "succeeded"
    assert health["audits"][0]["status"] == "inconsistent"
    rows = get(ui_repo, "/api/quarantine", key, view="merchant_risk").json()["rows"]
    assert rows[0]["reason"] == "join key merchant_id is null"
    model = get(ui_repo, "/api/models/fraud_model", key).json()
    assert model["aliases"]["champion"] == 2
    assert [s["step"] for s in model["runs"][0]["steps"]][:2] == ["build_training_set", "train"]


def test_unknown_names_get_a_did_you_mean(ui_repo: UiRepo) -> None:
    answer = get(ui_repo, "/api/objects/feature_view/merchant_risc", ui_repo.read_key)
    assert answer.status_code == 404
    assert "Did you mean 'merchant_risk'" in answer.json()["error"]["message"]
    assert get(ui_repo, "/api/drift", ui_repo.read_key, window="soon").status_code == 400


def test_the_openapi_document_lists_the_api(ui_repo: UiRepo) -> None:
    document = httpx.get(f"{ui_repo.base_url}/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert {"/api/catalog", "/api/lineage", "/api/actions"} <= set(document["paths"])
