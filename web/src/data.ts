// The questions the page asks, as typed functions over flowscope's JSON API (src/flowscope/api.py).
// This is the one module that knows the API's parameter names and answer shapes; views get plain
// typed results. Every question carries the same scope: `where` (the filter), `from` and `to`.

import { get, post } from "./api";
import type { Metric } from "./format";
import type { FieldInfo } from "./querybar";
import type { Extent, Resolved } from "./time";
import { isoUrl } from "./time";

export interface Ask {
  q: string;
  range: Resolved;
}

type Totals = { count: number; bytes: number; packets: number };

export interface Metrics {
  flows: number;
  bytes: number;
  packets: number;
  sources: number;
  destinations: number;
  first: number | null;
  last: number | null;
}

export interface TopValue {
  key: string;
  value: number;
  parts?: { key: string; value: number }[];
  /** A top over a field tuple ("dst_asn,dst_as_org"): the other fields' values of this row. */
  also?: string[];
}

export interface Top {
  field: string;
  metric: Metric;
  total: number; // the metric over every flow in scope, missing values included
  other: number; // what the listed values leave out
  missing: number; // flows without a value
  buckets: TopValue[];
}

export interface Hist {
  intervalMs: number;
  series: { name: string; key: string | null; other: boolean; points: [number, number][] }[];
}

export interface Page {
  total: number;
  columns: string[];
  rows: Record<string, unknown>[];
  next: string | null;
}

export interface FieldSummary {
  values: { value: string; count: number; share: number }[];
  total: number;
  missing: number;
  distinct: number;
}

/** A missing value, as the API labels it. */
export const MISSING = "(missing)";
export const OTHER = "(other)";

function scope(a: Ask): Record<string, string> {
  return { where: a.q, from: isoUrl(a.range.from), to: isoUrl(a.range.to) };
}

function time(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  const t = Date.parse(String(v));
  return Number.isNaN(t) ? null : t;
}

const key = (v: unknown): string => (v === null || v === undefined ? MISSING : String(v));

const KIND: Record<string, FieldInfo["type"]> = {
  int: "num",
  long: "num",
  ip: "ip",
  time: "time",
  str: "str",
  list: "list",
};

interface ApiField {
  name: string;
  kind: string;
  enum: string[] | null;
  doc: string;
}

export async function fields(signal?: AbortSignal): Promise<FieldInfo[]> {
  const list = await get<ApiField[]>("fields", {}, signal);
  return list
    .filter((f) => f.name !== "load_id")
    .map((f) => ({ name: f.name, type: KIND[f.kind] ?? "str", doc: f.doc, enum: f.enum ?? undefined }));
}

interface ApiMetrics extends Totals {
  sources: number;
  destinations: number;
  first: string | null;
  last: string | null;
}

function toMetrics(d: ApiMetrics): Metrics {
  return {
    flows: d.count,
    bytes: d.bytes,
    packets: d.packets,
    sources: d.sources,
    destinations: d.destinations,
    first: time(d.first),
    last: time(d.last),
  };
}

export async function metrics(a: Ask, signal?: AbortSignal): Promise<Metrics> {
  return toMetrics(await get<ApiMetrics>("metrics", scope(a), signal));
}

/** When the store's flows start and end (no filter, no time limit); skips the distinct counts,
 * the costly part of the metrics, since the page waits for this before its first render. */
export async function extent(signal?: AbortSignal): Promise<Extent> {
  const m = await get<ApiMetrics>("metrics", { distinct: "false" }, signal);
  return { first: time(m.first), last: time(m.last) };
}

interface ApiTop {
  fields: string[];
  by: Metric;
  rows: (Record<string, unknown> & Totals)[];
  other: Totals;
  missing: Totals;
  total: Totals;
  distinct: number;
}

export interface TopAsk extends Ask {
  field: string;
  metric: Metric;
  n: number;
  split?: string;
  splitN?: number;
}

