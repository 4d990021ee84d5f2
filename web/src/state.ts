// The whole view lives in the URL fragment (#/dashboard?q=…&from=…), so any view can be shared
// or bookmarked and the back button walks through filter changes. Only values that differ from
// the defaults are written, which keeps links short.

import type { Metric } from "./format";

export type View = "discover" | "visualize" | "dashboard";
export type ChartType = "bar" | "line" | "area" | "pie" | "table" | "sankey";

export interface Filter {
  field: string;
  value: string;
  negate: boolean;
}

export interface State {
  view: View;
  q: string;
  filters: Filter[];
  from: string;
  to: string;
  refresh: number; // auto-refresh period in seconds; 0 is off
  // Discover
  sort: string; // "column:asc|desc"
  page: number;
  cursor: string; // the search cursor that fetches `page` (empty: the first page)
  cols: string[];
  // Visualize
  vtype: ChartType;
  vfield: string;
  vmetric: Metric;
  vsplit: string;
  vsize: number;
  // Dashboard
  metric: Metric;
  panels: string[];
  geo: "dst" | "src"; // the Countries map: where traffic goes, or where it comes from
}

export const DEFAULT_COLUMNS = [
  "start_time",
  "srcaddr",
  "srcport",
  "dstaddr",
  "dstport",
  "protocol_name",
  "packets",
  "bytes",
  "action",
];

export const ALL_PANELS = [
  "traffic",
  "inout",
  "talkers",
  "ports",
  "protocols",
  "rejected",
  "interfaces",
  "countries",
  "services",
  "names",
  "asns",
];

export const DEFAULTS: State = {
  view: "dashboard",
  q: "",
  filters: [],
  from: "",
  to: "",
  refresh: 0,
  sort: "start_time:desc",
  page: 1,
  cursor: "",
  cols: DEFAULT_COLUMNS,
  vtype: "bar",
  vfield: "dstport",
  vmetric: "count",
  vsplit: "",
  vsize: 20,
  metric: "count",
  panels: ALL_PANELS,
  geo: "dst",
};

const VIEWS: View[] = ["discover", "visualize", "dashboard"];
const TYPES: ChartType[] = ["bar", "line", "area", "pie", "table", "sankey"];
const METRICS: Metric[] = ["count", "bytes", "packets"];

function filterToParam(f: Filter): string {
  return `${f.negate ? "!" : ""}${f.field}:${f.value}`;
}

function filterFromParam(p: string): Filter | null {
  const negate = p.startsWith("!");
  const body = negate ? p.slice(1) : p;
  const i = body.indexOf(":");
  if (i <= 0) return null;
  return { field: body.slice(0, i), value: body.slice(i + 1), negate };
}

function oneOf<T extends string>(value: string | null, allowed: T[], fallback: T): T {
  return value !== null && (allowed as string[]).includes(value) ? (value as T) : fallback;
}

