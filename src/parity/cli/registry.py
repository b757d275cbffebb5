"""Registry browsing commands: ``list``, ``describe``, ``history``, ``version``."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from parity.cli.render import (
    console,
    print_json,
    render_history,
    render_pins,
    render_records,
)
from parity.registry import ObjectKind
from parity.store import FeatureStore

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


class Listing(enum.StrEnum):
    """What ``parity list`` shows."""

    ALL = "all"
    ENTITIES = "entities"
    VIEWS = "views"
    SERVICES = "services"
    VERSIONS = "versions"


def list_objects(
    ctx: typer.Context,
    what: Annotated[
        Listing, typer.Argument(help="entities, views, services, versions or all")
    ] = Listing.ALL,
    as_json: JsonOption = False,
) -> None:
    """List registered objects (newest version of each), or every version."""
    with FeatureStore(ctx.obj) as store:
        if what is Listing.VERSIONS:
            snap = store.snapshot()
            records = [r for history in snap.versions.values() for r in history]
            groups = {"versions": sorted(records, key=lambda r: (r.kind.value, r.name, r.version))}
        else:
            groups = {}
            if what in (Listing.ALL, Listing.ENTITIES):
                groups["entities"] = store.list_entities()
            if what in (Listing.ALL, Listing.VIEWS):
                groups["views"] = store.list_feature_views()
            if what in (Listing.ALL, Listing.SERVICES):
                groups["services"] = store.list_feature_services()
    if as_json:
        print_json(
            {
                k: [
                    dict(
                        kind=r.kind,
                        name=r.name,
                        version=r.version,
                        state=r.state,
                        fingerprint=r.fingerprint,
                        revision=r.revision,
                    )
                    for r in v
                ]
                for k, v in groups.items()
            }
        )
        return
    for title, records in groups.items():
        render_records(records, title=title.capitalize())


def describe(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME or NAME@vN")],
    as_json: JsonOption = False,
) -> None:
    """Show one version: its state, definition and (for services) pinned features."""
    with FeatureStore(ctx.obj) as store:
        record = store.get_version(ref)
        versions = store.list_versions(record.name, kind=record.kind)
        pins = (
            store.get_service_pins(record.ref) if record.kind is ObjectKind.FEATURE_SERVICE else ()
        )
    if as_json:
        print_json(
            {"record": record, "versions": [(r.version, r.state) for r in versions], "pins": pins}
        )
        return
    console.print(
        f"[bold]{record.kind.label} {record.ref}[/] ({record.state.value}, revision "
        f"{record.revision}, fingerprint {record.fingerprint[:16]})"
    )
    console.print("versions: " + ", ".join(f"v{r.version} {r.state.value}" for r in versions))
    console.print_json(data=dict(record.spec))
    if pins:
        render_pins(pins)


def history(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Object name (default: everything)")] = None,
    limit: Annotated[int, typer.Option(help="Most recent entries to show.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """The audit log: who changed what, when and why."""
    with FeatureStore(ctx.obj) as store:
        entries = store.history(name, limit=limit)
    if as_json:
        print_json(entries)
    else:
        render_history(entries)


def version() -> None:
    """Print parity's version."""
    from parity import __version__

    console.print(f"parity {__version__}")


registry_app = typer.Typer(help="The registry database.", no_args_is_help=True)


@registry_app.command("upgrade")
def upgrade(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Bring the registry database's schema to this parity's revision (also done on open)."""
    with FeatureStore(ctx.obj) as store:
        done = store.upgrade_registry()
    if as_json:
        print_json({"from_revision": done.from_revision, "to_revision": done.to_revision})
    elif done.changed:
        console.print(
            f"registry schema upgraded: {done.from_revision or 'none'} -> {done.to_revision}"
        )
    else:
        console.print(f"registry schema is current ({done.to_revision})")


def register(app: typer.Typer) -> None:
    """Add this group's commands to the app."""
    app.add_typer(registry_app, name="registry")
    app.command("list")(list_objects)
    app.command()(describe)
    app.command()(history)
    app.command()(version)
