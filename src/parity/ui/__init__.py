"""The web UI's reading side: the catalog index and search, lineage, charts and the
:class:`~parity.ui.console.Console` every page and API call reads through, plus the
templates and static files (:data:`ASSETS`).

This package holds no HTTP code and never imports :mod:`parity.serve`: the pages
(``serve/ui_pages.py``), the JSON API (``serve/catalog_api.py``) and the standalone app of
``parity ui`` (``serve/ui_app.py``) live in the HTTP adapter, which imports this package.
Nothing here is imported by ``import parity``. See docs/ui.md.

Example:
    >>> from parity.ui.catalog import parse_query
    >>> parse_query("owner:fraud")
    [('owner', 'fraud')]
"""

from __future__ import annotations

from pathlib import Path

#: The folder holding ``templates/`` (Jinja2) and ``static/`` (CSS, JS, vendored charts).
ASSETS = Path(__file__).parent
