// Readable numbers and times, the same rules as the CLI's render.human: decimal units, one
// decimal place (1.2k, 3.4M, 1.2 GB), times in UTC like everywhere else in flowscope.

const COUNT_SUFFIXES = ["", "k", "M", "G", "T"];
const BYTE_SUFFIXES = ["B", "kB", "MB", "GB", "TB", "PB"];
const full = new Intl.NumberFormat("en-US");

export type Metric = "count" | "bytes" | "packets";

/** 1234 -> "1.2k", 12 -> "12", 3_400_000 -> "3.4M". */
export function human(n: number): string {
  if (!Number.isFinite(n)) return "–";
  let i = 0;
  while (Math.abs(n) >= 1000 && i < COUNT_SUFFIXES.length - 1) {
    n /= 1000;
    i++;
  }
  return i === 0 ? String(Math.round(n)) : `${n.toFixed(1)}${COUNT_SUFFIXES[i]}`;
}

/** 1_234_567_890 -> "1.2 GB". */
export function bytes(n: number): string {
  if (!Number.isFinite(n)) return "–";
  let i = 0;
  while (Math.abs(n) >= 1000 && i < BYTE_SUFFIXES.length - 1) {
    n /= 1000;
    i++;
  }
  return i === 0 ? `${Math.round(n)} B` : `${n.toFixed(1)} ${BYTE_SUFFIXES[i]}`;
}

/** The thousands-separated full number, for tooltips and the flow table. */
export function exact(n: number): string {
  return full.format(n);
}

export function metricValue(metric: Metric, n: number): string {
  return metric === "bytes" ? bytes(n) : human(n);
}

/** An axis tick: like metricValue, without a ".0" ("300 MB", "2k"). */
export function axisValue(metric: Metric, n: number): string {
  return metricValue(metric, n).replace(/\.0(?=\D|$)/, "");
}

export const METRIC_LABEL: Record<Metric, string> = {
  count: "Flows",
  bytes: "Bytes",
  packets: "Packets",
};

export function percent(share: number): string {
  if (share > 0 && share < 0.001) return "<0.1%";
  return `${(share * 100).toFixed(share >= 0.1 ? 0 : 1)}%`;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** "2026-11-28 10:05:00" in UTC. */
export function dateTime(t: number | Date | string): string {
  const d = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
  );
}

/** A short axis label: "10:05", or "Nov 28" at midnight, or "Nov 28 10:05" for wide ranges. */
export function axisTime(t: number, spanMs: number): string {
  const d = new Date(t);
  const hm = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  const md = `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}`;
  if (spanMs > 3 * 86_400_000) return hm === "00:00" ? md : `${md} ${hm}`;
  return hm === "00:00" ? md : hm;
}

export const MONTHS = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
];

/** "5 minutes", "1 hour", "1 day": a histogram bucket's width in words. */
export function duration(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, "day"],
    [3_600_000, "hour"],
    [60_000, "minute"],
    [1000, "second"],
  ];
  for (const [size, name] of units) {
    if (ms >= size && ms % size === 0) {
      const n = ms / size;
      return `${n} ${name}${n === 1 ? "" : "s"}`;
    }
  }
  return `${ms} ms`;
}
