"""The estate commands: ``inventory refresh|import|show|apply``, ``networks``, ``ip-ranges``
and ``who``; and ``--geo`` (the country and ASN data) for every command that names addresses.

Each parses its options, calls one function of :mod:`flowscope.estate.refresh` and renders the
result. Write commands report on stderr (like ``ingest``); ``show`` and ``who`` print a table
on stdout, or ``--json`` (what the API answers in ``data``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flowscope import settings
from flowscope.commands.common import JsonOpt, StoreOpt, err, option, out, print_data, store_url
from flowscope.errors import UsageError
from flowscope.times import TIME_HELP, parse_time

GeoOpt = Annotated[str | None, option(settings.GEO, show_default=False)]
NoApplyOpt = Annotated[
    bool,
    typer.Option(
        "--no-apply",
        help="Only save it: do not name the flows already stored again now "
        "(run `flowscope inventory apply` later).",
    ),
]
RegionsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--region", help="AWS region to read; repeatable (default: AWS_REGION / the profile)."
    ),
]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", help="AWS profile (default: the standard chain).")
]
RoleOpt = Annotated[
    str | None,
    typer.Option("--role-arn", help="Read another account through this role (sts:AssumeRole)."),
]
ExternalIdOpt = Annotated[
    str | None, typer.Option("--external-id", help="The external id the role asks for.")
]


def use_geo(value: str | None, check: bool = True) -> None:
    """Take ``--geo`` (or ``FLOWSCOPE_GEO``) for this process, and (``check``) open the
    databases it names now, so a missing or corrupt one is an error before anything is read or
    saved. (The embedded default is opened when first needed.)"""
    from flowscope.estate.store import geo_from_setting

    if value is not None:
        os.environ[settings.GEO.env] = value
    chosen = settings.GEO.get().strip()
    if check and chosen and chosen.lower() != "off":
        geo_from_setting()


def _store(store: str | None) -> Any:
    from flowscope.engines import open_store
    from flowscope.estate.refresh import estate_store

    return estate_store(open_store(store_url(store)))


@contextmanager
def _naming() -> Iterator[Callable[[int], None]]:
    """A progress bar (on a terminal) for naming the stored flows."""
    with Progress(
        TextColumn("naming stored flows"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} flows"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("naming", total=None)
        yield lambda n: bar.advance(task, n)


def _said_named(named: int | None, why_not: str = "") -> None:
    if named is not None:
        err.print(f"named {named:,} stored flows", highlight=False)
    elif why_not:
        err.print(why_not, highlight=False)


# --- inventory ------------------------------------------------------------------------------

inventory = typer.Typer(
    help="The inventory: who held each address and interface, and when (from AWS or a file).",
    no_args_is_help=True,
)


def _report_change(change: Any, apply: bool) -> None:
    for warning in change.warnings:
        err.print(f"[yellow]warning[/yellow] {warning}", highlight=False, soft_wrap=True)
    err.print(
        f"inventory from {change.source}: {change.opened:,} opened, {change.closed:,} closed, "
        f"{change.unchanged:,} unchanged",
        highlight=False,
    )
    if not apply:
        why = "not applied (--no-apply): run `flowscope inventory apply` to name stored flows"
    else:
        why = "nothing changed: stored flows keep their names"
    _said_named(change.named, why)


@inventory.command("refresh")
def inventory_refresh(
    region: RegionsOpt = None,
    role_arn: RoleOpt = None,
    external_id: ExternalIdOpt = None,
    profile: ProfileOpt = None,
    no_apply: NoApplyOpt = False,
    geo: GeoOpt = None,
    store: StoreOpt = None,
    page_size: Annotated[int, typer.Option("--page-size", hidden=True)] = 1000,
) -> None:
    """Read the estate from AWS (interfaces, instances, NAT gateways, endpoints, load balancers,
    subnets, VPCs, security groups) and add what changed to the inventory."""
    from flowscope.estate.refresh import refresh_inventory

    use_geo(geo, check=not no_apply)
    st = _store(store)
    with _naming() as progress:
        change = refresh_inventory(
            st,
            region or (),
            profile=profile,
            role_arn=role_arn,
            external_id=external_id,
            apply=not no_apply,
            progress=progress,
            page_size=page_size,
        )
    _report_change(change, not no_apply)


@inventory.command("import")
def inventory_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="A JSON list of identities: {address, kind, name, resource_id, vpc_id, "
            "subnet_id, az, security_groups, account, region, tags, interface_id}."
        ),
    ],
    at: Annotated[
        str | None,
        typer.Option("--at", help=f"When the snapshot was taken (default now): {TIME_HELP}."),
    ] = None,
    no_apply: NoApplyOpt = False,
    geo: GeoOpt = None,
    store: StoreOpt = None,
) -> None:
    """Add a snapshot of the estate from a file (no AWS access needed) to the inventory."""
    from flowscope.estate.refresh import import_inventory

    when = parse_time(at, what="--at") if at else None
    use_geo(geo, check=not no_apply)
    st = _store(store)
    with _naming() as progress:
        change = import_inventory(st, file, when, apply=not no_apply, progress=progress)
    _report_change(change, not no_apply)


@inventory.command("show")
def inventory_show(as_json: JsonOpt = False, store: StoreOpt = None) -> None:
    """What the store knows: inventory, networks file and AWS ranges (source, date, size), and
    the identities held now, per kind."""
    from flowscope.estate.refresh import show

    data = show(_store(store))
    if as_json:
        print_data(data)
        return
    t = Table(show_edge=False, header_style="bold", title="estate", title_justify="left")
    for name in ("item", "source", "updated", "details"):
        t.add_column(name)
    details = {
        "history": f"{data['identities']:,} identities, {data['current']:,} held now",
        "networks": "",
        "ip-ranges": "",
    }
    if "ip-ranges" in data:
        r = data["ip-ranges"]
        details["ip-ranges"] = f"{r['prefixes']:,} prefixes, created {r['created']}"
    for name in ("history", "networks", "ip-ranges"):
        item = data.get(name)
        if item is None:
            t.add_row(name, "(none)", "", "")
        else:
            t.add_row(name, item["source"], item["updated"], details[name])
    out.print(t)
    if data["kinds"]:
        k = Table(show_edge=False, header_style="bold", title="held now", title_justify="left")
        k.add_column("kind")
        k.add_column("count", justify="right")
        for kind, count in data["kinds"].items():
            k.add_row(kind, f"{count:,}")
        out.print(k)


@inventory.command("apply")
def inventory_apply(geo: GeoOpt = None, store: StoreOpt = None) -> None:
    """Name every stored flow again with the estate the store keeps now."""
    from flowscope.estate.refresh import apply_estate

    use_geo(geo)
    st = _store(store)
    with _naming() as progress:
        named = apply_estate(st, progress)
    _said_named(named)


# --- networks, ip-ranges ----------------------------------------------------------------------


def networks(
    file: Annotated[
        Path | None,
        typer.Argument(help="A YAML (.yaml/.yml) or CSV (.csv) file naming CIDRs."),
    ] = None,
    show_: Annotated[bool, typer.Option("--show", help="Print the networks file kept.")] = False,
    clear: Annotated[bool, typer.Option("--clear", help="Forget the networks file.")] = False,
    no_apply: NoApplyOpt = False,
    geo: GeoOpt = None,
    store: StoreOpt = None,
) -> None:
    """Name your own networks (CIDR -> name and attributes; the most specific wins), replacing
    the file kept before."""
    from flowscope.estate import refresh

    if sum((file is not None, show_, clear)) != 1:
        raise UsageError("give one of: a networks FILE, --show or --clear")
    if show_:
        from flowscope.estate.store import NETWORKS_ITEM

        item = _store(store).estate_items().get(NETWORKS_ITEM)
        if item is None or item.source == refresh.CLEARED:
            err.print("no networks file kept", highlight=False)
            return
        err.print(f"# {item.source}, kept {item.updated:%Y-%m-%dT%H:%M:%SZ}", highlight=False)
        out.print(item.data.decode("utf-8"), end="", highlight=False, markup=False)
        return
    use_geo(geo, check=not no_apply)
    st = _store(store)
    with _naming() as progress:
        if clear:
            named = refresh.clear_networks(st, apply=not no_apply, progress=progress)
            err.print("networks file forgotten", highlight=False)
        else:
            assert file is not None
            count, named = refresh.set_networks(st, file, apply=not no_apply, progress=progress)
            err.print(f"{count:,} networks kept from {file}", highlight=False)
    _said_named(named)


def ip_ranges(
    file: Annotated[
        Path | None, typer.Option("--file", help="Read ip-ranges.json from this file.")
    ] = None,
    fetch: Annotated[
        bool, typer.Option("--fetch", help="Download it (the default without --file).")
    ] = False,
    url: Annotated[str, option(settings.IP_RANGES_URL)] = settings.IP_RANGES_URL.default,
    no_apply: NoApplyOpt = False,
    geo: GeoOpt = None,
    store: StoreOpt = None,
) -> None:
    """Keep AWS's published address ranges (service and region of every AWS prefix), with
    their date, and name stored flows by them."""
    from flowscope.estate.refresh import set_ip_ranges

    if file is not None and fetch:
        raise UsageError("give --file or --fetch, not both")
    use_geo(geo, check=not no_apply)
    st = _store(store)
    with _naming() as progress:
        got = set_ip_ranges(st, file, url=url, apply=not no_apply, progress=progress)
    created = f"{got.created:%Y-%m-%d %H:%M:%S}Z" if got.created else "no date"
    err.print(
        f"AWS ip-ranges kept from {got.source}: {got.prefixes:,} prefixes, created {created}",
        highlight=False,
    )
    _said_named(got.named)


# --- who ----------------------------------------------------------------------------------


_SHOWN = (
    "name",
    "kind",
    "resource_id",
    "interface_id",
    "vpc_id",
    "subnet_id",
    "az",
    "security_groups",
    "service",
    "region",
    "account",
    "network",
    "country",
    "asn",
    "as_org",
    "tags",
    "since",
    "until",
)


def _value(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k}={x}" for k, x in v.items())
    if isinstance(v, list):
        return ", ".join(str(x) for x in v)
    return str(v)


def who(
    address: Annotated[str, typer.Argument(help="An IP address (IPv4, IPv6) or an interface id.")],
    at: Annotated[
        str | None, typer.Option("--at", help=f"As of this time (default now): {TIME_HELP}.")
    ] = None,
    as_json: JsonOpt = False,
    geo: GeoOpt = None,
    store: StoreOpt = None,
) -> None:
    """Who held an address then (default now), since when, and every identity it has had."""
    from flowscope.estate.refresh import who as who_

    when = parse_time(at, what="--at") if at else None
    use_geo(geo)
    data = who_(_store(store), address, when)
    if as_json:
        print_data(data)
        return
    ident = data["identity"]
    when_text = data["at"] or "now"
    if not ident:
        out.print(f"{data['address']} at {when_text}: nothing known", highlight=False)
    else:
        out.print(f"[bold]{data['address']}[/bold] at {when_text}", highlight=False)
        t = Table(show_header=False, show_edge=False, box=None, padding=(0, 2, 0, 0))
        t.add_column(style="dim")
        t.add_column()
        for key in _SHOWN:
            value = ident.get(key)
            if value not in (None, "", [], {}):
                t.add_row(key, _value(value))
        if ident.get("network_attributes"):
            t.add_row("network attributes", _value(ident["network_attributes"]))
        out.print(t)
    if data["history"]:
        h = Table(show_edge=False, header_style="bold", title="history", title_justify="left")
        for name in ("since", "until", "name", "kind", "resource_id", "vpc_id"):
            h.add_column(name)
        for r in data["history"]:
            h.add_row(
                r["since"] or "(first refresh)",
                r["until"] or "(now)",
                r["name"],
                r["kind"],
                r["resource_id"],
                r["vpc_id"] or "",
            )
        out.print(h)


def register(app: typer.Typer) -> None:
    """Add the estate commands to the ``flowscope`` app."""
    app.add_typer(inventory, name="inventory")
    app.command()(networks)
    app.command("ip-ranges")(ip_ranges)
    app.command()(who)
