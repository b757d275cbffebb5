"""``parity ui``: the web UI (catalog, lineage, freshness, drift, models, quarantine)
and its JSON API, read-only unless a key with the ``admin`` scope signs in."""

from __future__ import annotations

from typing import Annotated

import typer

from parity.cli.render import console


def ui(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 6570,
    admin: Annotated[
        bool,
        typer.Option(
            "--admin",
            help="Development mode (no server.api_keys): let the local user run admin "
            "actions. With keys configured, the signed-in key's scopes decide.",
        ),
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Open the web UI on http://HOST:PORT/ui (Ctrl-C to stop)."""
    import uvicorn

    from parity.serve.ui_app import create_ui_app
    from parity.store import FeatureStore

    store = FeatureStore(ctx.obj)
    app = create_ui_app(store, local_admin=admin, owns_store=True)
    mode = (
        "keys from server.api_keys"
        if store.config.server.api_keys
        else ("development mode, admin actions on" if admin else "development mode, read-only")
    )
    console.print(f"parity UI on http://{host}:{port}/ui ({mode}); API at /api, /openapi.json")
    uvicorn.run(app, host=host, port=port, log_level=log_level)


def register(app: typer.Typer) -> None:
    """Add this group's commands to the app."""
    app.command()(ui)
