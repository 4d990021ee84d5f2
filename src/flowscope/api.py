"""The JSON API: the query layer over HTTP, for scripts and the web dashboard.

``create_app(store)`` builds a FastAPI app (OpenAPI at ``/docs``) whose handlers only turn
parameters into requests (:mod:`flowscope.query.build`), call the backend and wrap the answer.
Every response has one envelope::

    {"ok": true,  "data": ..., "took_ms": 12}
    {"ok": false, "error": {"type": "QueryError", "message": ..., "position": 9, "hint": ...},
     "took_ms": 1}

Status codes: 400 a bad filter or parameter, 401 not authenticated and 421 a Host not allowed
(:mod:`flowscope.web.access`), 404 an unknown report or path, 500 a bug (the body says nothing
more; the log has the traceback), 503 the store is busy (an ingest holds the file past the time
limit) or missing (the body names neither the file nor the writer's process), 504 the query ran
past the time limit. Every query runs under that limit and a row cap. CORS is off unless origins
are given.
The dashboard mounts its static files on the same app (``flowscope.web.mount_static``).
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from flowscope import settings
from flowscope.engines import backend_for
from flowscope.errors import (
    FlowscopeError,
    QueryError,
    QueryTimeout,
    StoreBusy,
    StoreError,
)
from flowscope.estate import refresh
from flowscope.query import build
from flowscope.query.model import Query as FlowQuery
from flowscope.query.model import Scope
from flowscope.query.reports import REPORTS, get_report, report_result
from flowscope.times import parse_time
from flowscope.web.access import Access, AccessMiddleware

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = settings.SERVE_TIMEOUT.number()
DEFAULT_ROW_CAP = int(settings.SERVE_ROW_CAP.number())
MAX_PANELS = 24
LOOPBACK = Access()

Where = Annotated[str, Query(description="Filter, e.g. action:REJECT and dstport:(22 or 3389)")]
From = Annotated[str, Query(alias="from", description="Start: now-24h, 7d, 2024-06-10T12:00Z, all")]
To = Annotated[str, Query(description="End (exclusive): now, an ISO time, all")]


class Panel(BaseModel):
    """One panel of a dashboard request: a query of ``type`` with that query's parameters."""

    model_config = ConfigDict(extra="forbid")

    id: str
    type: Literal["top", "hist", "search", "summary", "metrics", "report"]
    field: list[str] | str | None = None
    by: str = "count"
    size: int | None = None
    interval: str = "auto"
    split: str | None = None
    split_size: int = 10
    sort: str | None = None
    columns: list[str] | str | None = None
    cursor: str | None = None
    name: str | None = None
    where: str = Field("", description="Added (with and) to the dashboard's filter")


class Identify(BaseModel):
    """Addresses to name (at most MAX_IDENTIFY), as of ``at`` (null: the latest identity)."""

    model_config = ConfigDict(extra="forbid")

    addresses: list[str]
    at: str | None = Field(None, description="now-1h, an ISO time…; null: the latest")


