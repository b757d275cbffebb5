"""The web UI: ``parity ui`` (and ``/ui`` of ``parity serve``) over the JSON API.

Nothing here is imported by ``import parity``: the server-side modules (Starlette,
Jinja2) load only when a UI is started. See docs/ui.md.

Example:
    >>> from parity.ui.catalog import parse_query
    >>> parse_query("owner:fraud")
    [('owner', 'fraud')]
"""

from __future__ import annotations
