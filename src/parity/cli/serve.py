"""``parity serve``: run the feature server; ``parity serve hash-key``: make an API key."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from parity.cli.render import console

serve_app = typer.Typer(
    help="Run the feature server (HTTP): online features, push, health, metrics.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@serve_app.callback()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Interface (default server.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default server.port, 6566).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: one per available core).")
    ] = None,
    tls_certfile: Annotated[Path | None, typer.Option(help="TLS certificate (PEM).")] = None,
    tls_keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the repository's features over HTTP until interrupted (Ctrl-C flushes the log)."""
    if ctx.invoked_subcommand is not None:
        return
    from parity.serve.run import run_server, server_settings

    repo = ctx.obj
    config, count = server_settings(
        repo,
        host=host,
        port=port,
        workers=workers,
        tls_certfile=None if tls_certfile is None else str(tls_certfile),
        tls_keyfile=None if tls_keyfile is None else str(tls_keyfile),
    )
    scheme = "https" if config.tls_certfile else "http"
    console.print(
        f"parity feature server on {scheme}://{config.host}:{config.port} "
        f"({count} worker{'s' if count > 1 else ''}); Ctrl-C to stop."
    )
    run_server(
        repo,
        log_level=log_level,
        host=host,
        port=port,
        workers=count,
        tls_certfile=config.tls_certfile,
        tls_keyfile=config.tls_keyfile,
    )


@serve_app.command("hash-key")
def hash_key(
    name: Annotated[str, typer.Option(help="A name for the key (logs, metrics).")] = "client",
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="read, push or admin (repeatable).")
    ] = None,
    stdin: Annotated[
        bool, typer.Option("--stdin", help="Hash a key read from stdin instead of a new one.")
    ] = False,
) -> None:
    """Print a new API key once, and the hashed entry to add under server.api_keys."""
    from parity.serve.auth import generate_api_key, hash_api_key
    from parity.serve.config import ApiKeyConfig

    key = sys.stdin.readline().strip() if stdin else generate_api_key()
    if not key:
        raise typer.BadParameter("no key on stdin", param_hint="--stdin")
    entry = ApiKeyConfig(name=name, hash=hash_api_key(key), scopes=tuple(scope or ["read"]))
    if not stdin:
        print(f"API key (shown once, give it to the client): {key}")
    scopes = ", ".join(s.value for s in entry.scopes)
    console.print("Add to parity.yaml under server.api_keys:")
    print(f"    - {{name: {entry.name}, hash: '{entry.hash}', scopes: [{scopes}]}}")


def register(app: typer.Typer) -> None:
    """Add this group's commands to the app."""
    app.add_typer(serve_app, name="serve")