function intParam(value: string | null, fallback: number, min: number, max: number): number {
  const n = value === null ? NaN : Number.parseInt(value, 10);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

export function parse(hash: string): State {
  const body = hash.replace(/^#\/?/, "");
  const qi = body.indexOf("?");
  const path = qi < 0 ? body : body.slice(0, qi);
  const p = new URLSearchParams(qi < 0 ? "" : body.slice(qi + 1));
  const list = (key: string, fallback: string[]) => {
    const v = p.get(key);
    return v === null ? fallback : v.split(",").filter(Boolean);
  };
  return {
    view: oneOf(path, VIEWS, DEFAULTS.view),
    q: p.get("q") ?? "",
    filters: p
      .getAll("f")
      .map(filterFromParam)
      .filter((f): f is Filter => f !== null),
    from: p.get("from") ?? "",
    to: p.get("to") ?? "",
    refresh: intParam(p.get("refresh"), 0, 0, 86_400),
    sort: p.get("sort") ?? DEFAULTS.sort,
    page: p.get("cursor") ? intParam(p.get("page"), 1, 1, 1_000_000) : 1,
    cursor: p.get("cursor") ?? "",
    cols: list("cols", DEFAULTS.cols),
    vtype: oneOf(p.get("type"), TYPES, DEFAULTS.vtype),
    vfield: p.get("field") ?? DEFAULTS.vfield,
    vmetric: oneOf(p.get("vmetric"), METRICS, DEFAULTS.vmetric),
    vsplit: p.get("split") ?? "",
    vsize: intParam(p.get("size"), DEFAULTS.vsize, 1, 200),
    metric: oneOf(p.get("metric"), METRICS, DEFAULTS.metric),
    panels: list("panels", DEFAULTS.panels).filter((x) => ALL_PANELS.includes(x)),
    geo: oneOf(p.get("geo"), ["dst", "src"], DEFAULTS.geo),
  };
}

export function format(s: State): string {
  const p = new URLSearchParams();
  const put = (key: string, value: string, fallback: string) => {
    if (value !== fallback) p.set(key, value);
  };
  put("q", s.q, "");
  for (const f of s.filters) p.append("f", filterToParam(f));
  put("from", s.from, "");
  put("to", s.to, "");
  put("refresh", String(s.refresh), "0");
  if (s.view === "discover") {
    put("sort", s.sort, DEFAULTS.sort);
    put("page", String(s.page), "1");
    put("cursor", s.cursor, "");
    put("cols", s.cols.join(","), DEFAULTS.cols.join(","));
  } else if (s.view === "visualize") {
    put("type", s.vtype, "");
    put("field", s.vfield, "");
    put("vmetric", s.vmetric, DEFAULTS.vmetric);
    put("split", s.vsplit, "");
    put("size", String(s.vsize), String(DEFAULTS.vsize));
  } else {
    put("metric", s.metric, DEFAULTS.metric);
    put("panels", s.panels.join(","), DEFAULTS.panels.join(","));
    put("geo", s.geo, DEFAULTS.geo);
  }
  const query = p.toString().replace(/%3A/g, ":").replace(/%2C/g, ",");
  return `#/${s.view}${query ? `?${query}` : ""}`;
}

type Listener = (next: State, prev: State) => void;

let current: State = parse(location.hash);
const listeners: Listener[] = [];

export function get(): State {
  return current;
}

export function subscribe(fn: Listener): void {
  listeners.push(fn);
}

function notify(prev: State): void {
  for (const fn of listeners) fn(current, prev);
}

/**
 * Change the view. `push` adds a history entry (a user's action: the back button undoes it);
 * otherwise the URL is replaced (defaults filled in at start-up, paging by auto-refresh).
 */
export function update(patch: Partial<State>, push = true): void {
  const prev = current;
  const next = { ...current, ...patch };
  // A new question starts on the first page of results.
  if (
    patch.page === undefined &&
    (patch.q !== undefined ||
      patch.filters !== undefined ||
      patch.from !== undefined ||
      patch.sort !== undefined)
  ) {
    next.page = 1;
    next.cursor = "";
  }
  current = next;
  const url = format(current);
  if (url !== location.hash) {
    if (push) history.pushState(null, "", url);
    else history.replaceState(null, "", url);
  }
  notify(prev);
}

function fromLocation(): void {
  const prev = current;
  current = parse(location.hash);
  notify(prev);
}

window.addEventListener("popstate", fromLocation);
window.addEventListener("hashchange", () => {
  if (format(parse(location.hash)) !== format(current)) fromLocation();
});

// --- the filter language: turning pills into query text ---------------------------------

// The filter language's bare values (flowscope.query.filter._BARE); anything else is quoted.
const BARE = /^[A-Za-z0-9_.:\/@+-]+$/;
const KEYWORDS = new Set(["and", "or", "not", "to"]);

/** A value as the filter language reads it: bare when safe, otherwise double-quoted. */
export function quoteValue(value: string): string {
  if (BARE.test(value) && !KEYWORDS.has(value.toLowerCase())) return value;
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

export function filterText(f: Filter): string {
  return `${f.negate ? "not " : ""}${f.field}:${quoteValue(f.value)}`;
}

/**
 * The query the API runs: the typed query, and each pill. When pills are added the typed query
 * is put in parentheses, so an error's position in it is `QUERY_OFFSET` further on.
 */
export function fullQuery(s: Pick<State, "q" | "filters">): string {
  const q = s.q.trim();
  const pills = s.filters.map(filterText);
  if (!pills.length) return q;
  return [q ? `(${q})` : "", ...pills].filter(Boolean).join(" and ");
}

/** Where an error at `position` of `fullQuery(s)` falls in the typed query (null: in a pill). */
export function positionInQuery(s: Pick<State, "q" | "filters">, position: number): number | null {
  const lead = s.q.length - s.q.trimStart().length;
  const shift = s.filters.length && s.q.trim() ? 1 : 0;
  const p = position - shift + lead;
  return p >= 0 && p <= s.q.trimEnd().length ? p : null;
}

/** Add a pill (or flip an existing pill on the same field and value). */
export function withFilter(filters: Filter[], f: Filter): Filter[] {
  const rest = filters.filter((x) => !(x.field === f.field && x.value === f.value));
  return [...rest, f];
}
