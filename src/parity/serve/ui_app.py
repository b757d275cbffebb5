"""The standalone UI application of ``parity ui``: the pages and the JSON API, nothing
else (``parity serve`` mounts the same routes beside the feature server's).

Example:
    >>> app = create_ui_app(FeatureStore("my_repo"))  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=6570)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from parity.serve.auth import ApiKeys
from parity.serve.catalog_api import CatalogApi, UiAuth
from parity.serve.ui_pages import UiPages
from parity.store import FeatureStore
from parity.ui.console import Console


def ui_routes(console: Console, auth: UiAuth) -> list[BaseRoute]:
    """The JSON API's routes (``/api/...``, ``/openapi.json``) and the pages (``/ui/...``).

    Example:
        >>> routes = ui_routes(Console(store), UiAuth(ApiKeys([])))  # doctest: +SKIP
    """
    return [*CatalogApi(console, auth).routes(), *UiPages(console, auth).routes()]


def create_ui_app(
    store: FeatureStore, *, local_admin: bool = False, owns_store: bool = False
) -> Starlette:
    """The UI for ``store``, with the repository's ``server.api_keys``.

    ``local_admin`` lets a caller without a key act in development mode (no key
    configured); otherwise that caller only reads.

    Example:
        >>> app = create_ui_app(FeatureStore("my_repo"), local_admin=True)  # doctest: +SKIP
    """
    console = Console(store)
    auth = UiAuth(ApiKeys(store.config.server.api_keys), local_admin=local_admin)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            console.close()
            if owns_store:
                store.close()

    return Starlette(routes=ui_routes(console, auth), lifespan=lifespan)
