"""Change data capture commands: ``parity cdc run SOURCE``."""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Any

import typer

from parity.cli.render import console, print_json
from parity.definitions.source import CDCSource, MySQLCDCSource, PostgresCDCSource
from parity.errors import DefinitionError, did_you_mean
from parity.store import FeatureStore

cdc_app = typer.Typer(
    help="Change data capture from PostgreSQL and MySQL/MariaDB.", no_args_is_help=True
)


def _source(store: FeatureStore, name: str) -> CDCSource:
    """The CDC source ``name`` of a registered view."""
    found: dict[str, CDCSource] = {}
    for record in store.list_feature_views():
        view = store.get_feature_view(f"{record.name}@v{record.version}")
        if isinstance(view.source, CDCSource):
            found.setdefault(view.source.name, view.source)
    if name not in found:
        raise DefinitionError(
            f"No registered view reads the CDC source {name!r}.{did_you_mean(name, found)} "
            f"Known: {', '.join(sorted(found)) or 'none'} (apply a view with it first)."
        )
    return found[name]


def _capture(store: FeatureStore, name: str, overrides: dict[str, Any]) -> Any:
    from parity.cdc.config import CaptureSettings

    source = _source(store, name)
    configured = store.config.cdc.get(name)
    base = configured.model_dump(exclude_unset=True) if configured is not None else {}
    merged = {**base, **{k: v for k, v in overrides.items() if v is not None}}
    merged.setdefault("stream", name)
    if "dsn" not in merged:
        raise DefinitionError(
            f"cdc run {name}: no database given. Pass --dsn or set cdc.{name}.dsn in parity.yaml "
            f"(or PARITY__CDC__{name.upper()}__DSN)."
        )
    settings = CaptureSettings(**merged)
    if isinstance(source, PostgresCDCSource):
        from parity.cdc.postgres import PostgresCapture

        return PostgresCapture(source, project=store.project, settings=settings)
    from parity.cdc.mysql import MySQLCapture

    assert isinstance(source, MySQLCDCSource)
    return MySQLCapture(source, project=store.project, settings=settings)


@cdc_app.command("run")
def run(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="CDC source name.")],
    dsn: Annotated[
        str | None, typer.Option(help="Database URL (postgresql:// or mysql://).")
    ] = None,
    stream: Annotated[
        str | None, typer.Option(help="Stream prefix the processors consume.")
    ] = None,
    transport: Annotated[str | None, typer.Option(help="redis or nats.")] = None,
    url: Annotated[str | None, typer.Option(help="Transport URL.")] = None,
    partitions: Annotated[int | None, typer.Option(help="Partitions of the stream.")] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve /metrics, /healthz and /readyz on this port.")
    ] = None,
    seconds: Annotated[float | None, typer.Option(help="Stop after this long.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Check the database, take the initial snapshot (first start), then publish every
    committed change until SIGINT/SIGTERM. Settings come from ``cdc.<source>`` in
    parity.yaml; each flag given overrides one."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with FeatureStore(ctx.obj) as store:
        capture = _capture(
            store,
            source,
            {
                "dsn": dsn,
                "stream": stream,
                "transport": transport,
                "url": url,
                "partitions": partitions,
            },
        )
    capture.check()
    server = None
    if metrics_port is not None:
        from parity.stream.operator import render_metrics, serve_operator_endpoints

        server = serve_operator_endpoints(
            metrics_port,
            metrics=lambda: render_metrics(
                "parity_cdc",
                {k: v for k, v in capture.metrics.to_dict().items() if not isinstance(v, str)},
            ),
            ready=capture.streaming.is_set,
        )
    if not as_json:
        console.print(f"{source}: capturing into stream {capture.settings.stream!r}")
    try:
        capture.run(stop=stop, max_seconds=seconds)
    finally:
        if server is not None:
            server.shutdown()
    data = capture.metrics.to_dict()
    if as_json:
        print_json(data)
    else:
        for key, value in data.items():
            console.print(f"{key}: {value}")


def register(app: typer.Typer) -> None:
    """Add this group's commands to the app."""
    app.add_typer(cdc_app, name="cdc")
