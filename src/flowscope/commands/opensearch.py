"""``flowscope kibana-export``: the saved objects of an OpenSearch store's dashboard, as NDJSON.

The objects (see :mod:`flowscope.engines.opensearch.kibana`) only depend on the store's name,
so the command does not contact the cluster:
``flowscope kibana-export --store opensearch://host:9200/vpcflow > vpcflow.ndjson``, then
import the file in Kibana or OpenSearch Dashboards (Saved objects → Import) or with
``POST /api/saved_objects/_import`` (Kibana) or
``POST /api/saved_objects/_import?overwrite=true`` (Dashboards, header ``osd-xsrf: true``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from flowscope.commands.common import StoreOpt, err, store_url
from flowscope.engines import open_store
from flowscope.errors import UsageError


def kibana_export(
    store: StoreOpt = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file instead of standard output."),
    ] = None,
) -> None:
    """Write Kibana / OpenSearch Dashboards saved objects (NDJSON) for an OpenSearch store."""
    from flowscope.engines.opensearch.kibana import saved_objects, to_ndjson
    from flowscope.engines.opensearch.store import OpenSearchStore

    target = open_store(store_url(store))
    if not isinstance(target, OpenSearchStore):
        raise UsageError(
            f"kibana-export needs an OpenSearch store, and {target.url} is a DuckDB file",
            hint="pass --store opensearch://host:9200/vpcflow (the store the dashboard reads)",
        )
    objects = saved_objects(target.names.alias)
    text = to_ndjson(objects)
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text)
    err.print(f"{len(objects)} saved objects written to {output}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``kibana-export`` to the CLI."""
    app.command("kibana-export")(kibana_export)