function toTop(field: string, metric: Metric, d: ApiTop): Top {
  const names = field.split(",");
  return {
    field: names[0],
    metric,
    total: d.total[metric],
    other: d.other[metric],
    missing: d.missing[metric],
    buckets: d.rows.map((r) =>
      names.length > 1
        ? { key: key(r[names[0]]), value: r[metric], also: names.slice(1).map((n) => key(r[n])) }
        : { key: key(r.value), value: r[metric] },
    ),
  };
}

export async function top(t: TopAsk, signal?: AbortSignal): Promise<Top> {
  if (!t.split) {
    const d = await get<ApiTop>("top", { ...scope(t), field: t.field, by: t.metric, size: t.n }, signal);
    return toTop(t.field, t.metric, d);
  }
  // The top values, and the (value, split value) pairs of the same scope, from one read; each
  // bar's parts are its pairs, what they leave out shown as "(other)", so the parts add up.
  const answers = await batch(
    t,
    [
      { id: "top", type: "top", field: t.field, metric: t.metric, n: t.n },
      { id: "pairs", type: "top", field: `${t.field},${t.split}`, metric: t.metric, n: Math.min(10_000, t.n * 50) },
    ],
    signal,
  );
  const result = answers.top("top");
  const pairs = answers.tuples("pairs").map((r): [string, string, number] => [r.keys[0], r.keys[1], r.value]);
  const splitTotals = new Map<string, number>();
  for (const [, k, v] of pairs) splitTotals.set(k, (splitTotals.get(k) ?? 0) + v);
  const keep = new Set([...splitTotals.entries()].sort((a, b) => b[1] - a[1]).slice(0, t.splitN ?? 8).map(([k]) => k));
  for (const b of result.buckets) {
    const parts = new Map<string, number>();
    for (const [f, k, v] of pairs) {
      if (f !== b.key) continue;
      const name = keep.has(k) ? k : OTHER;
      parts.set(name, (parts.get(name) ?? 0) + v);
    }
    const listed = [...parts.values()].reduce((x, y) => x + y, 0);
    if (b.value > listed) parts.set(OTHER, (parts.get(OTHER) ?? 0) + b.value - listed);
    b.parts = [...parts.entries()].map(([k, value]) => ({ key: k, value }));
  }
  return result;
}

/** The most frequent value tuples of several fields (e.g. source, destination, port). */
export async function tuples(
  a: Ask,
  names: string[],
  metric: Metric,
  n: number,
  signal?: AbortSignal,
): Promise<{ keys: string[]; value: number }[]> {
  const d = await get<ApiTop>("top", { ...scope(a), field: names.join(","), by: metric, size: n }, signal);
  return toTuples(names, metric, d);
}

function toTuples(names: string[], metric: Metric, d: ApiTop): { keys: string[]; value: number }[] {
  return d.rows.map((r) => ({ keys: names.map((f) => key(r[f])), value: r[metric] }));
}

interface ApiHist {
  interval_seconds: number;
  times: string[];
  series: ({ key: unknown; label: string; other: boolean } & Record<Metric, number[]>)[];
}

export interface HistAsk extends Ask {
  intervalMs: number;
  metric: Metric;
  split?: string;
  splitN?: number;
}

function histParams(a: HistAsk) {
  return {
    interval: `${Math.round(a.intervalMs / 1000)}s`,
    by: a.metric,
    split: a.split || undefined,
    split_size: a.split ? (a.splitN ?? 6) : undefined,
  };
}

function toHist(a: { metric: Metric }, d: ApiHist): Hist {
  const times = d.times.map((t) => time(t) ?? 0);
  return {
    intervalMs: d.interval_seconds * 1000,
    series: d.series.map((s) => ({
      name: s.label,
      key: s.key === null || s.key === undefined || s.other ? null : String(s.key),
      other: s.other,
      points: times.map((t, i): [number, number] => [t, s[a.metric][i] ?? 0]),
    })),
  };
}

export async function hist(a: HistAsk, signal?: AbortSignal): Promise<Hist> {
  return toHist(a, await get<ApiHist>("hist", { ...scope(a), ...histParams(a) }, signal));
}

