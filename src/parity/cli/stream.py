"""Stream commands: ``parity stream run VIEW`` and ``parity verify-consistency VIEW``."""

from __future__ import annotations

import dataclasses
import signal
import threading
from typing import Annotated, Any

import typer
from rich.table import Table

from parity.cli.render import console, print_json, print_table
from parity.errors import DefinitionError
from parity.store import FeatureStore

stream_app = typer.Typer(help="Stream processing of aggregation views.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@stream_app.command("run")
def run(
    ctx: typer.Context,
    view: Annotated[str, typer.Argument(help="Aggregation view (NAME or NAME@vN).")],
    stream: Annotated[
        str | None, typer.Option(help="Stream prefix: Redis key or NATS subject.")
    ] = None,
    transport: Annotated[
        str | None, typer.Option(help="A stream transport kind: redis or nats.")
    ] = None,
    url: Annotated[str | None, typer.Option(help="Transport URL.")] = None,
    coordination_url: Annotated[
        str | None, typer.Option(help="Redis for leases and checkpoints.")
    ] = None,
    group: Annotated[str | None, typer.Option(help="Consumer group.")] = None,
    partitions: Annotated[int | None, typer.Option(help="Partitions of the stream.")] = None,
    lateness: Annotated[float | None, typer.Option(help="Allowed lateness, seconds.")] = None,
    checkpoint_every: Annotated[
        float | None, typer.Option(help="Seconds between checkpoints.")
    ] = None,
    offline_appender: Annotated[
        str | None,
        typer.Option(
            help="process: a child process appends the raw events offline; none: an "
            "external `parity stream append-offline` does."
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve /metrics (Prometheus), /healthz and /readyz on this port."),
    ] = None,
    seconds: Annotated[float | None, typer.Option(help="Stop after this long.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Consume events, keep window state, write online values until SIGINT/SIGTERM.

    Settings come from ``stream.<view>`` in parity.yaml; each flag given overrides one.
    SIGTERM drains: the loop stops taking messages, checkpoints, waits for the offline
    appender, releases its partitions and exits.
    """
    from parity.stream import StreamSettings
    from parity.stream.transports import STREAM_TRANSPORTS

    if transport is not None and transport not in STREAM_TRANSPORTS:
        kinds = " or ".join(repr(k) for k in STREAM_TRANSPORTS.kinds)
        raise DefinitionError(f"--transport {transport!r}: use {kinds}.")
    if offline_appender not in (None, "process", "none"):
        raise DefinitionError(
            f"--offline-appender {offline_appender!r}: use 'process' (the default) or 'none'."
        )
    flags = {
        "transport": transport,
        "url": url,
        "coordination_url": coordination_url,
        "stream": stream,
        "group": group,
        "partitions": partitions,
        "allowed_lateness_seconds": lateness,
        "checkpoint_interval_seconds": checkpoint_every,
        "offline_appender": offline_appender,
    }
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with FeatureStore(ctx.obj) as store:
        configured = store.config.stream.get(view.split("@")[0])
        base = configured.model_dump(exclude_unset=True) if configured is not None else {}
        merged = {**base, **{k: v for k, v in flags.items() if v is not None}}
        if "stream" not in merged:
            raise DefinitionError(
                f"stream run {view}: no stream given. Pass --stream or set "
                f"stream.{view.split('@')[0]}.stream in parity.yaml."
            )
        settings = StreamSettings(**merged)
        processor = store.stream_processor(view, settings=settings)
        server = None
        if metrics_port is not None:
            from parity.stream.operator import processor_endpoints

            server = processor_endpoints(processor, port=metrics_port)
        if not as_json:
            console.print(
                f"{view}: consuming {settings.transport} stream {settings.stream!r} as "
                f"{processor.member}"
            )
        try:
            processor.run(stop=stop, max_seconds=seconds)
        finally:
            if server is not None:
                server.shutdown()
    _render(processor.metrics.to_dict(), as_json, title="Stream processor")


@stream_app.command("append-offline")
def append_offline(
    ctx: typer.Context,
    view: Annotated[str, typer.Argument(help="Aggregation view (NAME or NAME@vN).")],
    stream: Annotated[str, typer.Option(help="Stream prefix: Redis key or NATS subject.")],
    coordination_url: Annotated[
        str, typer.Option(help="Redis for leases, checkpoints and spools.")
    ] = "redis://127.0.0.1:6379/0",
    group: Annotated[str | None, typer.Option(help="Consumer group.")] = None,
    partitions: Annotated[int, typer.Option(help="Partitions of the stream.")] = 4,
    seconds: Annotated[float | None, typer.Option(help="Stop after this long.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Append a group's checkpointed raw events to the offline store (a sidecar for
    processors run with --offline-appender none), until SIGINT/SIGTERM."""
    import os
    import socket

    from parity.stream import StreamSettings
    from parity.stream.offline_appender import run_appender

    settings = StreamSettings(
        coordination_url=coordination_url, stream=stream, group=group, partitions=partitions
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if seconds is not None:
        timer = threading.Timer(seconds, stop.set)
        timer.daemon = True
        timer.start()
    member = f"{socket.gethostname()}-{os.getpid()}-appender"
    with FeatureStore(ctx.obj) as store:
        job = store.offline_appender_job(view, settings=settings, member=member)
    if not as_json:
        console.print(f"{view}: appending the spools of {job.prefix!r} as {member}")
    done = run_appender(dataclasses.replace(job, niceness=0), stop)
    _render({"member": member, "prefix": job.prefix, **done}, as_json, title="Offline appender")


def verify_consistency(
    ctx: typer.Context,
    view: Annotated[str, typer.Argument(help="Aggregation view (NAME or NAME@vN).")],
    instants: Annotated[int, typer.Option(help="Replay stops to compare at.")] = 5,
    samples: Annotated[int, typer.Option(help="Entities compared in total.")] = 200,
    as_json: JsonOption = False,
) -> None:
    """Replay the view's event log through the stream state and compare with offline values;
    then compare the online store's values with offline at their own instants."""
    with FeatureStore(ctx.obj) as store:
        verified = store.verify_stream_consistency(view, instants=instants, samples=samples)
    results = verified.to_dict()
    ok = verified.ok
    _render(results, as_json, title=f"Consistency of {results['view']}")
    if not ok:
        raise typer.Exit(1)


def _render(data: dict[str, Any], as_json: bool, *, title: str) -> None:
    if as_json:
        print_json(data)
        return
    table = Table(title=title)
    table.add_column("check")
    table.add_column("value")
    for name, value in data.items():
        table.add_row(name, str(value))
    print_table(table)


def register(app: typer.Typer) -> None:
    """Add this group's commands to the app."""
    app.add_typer(stream_app, name="stream")
    app.command("verify-consistency")(verify_consistency)
