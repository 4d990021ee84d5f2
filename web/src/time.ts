// The time range: what the URL holds (relative "now-24h", absolute ISO, or "all" for the whole
// store) and its resolution to absolute instants, plus the histogram's bucket width.

export interface Extent {
  first: number | null; // ms since epoch, the earliest flow start in the store
  last: number | null; // the latest flow end
}

export interface Resolved {
  from: number;
  to: number;
}

const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const UNIT_NAME: Record<string, string> = {
  s: "second",
  m: "minute",
  h: "hour",
  d: "day",
  w: "week",
};

const RELATIVE = /^now(?:-(\d+)([smhdw]))?$/;

export const QUICK_RANGES: { label: string; from: string; to: string }[] = [
  { label: "Last 15 minutes", from: "now-15m", to: "now" },
  { label: "Last 1 hour", from: "now-1h", to: "now" },
  { label: "Last 4 hours", from: "now-4h", to: "now" },
  { label: "Last 12 hours", from: "now-12h", to: "now" },
  { label: "Last 24 hours", from: "now-24h", to: "now" },
  { label: "Last 7 days", from: "now-7d", to: "now" },
  { label: "Last 30 days", from: "now-30d", to: "now" },
  { label: "All data", from: "all", to: "all" },
];

export function isRelative(expr: string): boolean {
  return RELATIVE.test(expr);
}

/** Parse "2026-11-28 10:00", "2026-11-28T10:00:00Z" (UTC unless an offset is given). */
export function parseAbsolute(text: string): number | null {
  const t = text.trim();
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(
    t,
  );
  if (!m) return null;
  const [, y, mo, d, hh = "0", mi = "0", ss = "0", ms = "0", tz] = m;
  let value = Date.UTC(+y, +mo - 1, +d, +hh, +mi, +ss, +ms.padEnd(3, "0"));
  if (tz && tz !== "Z") {
    const sign = tz[0] === "-" ? -1 : 1;
    const digits = tz.slice(1).replace(":", "");
    value -= sign * (+digits.slice(0, 2) * 60 + +digits.slice(2)) * 60_000;
  }
  return Number.isNaN(value) ? null : value;
}

/** Is `expr` something the picker accepts (now, now-15m, all, an absolute time)? */
export function valid(expr: string): boolean {
  return expr === "all" || RELATIVE.test(expr) || parseAbsolute(expr) !== null;
}

function point(expr: string, now: number): number | null {
  const rel = RELATIVE.exec(expr);
  if (rel) return rel[1] ? now - Number(rel[1]) * UNIT_MS[rel[2]] : now;
  return parseAbsolute(expr);
}

/** Absolute instants for the range; "all" uses the store's extent. */
export function resolve(from: string, to: string, extent: Extent, now = Date.now()): Resolved {
  let f = from === "all" ? extent.first : point(from, now);
  let t = to === "all" ? extent.last : point(to, now);
  if (f === null) f = now - UNIT_MS.d;
  if (t === null) t = now;
  if (to === "all") t = Math.floor(t / 60_000) * 60_000 + 60_000; // include the last minute
  if (from === "all") f = Math.floor(f / 60_000) * 60_000;
  if (t <= f) t = f + 60_000;
  return { from: f, to: t };
}

/** "Last 24 hours", "All data", or "2026-11-28 10:00 → 12:30". */
export function label(from: string, to: string): string {
  const quick = QUICK_RANGES.find((q) => q.from === from && q.to === to);
  if (quick) return quick.label;
  const rel = RELATIVE.exec(from);
  if (rel && rel[1] && to === "now") {
    const n = Number(rel[1]);
    return `Last ${n} ${UNIT_NAME[rel[2]]}${n === 1 ? "" : "s"}`;
  }
  const fa = point(from, Date.now());
  const ta = point(to, Date.now());
  const show = (expr: string, v: number | null) =>
    expr === "now" ? "now" : v === null ? expr : isoMinute(v);
  const left = show(from, fa);
  let right = show(to, ta);
  if (right.slice(0, 10) === left.slice(0, 10) && right !== "now") right = right.slice(11);
  return `${left} → ${right}`;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** "2026-11-28 10:05" (UTC); seconds only when not zero. */
export function isoMinute(ms: number): string {
  const d = new Date(ms);
  const base =
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  return d.getUTCSeconds() ? `${base}:${pad(d.getUTCSeconds())}` : base;
}

/** The URL form of an absolute instant: "2026-11-28T10:05:00Z". */
export function isoUrl(ms: number): string {
  return new Date(Math.round(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

const NICE_INTERVALS = [
  60_000,
  2 * 60_000,
  5 * 60_000,
  10 * 60_000,
  15 * 60_000,
  30 * 60_000,
  3_600_000,
  2 * 3_600_000,
  3 * 3_600_000,
  6 * 3_600_000,
  12 * 3_600_000,
  86_400_000,
  7 * 86_400_000,
];

/** A bucket width giving at most `target` buckets, never under the 1-minute flow-log grain. */
export function autoInterval(range: Resolved, target = 96): number {
  const span = range.to - range.from;
  for (const ms of NICE_INTERVALS) if (span / ms <= target) return ms;
  return NICE_INTERVALS[NICE_INTERVALS.length - 1];
}