export interface SearchAsk extends Ask {
  sort: string;
  size: number;
  cursor: string;
}

interface ApiPage {
  columns: string[];
  rows: Record<string, unknown>[];
  total: number;
  next_cursor: string | null;
}

function toPage(d: ApiPage): Page {
  return { total: d.total, columns: d.columns, rows: d.rows, next: d.next_cursor };
}

export async function search(a: SearchAsk, signal?: AbortSignal): Promise<Page> {
  const params = { ...scope(a), columns: "all", sort: a.sort, size: a.size, cursor: a.cursor || undefined };
  return toPage(await get<ApiPage>("search", params, signal));
}

export async function fieldSummary(a: Ask, field: string, size: number, signal?: AbortSignal): Promise<FieldSummary> {
  const d = await get<{ values: { value: unknown; count: number; share: number }[]; total: number; missing: number; distinct: number }>(
    "summary",
    { ...scope(a), field, size },
    signal,
  );
  return { ...d, values: d.values.map((v) => ({ ...v, value: key(v.value) })) };
}

// --- several questions in one request: POST /api/dashboard ----------------------------------
// Each GET opens the store anew; one POST answers every panel of a view from one read.

export type PanelAsk =
  | { id: string; type: "metrics"; where?: string }
  | { id: string; type: "top"; field: string; metric: Metric; n: number; where?: string }
  | { id: string; type: "hist"; metric: Metric; intervalMs: number; split?: string; splitN?: number; where?: string }
  | { id: string; type: "search"; sort: string; size: number; cursor: string; where?: string };

export interface Answers {
  metrics(id: string): Metrics;
  top(id: string): Top;
  hist(id: string): Hist;
  search(id: string): Page;
  /** The rows of a top over several fields ("srcaddr,dstaddr"), as value tuples. */
  tuples(id: string): { keys: string[]; value: number }[];
}

export async function batch(a: Ask, panels: PanelAsk[], signal?: AbortSignal): Promise<Answers> {
  const body = {
    where: a.q,
    from: isoUrl(a.range.from),
    to: isoUrl(a.range.to),
    panels: panels.map((p) => {
      const where = p.where ?? "";
      if (p.type === "metrics") return { id: p.id, type: "metrics", where };
      if (p.type === "top") return { id: p.id, type: "top", field: p.field, by: p.metric, size: p.n, where };
      if (p.type === "search") return { id: p.id, type: "search", columns: "all", sort: p.sort, size: p.size, cursor: p.cursor || null, where };
      return { id: p.id, type: "hist", ...histParams({ ...a, ...p }), where };
    }),
  };
  const d = await post<{ panels: Record<string, unknown> }>("dashboard", body, signal);
  const find = <T extends PanelAsk["type"]>(id: string, type: T) => {
    const p = panels.find((x) => x.id === id && x.type === type);
    if (!p || !(id in d.panels)) throw new Error(`no ${type} panel ${id} in the answer`);
    return { ask: p as Extract<PanelAsk, { type: T }>, raw: d.panels[id] };
  };
  const answers: Answers = {
    metrics: (id) => toMetrics(find(id, "metrics").raw as ApiMetrics),
    top: (id) => {
      const { ask, raw } = find(id, "top");
      return toTop(ask.field, ask.metric, raw as ApiTop);
    },
    hist: (id) => {
      const { ask, raw } = find(id, "hist");
      return toHist(ask, raw as ApiHist);
    },
    search: (id) => toPage(find(id, "search").raw as ApiPage),
    tuples: (id) => {
      const { ask, raw } = find(id, "top");
      return toTuples(ask.field.split(","), ask.metric, raw as ApiTop);
    },
  };
  return answers;
}

/** A value as the filter language reads it: bare when safe, otherwise double-quoted. */
export function quote(value: string): string {
  if (/^[A-Za-z0-9_.:/@+-]+$/.test(value) && !["and", "or", "not", "to"].includes(value.toLowerCase())) return value;
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}