class Dashboard(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    where: str = ""
    from_: str = Field("", alias="from")
    to: str = ""
    panels: list[Panel] = Field(max_length=MAX_PANELS)


def _took(request: Request) -> int:
    started = getattr(request.state, "started", None)
    return round((time.perf_counter() - started) * 1000) if started else 0


def error_body(
    kind: str, message: str, position: int | None = None, hint: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {"type": kind, "message": message, "position": position, "hint": hint, **extra}


def _error(request: Request, status: int, body: dict[str, Any]) -> JSONResponse:
    headers = {"Retry-After": "1"} if status == 503 else None
    return JSONResponse(
        {"ok": False, "error": body, "took_ms": _took(request)}, status, headers=headers
    )


def _flowscope_error(request: Request, e: FlowscopeError, **extra: Any) -> JSONResponse:
    position = e.position if isinstance(e, QueryError) else None
    message, hint = e.message, e.hint
    if isinstance(e, StoreError):
        # The log has the whole story (the file's path, the writer's PID); a client needs less.
        log.warning("%s: %s", type(e).__name__, e)
        message, hint = _public_store_error(e)
    elif isinstance(e, QueryTimeout):
        log.info("%s: %s", type(e).__name__, e)
    return _error(
        request, e.http_status, error_body(type(e).__name__, message, position, hint, **extra)
    )


def _public_store_error(e: StoreError) -> tuple[str, str | None]:
    """What a store error may tell a client: not where the file is, nor who holds it."""
    if isinstance(e, StoreBusy):
        return "the store is busy: another process is writing to it", "try again in a moment"
    if "does not exist" in e.message:
        return "the store does not exist yet", "load data first: flowscope ingest FILE"
    return "the store cannot be read", "the server's log says why"


def _internal_error(request: Request, e: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=e)
    return _error(
        request,
        500,
        error_body(
            "InternalError", "the server failed to answer", hint="the server's log says why"
        ),
    )


def create_app(
    store: object,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    row_cap: int = DEFAULT_ROW_CAP,
    cors_origins: tuple[str, ...] = (),
    access: Access | None = LOOPBACK,
) -> FastAPI:
    """The API app over ``store`` (as ``open_store`` gives it, or a query Backend).

    Each request's queries get ``timeout`` seconds (waiting for a busy file included) and at
    most ``row_cap`` rows. ``access`` says which Host names are answered and how clients
    authenticate (:mod:`flowscope.web.access`; by default loopback names, no authentication);
    None turns the checks off, for an app that is only called in process.
    """
    backend = backend_for(store, timeout=timeout, row_cap=row_cap, lock_wait=timeout)
    # the estate (names of addresses) is read from the store, never written: serve only reads
    estate_source = store if hasattr(store, "estate_items") else getattr(backend, "store", None)
    app = FastAPI(
        title="flowscope",
        summary="Ask AWS VPC Flow Logs traffic questions.",
        version="1",
    )
    app.state.backend = backend
    if cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"]
        )

    @app.middleware("http")
    async def stamp(request: Request, call_next: Any) -> Any:
        request.state.started = time.perf_counter()
        try:
            return await call_next(request)
        except Exception as e:  # a bug: answer a JSON 500 (and log it), never drop the line
            return _internal_error(request, e)

    if access is not None:  # added last, so it runs first
        app.add_middleware(AccessMiddleware, access=access)

    @app.exception_handler(FlowscopeError)
    async def on_flowscope_error(request: Request, e: FlowscopeError) -> JSONResponse:
        return _flowscope_error(request, e)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body"))
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        return _error(request, 400, error_body("ValidationError", message))

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, e: HTTPException) -> JSONResponse:
        return _error(request, e.status_code, error_body("HTTPError", str(e.detail)))

    def ok(request: Request, data: Any) -> dict[str, Any]:
        return {"ok": True, "data": data, "took_ms": _took(request)}

    def scope(where: str, since: str, until: str) -> Scope:
        return build.make_scope(where, since, until)

    @app.get("/api/fields", summary="The fields a filter or a query may name")
    def fields(request: Request) -> dict[str, Any]:
        return ok(request, [f.to_dict() for f in backend.fields()])

    @app.get("/api/top", summary="Top values of one field (or field tuple)")
    def top(
        request: Request,
        field: Annotated[list[str], Query(description="Field(s); repeat or comma-separate")],
        by: Annotated[str, Query(description="count, bytes or packets")] = "count",
        size: int = 10,
        where: Where = "",
        since: From = "",
        to: To = "",
    ) -> dict[str, Any]:
        q = build.top_query(field, by, size, scope(where, since, to))
        return ok(request, backend.top(q).to_dict())

    @app.get("/api/hist", summary="Flows over time, optionally split by a field")
    def hist(
        request: Request,
        interval: Annotated[str, Query(description="auto, or 1m, 5m, 1h, 1d…")] = "auto",
        split: str | None = None,
        split_size: int = 10,
        by: str = "count",
        where: Where = "",
        since: From = "",
        to: To = "",
    ) -> dict[str, Any]:
        q = build.hist_query(interval, split, split_size, by, scope(where, since, to))
        return ok(request, backend.hist(q).to_dict())

    @app.get("/api/search", summary="Flow records, sorted, with keyset paging")
    def search(
        request: Request,
        columns: Annotated[list[str] | None, Query(description="Fields, default or all")] = None,
        sort: Annotated[str, Query(description="field:asc or field:desc")] = "start_time:desc",
        size: int = 50,
        cursor: Annotated[str | None, Query(description="next_cursor of the last page")] = None,
        where: Where = "",
        since: From = "",
        to: To = "",
    ) -> dict[str, Any]:
        q = build.search_query(columns, sort, size, cursor, scope(where, since, to))
        return ok(request, backend.search(q).to_dict())

    @app.get("/api/summary", summary="A field at a glance: top values, share, distinct, missing")
    def summary(
        request: Request,
        field: str,
        size: int = 5,
        where: Where = "",
        since: From = "",
        to: To = "",
    ) -> dict[str, Any]:
        q = build.summary_query(field, size, scope(where, since, to))
        return ok(request, backend.summary(q).to_dict())

    @app.get("/api/metrics", summary="Flows, bytes, packets, distinct addresses, time span")
    def metrics(
        request: Request,
        where: Where = "",
        since: From = "",
        to: To = "",
        distinct: Annotated[
            bool, Query(description="Count distinct sources and destinations (else null)")
        ] = True,
    ) -> dict[str, Any]:
        q = build.metrics_query(scope(where, since, to), distinct)
        return ok(request, backend.metrics(q).to_dict())

    @app.get("/api/reports", summary="The canned reports")
    def reports(request: Request) -> dict[str, Any]:
        return ok(
            request,
            [{"name": r.name, "title": r.title, "question": r.question} for r in REPORTS.values()],
        )

    @app.get("/api/reports/{name}", summary="One canned report")
    def report(
        request: Request,
        name: str,
        size: int | None = None,
        where: Where = "",
        since: From = "",
        to: To = "",
    ) -> dict[str, Any]:
        r = get_report(name)
        result = backend.run([r.query(scope(where, since, to), size)])[0]
        return ok(request, report_result(r, result).to_dict())

    @app.post("/api/dashboard", summary="Several panels answered together, from one read")
    def dashboard(request: Request, body: Dashboard) -> Any:
        base = scope(body.where, body.from_, body.to)
        ids = [p.id for p in body.panels]
        if len(set(ids)) != len(ids):
            raise QueryError("panel ids must be unique")
        queries: list[FlowQuery] = []
        for p in body.panels:
            try:
                queries.append(_panel_query(p, build.narrow(base, p.where)))
            except FlowscopeError as e:
                return _flowscope_error(request, e, panel=p.id)
        results = backend.run(queries)
        data: dict[str, Any] = {}
        for p, result in zip(body.panels, results, strict=True):
            if p.type == "report":
                data[p.id] = report_result(get_report(p.name or ""), result).to_dict()
            else:
                data[p.id] = result.to_dict()
        return ok(request, {"panels": data})

    @app.get("/api/estate", summary="What the store knows to name addresses with")
    def estate(request: Request) -> dict[str, Any]:
        return ok(request, refresh.show(estate_source))

    @app.get("/api/who", summary="Who held an address then, since when, and its history")
    def who(
        request: Request,
        address: Annotated[str, Query(description="An IP address or an interface id")],
        at: Annotated[str, Query(description="As of: now-1h, an ISO time…; default now")] = "",
    ) -> dict[str, Any]:
        when = parse_time(at, what="at")
        return ok(request, refresh.who(estate_source, address, when))

    @app.post("/api/identify", summary="Names of up to 1000 addresses at once")
    def identify(request: Request, body: Identify) -> Any:
        if len(body.addresses) > refresh.MAX_IDENTIFY:
            return _error(
                request,
                422,
                error_body(
                    "ValidationError",
                    f"addresses: {len(body.addresses)} given, at most {refresh.MAX_IDENTIFY}",
                    hint="ask in several requests",
                ),
            )
        when = parse_time(body.at or "", what="at")
        return ok(request, refresh.identify(estate_source, body.addresses, when))

    return app


def _panel_query(p: Panel, scope: Scope) -> FlowQuery:
    if p.type == "top":
        return build.top_query(p.field or [], p.by, p.size or 10, scope)
    if p.type == "hist":
        return build.hist_query(p.interval, p.split, p.split_size, p.by, scope)
    if p.type == "search":
        return build.search_query(p.columns, p.sort, p.size or 50, p.cursor, scope)
    if p.type == "summary":
        field = p.field[0] if isinstance(p.field, list) and p.field else p.field
        if not isinstance(field, str):
            raise QueryError("a summary panel names one field")
        return build.summary_query(field, p.size or 5, scope)
    if p.type == "metrics":
        return build.metrics_query(scope)
    return get_report(p.name or "").query(scope, p.size)
