"""The web UI in a real browser: Debian's Chromium driven by Playwright, against
``parity serve`` on a repository built by the real commands (see conftest.py).

Every page is opened, checked with axe-core (no serious or critical violation) and
screenshotted into ``PARITY_UI_ARTIFACTS`` (default: a temporary folder; with
``PARITY_UI_DOCS_SCREENSHOTS=1`` also ``docs/images/ui-*.png``).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import BLOCKED_VIEW, CHROMIUM, UiRepo, require_browser

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
AXE = ROOT / "src/parity/ui/static/vendor/axe-core/axe.min.js"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("PARITY_UI_ARTIFACTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("ui-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def signed_in(browser: Any, repo: UiRepo, key: str) -> Any:
    """A page of a new browser context, signed in with ``key`` through the login form."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{repo.base_url}/ui/catalog")
    assert "/ui/login" in page.url  # keys are configured: a sign-in comes first
    page.get_by_label("API key").fill(key)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert page.url.endswith("/ui/catalog"), page.content()[:2000]
    return page


def check_accessibility(page: Any) -> None:
    """axe-core on the current page: fail on any serious or critical violation."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    details = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in bad
    ]
    assert not bad, f"{page.url}:\n" + "\n".join(details)


def screenshot(page: Any, artifacts: Path, name: str) -> None:
    path = artifacts / f"ui-{name}.png"
    page.screenshot(path=str(path), full_page=False)
    if os.environ.get("PARITY_UI_DOCS_SCREENSHOTS") == "1":
        shutil.copy(path, ROOT / "docs/images" / path.name)


PAGES = (
    ("catalog", "/ui/catalog", "Catalog"),
    ("view", "/ui/objects/feature_view/merchant_risk?old=1&new=2", "merchant_risk"),
    ("service", "/ui/objects/feature_service/fraud_detection", "fraud_detection"),
    ("lineage", "/ui/lineage?node=model%3Afraud_model%40v2", "Lineage"),
    ("health", "/ui/health", "Freshness"),
    ("view-health", f"/ui/views/{BLOCKED_VIEW}@v1/health", "Freshness"),
    ("drift", "/ui/drift", "Drift"),
    ("models", "/ui/models", "Models"),
    ("model", "/ui/models/fraud_model", "fraud_model"),
    ("quarantine", "/ui/quarantine", "Quarantine"),
    ("audit", "/ui/audit", "Audit log"),
)


def test_every_page_renders_accessibly_for_a_reader_without_admin_buttons(
    browser: Any, ui_repo: UiRepo, artifacts: Path
) -> None:
    page = signed_in(browser, ui_repo, ui_repo.read_key)
    for name, path, heading in PAGES:
        page.goto(ui_repo.base_url + path)
        assert heading in page.locator("h1").inner_text(), name
        assert page.locator("form.admin-action").count() == 0, name
        charts = page.locator("figure.chart .vega")
        for i in range(charts.count()):  # every chart drew an SVG
            charts.nth(i).locator("svg").first.wait_for(timeout=10_000)
        check_accessibility(page)
        screenshot(page, artifacts, name)
    assert "(read-only)" in page.locator("header .who").inner_text()


def test_keyboard_reaches_the_skip_link_first_and_it_moves_focus_to_the_content(
    browser: Any, ui_repo: UiRepo
) -> None:
    page = signed_in(browser, ui_repo, ui_repo.read_key)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def catalog_names(page: Any) -> set[str]:
    return set(page.locator("table.catalog tbody tr td:nth-child(2)").all_inner_texts())


def test_search_finds_objects_by_name_owner_tag_and_feature(browser: Any, ui_repo: UiRepo) -> None:
    page = signed_in(browser, ui_repo, ui_repo.read_key)
    for query, expected, absent in (
        ("feature:chargeback", {"merchant_risk", "fraud_detection"}, "user_profile"),
        ("owner:merchant-risk", {"merchant_risk"}, "user_profile"),
        ("tag:team=fraud", {"user_profile", "user_transaction_stats"}, "merchant_risk"),
        ("fraud_model", {"fraud_model"}, "merchant_risk"),
    ):
        page.get_by_label("Search", exact=True).fill(query)
        page.get_by_role("main").get_by_role("button", name="Search").click()
        page.wait_for_load_state()
        names = catalog_names(page)
        assert expected <= names, (query, names)
        assert absent not in names, (query, names)


def test_a_diff_of_two_versions_shows_the_plan_change_classes(
    browser: Any, ui_repo: UiRepo
) -> None:
    page = signed_in(browser, ui_repo, ui_repo.read_key)
    page.goto(f"{ui_repo.base_url}/ui/objects/feature_view/merchant_risk")
    page.get_by_label("From").select_option("1")
    page.get_by_label("To").select_option("2")
    page.get_by_role("button", name="Compare").click()
    diff = page.get_by_role("region", name="Differences")
    diff.wait_for()
    assert "merchant_risk@v1 → merchant_risk@v2: breaking" in diff.inner_text()
    rows = {
        r.locator("td").nth(0).inner_text(): r.locator("td").nth(1).inner_text()
        for r in diff.locator("tbody tr").all()
    }
    assert rows["ttl_seconds"] == "breaking" and rows["owner"] == "metadata"


def test_lineage_leads_from_a_model_to_its_sources_and_back(browser: Any, ui_repo: UiRepo) -> None:
    page = signed_in(browser, ui_repo, ui_repo.read_key)
    page.goto(f"{ui_repo.base_url}/ui/models/fraud_model")
    page.get_by_role("link", name="sources of fraud_model@v2").click()
    upstream = page.locator("li.node.upstream .node-link").all_inner_texts()
    assert "fraud_detection@v1" in upstream and "merchant_risk@v1" in upstream
    assert any(u.endswith("data/merchant_risk.parquet") for u in upstream), upstream
    page.locator("li.node.upstream .node-link", has_text="data/merchant_risk.parquet").click()
    downstream = page.locator("li.node.downstream .node-link").all_inner_texts()
    assert {"merchant_risk@v1", "merchant_risk@v2", "fraud_model@v2"} <= set(downstream)
    assert "fraud_model champion" in downstream


def test_blocked_view_quarantine_and_drift_are_shown(browser: Any, ui_repo: UiRepo) -> None:
    page = signed_in(browser, ui_repo, ui_repo.read_key)
    page.goto(f"{ui_repo.base_url}/ui/health")
    assert f"{BLOCKED_VIEW}@v1 blocked by audit" in page.locator("ul.blocks").inner_text()
    page.goto(f"{ui_repo.base_url}/ui/quarantine?view=merchant_risk")
    assert "join key merchant_id is null" in page.locator("table.quarantine").inner_text()
    page.goto(f"{ui_repo.base_url}/ui/drift")
    text = page.get_by_role("main").inner_text()
    assert re.search(r"[1-9][0-9]* served rows", text), text[:500]
    assert page.locator("figure.chart svg").count() >= 1


def test_an_admin_promotes_with_a_message_that_reaches_the_audit_log(
    browser: Any, ui_repo: UiRepo, artifacts: Path
) -> None:
    refused = httpx.post(
        f"{ui_repo.base_url}/api/actions",
        json={"action": "promote", "ref": "merchant_risk@v2", "message": "not mine to do"},
        headers={"Authorization": f"Bearer {ui_repo.read_key}"},
    )
    assert refused.status_code == 403
    page = signed_in(browser, ui_repo, ui_repo.admin_key)
    page.goto(f"{ui_repo.base_url}/ui/objects/feature_view/merchant_risk")
    assert "admin" in page.locator("header .who").inner_text()
    form = page.locator("form.admin-action[data-action=promote][data-ref='merchant_risk@v2']")
    check_accessibility(page)
    screenshot(page, artifacts, "admin")
    form.get_by_label("Message (why)").fill("validated by the sync; risk team agreed")
    with page.expect_navigation():
        form.get_by_role("button", name="Promote").click()
    row = page.locator("tr#v2")
    assert "serving" in row.locator(".state").inner_text()
    page.goto(f"{ui_repo.base_url}/ui/audit?name=merchant_risk")
    newest = page.locator("table.audit tbody tr").first.inner_text()
    assert "validated by the sync; risk team agreed" in newest
    assert "ui:operator" in newest and "merchant_risk@v2: pending -> serving" in newest


def test_an_admin_unblocks_a_blocked_view_version_with_a_message(
    browser: Any, ui_repo: UiRepo
) -> None:
    page = signed_in(browser, ui_repo, ui_repo.admin_key)
    page.goto(f"{ui_repo.base_url}/ui/views/{BLOCKED_VIEW}@v1/health")
    assert "Blocked from serving" in page.get_by_role("alert").inner_text()
    form = page.locator("form.admin-action[data-action=unblock]")
    form.get_by_label("Message (why)").fill("corrections checked by hand")
    with page.expect_navigation():
        form.get_by_role("button", name="Unblock").click()
    assert page.locator("p.ok").inner_text() == "Not blocked."
