// The "VPC traffic" dashboard: headline numbers, traffic over time by action, bytes in and out of
// the VPC, protocols, destination ports, top talkers, rejected sources and busiest interfaces.
// All panels are asked in one POST /api/dashboard (one read of the store) under the query, the
// filter pills and the time range; clicking a bar, slice or series adds a filter, and dragging
// across a time chart zooms into that range.

import { dataTable, enableBrush, pieOption, timeOption, topOption } from "../charts";
import * as names from "../names";
import * as data from "../data";
import { h, ICONS, icon } from "../dom";
import { bytes, exact, human, METRIC_LABEL, type Metric, metricValue, percent } from "../format";
import { valueLabel } from "../ports";
import * as state from "../state";
import type { State } from "../state";
import { autoInterval } from "../time";
import { timings } from "../timings";
import type { Ctx, Reason, View } from "../view";
import { describe, Panel } from "./panel";

// Private IPv4 space (RFC 1918 and the carrier-grade NAT range AWS also routes privately).
// Written as address prefixes (wildcards) rather than CIDR blocks: the same addresses, and a
// plain string match for the store, where a CIDR test on IPv6 text is far slower.
const PRIVATE = `(10.* or ${Array.from({ length: 16 }, (_, i) => `172.${16 + i}.*`).join(" or ")} or 192.168.*)`;
const INBOUND = `dstaddr:${PRIVATE} and not srcaddr:${PRIVATE}`;
const OUTBOUND = `srcaddr:${PRIVATE} and not dstaddr:${PRIVATE}`;

interface PanelSpec {
  id: string;
  title: string;
  span: string;
  kind: "hist" | "top" | "pie" | "inout" | "map";
  field?: string;
  also?: string; // a field asked beside the first, for its label (an AS organisation's number)
  estate?: string; // how the share of flows without a value reads ("unnamed")
  none?: string; // what an estate panel says when no flow has a value
  split?: string;
  n?: number;
  where?: string; // the panel's own filter, added to the dashboard's
  color?: string;
  sub: (m: Metric) => string;
  metric?: Metric; // a fixed measure (otherwise the dashboard's)
}

const by = (m: Metric) => `by ${METRIC_LABEL[m].toLowerCase()}`;

/** What a panel of names says when the store has none (no inventory, or a server without it). */
export const NO_NAMES = "No names yet: run flowscope inventory refresh or see README.";

type Geo = { dst: data.Top; src: data.Top };
/** A panel whose fields the server does not have (no estate): nothing was asked. */
const UNAVAILABLE = "unavailable";
type Result = data.Top | data.Hist | [data.Hist, data.Hist] | Geo | typeof UNAVAILABLE;
type World = typeof import("../worldmap");

let world: Promise<World> | null = null;
/** The world map's chunk, fetched once, on the first dashboard that shows it. */
function loadWorld(): Promise<World> {
  world ??= import("../worldmap");
  world.catch(() => (world = null));
  return world;
}

export const PANELS: PanelSpec[] = [
  { id: "traffic", title: "Traffic over time by action", span: "span-8", kind: "hist", split: "action", sub: (m) => METRIC_LABEL[m] },
  { id: "protocols", title: "Protocols", span: "span-4", kind: "pie", field: "protocol_name", n: 6, sub: by },
  { id: "inout", title: "Bytes in / out of the VPC", span: "span-6", kind: "inout", metric: "bytes", sub: () => "public ↔ private IPv4" },
  { id: "ports", title: "Top destination ports", span: "span-6", kind: "top", field: "dstport", n: 12, color: "#6092C0", sub: by },
  { id: "talkers", title: "Top talkers", span: "span-4", kind: "top", field: "srcaddr", n: 10, color: "#54B399", metric: "bytes", sub: () => "sources by bytes" },
  { id: "rejected", title: "Top rejected sources", span: "span-4", kind: "top", field: "srcaddr", n: 10, where: "action:REJECT", color: "#E7664C", metric: "count", sub: () => "by rejected flows" },
  { id: "interfaces", title: "Busiest interfaces", span: "span-4", kind: "top", field: "interface_id", n: 10, color: "#9170B8", sub: by },
  { id: "countries", title: "Countries", span: "span-8", kind: "map", field: "dst_country", n: 300, metric: "bytes", estate: "private or unknown", none: "No countries in this range: only private addresses.", sub: () => "by bytes" },
  { id: "services", title: "Traffic by AWS service", span: "span-4", kind: "top", field: "dst_service", n: 10, color: "#D6BF57", metric: "bytes", estate: "to no AWS service", none: "No traffic to AWS services yet: run flowscope ip-ranges, or see the README.", sub: () => "destinations by bytes" },
  { id: "names", title: "Top talkers by name", span: "span-6", kind: "top", field: "src_name", n: 10, color: "#54B399", metric: "bytes", estate: "unnamed", none: NO_NAMES, sub: () => "sources by bytes" },
  { id: "asns", title: "ASNs", span: "span-6", kind: "top", field: "dst_as_org", also: "dst_asn", n: 10, color: "#6092C0", metric: "bytes", estate: "to no known AS", none: "No public destinations in this range.", sub: () => "destinations by bytes" },
];

function and(q: string, extra?: string): string {
  if (!extra) return q;
  return q ? `(${q}) and ${extra}` : extra;
}

interface Answers {
  metrics: data.Metrics;
  actions: data.Top;
  panels: Map<string, Result>;
}

export class DashboardView implements View {
  private panels = new Map<string, Panel>();
  private stats!: HTMLElement;
  private metricButtons: HTMLButtonElement[] = [];
  private grid!: HTMLElement;
  private reset!: HTMLButtonElement;
  private abort: AbortController | null = null;
  private answers: Answers | null = null;
  private asked = "";

  constructor(private readonly ctx: Ctx) {}

  mount(root: HTMLElement): void {
    this.metricButtons = (["count", "bytes", "packets"] as Metric[]).map((m) =>
      h("button", { type: "button", "data-metric": m, "aria-pressed": "false", onclick: () => state.update({ metric: m }) }, METRIC_LABEL[m]),
    );
    this.reset = h(
      "button",
      { class: "btn small", type: "button", hidden: true, onclick: () => state.update({ panels: state.DEFAULTS.panels }) },
      "Show all panels",
    );
    this.stats = h("div", { class: "stats", "data-testid": "stats", "aria-live": "polite" });
    this.grid = h("div", { class: "grid" });
    root.append(
      h(
        "div",
        { class: "dash-head" },
        h("h1", null, "VPC traffic"),
        h("span", { class: "spacer" }),
        this.reset,
        h("span", { id: "metric-label", style: "color:var(--text-2);font-size:13px" }, "Measure"),
        h("div", { class: "segmented", role: "group", "aria-labelledby": "metric-label" }, this.metricButtons),
      ),
      this.stats,
      this.grid,
    );
  }

  unmount(): void {
    this.abort?.abort();
    for (const p of this.panels.values()) p.dispose();
    this.panels.clear();
  }

  async update(s: State, _prev: State | null, reason: Reason): Promise<void> {
    for (const b of this.metricButtons) b.setAttribute("aria-pressed", String(b.dataset.metric === s.metric));
    const shown = this.layout(s);
    const ask = this.ctx.ask();
    // Hiding or showing panels, or a new theme, redraws what is known without asking again.
    const question = JSON.stringify([ask, s.metric]);
    const known = this.answers;
    if (known && shown.every((p) => known.panels.has(p.id)) && (reason === "theme" || (reason === "state" && question === this.asked))) {
      await this.draw(shown, s, known);
      return;
    }
    this.abort?.abort();
    const ac = new AbortController();
    this.abort = ac;
    // The map's chunk loads while the server answers.
    if (shown.some((p) => p.kind === "map")) loadWorld().catch(() => undefined);
    for (const spec of shown) this.panels.get(spec.id)!.loading(true);
    this.ctx.busy(true);
    try {
      const t0 = performance.now();
      const answers = await this.fetch(shown, s, ask, ac.signal);
      if (ac.signal.aborted) return;
      this.answers = answers;
      this.asked = question;
      const t1 = performance.now();
      await this.draw(shown, s, answers);
      if (ac.signal.aborted) return;
      // for the browser test's timing log: waiting for the answers vs drawing them
      timings.dashboardFetch = t1 - t0;
      timings.dashboardDraw = performance.now() - t1;
      // Then the names beside the addresses of the top tables (one request), drawn again.
      await this.nameAddresses(shown, s, answers, ac.signal);
    } catch (e) {
      if (ac.signal.aborted) return;
      this.answers = null;
      this.asked = "";
      this.ctx.fail(e, this.stats);
      for (const spec of shown) {
        const panel = this.panels.get(spec.id)!;
        panel.dispose();
        panel.body.replaceChildren(h("div", { class: "empty" }, "No data: see the message above."));
      }
    } finally {
      for (const spec of shown) this.panels.get(spec.id)?.loading(false);
      this.ctx.busy(false);
    }
  }

  private layout(s: State): PanelSpec[] {
    const shown = PANELS.filter((p) => s.panels.includes(p.id));
    for (const spec of shown) if (!this.panels.has(spec.id)) this.panels.set(spec.id, this.makePanel(spec));
    for (const [id, p] of this.panels) {
      if (!shown.some((x) => x.id === id)) {
        p.dispose();
        this.panels.delete(id);
      }
    }
    this.grid.replaceChildren(...shown.map((spec) => this.panels.get(spec.id)!.el));
    this.reset.hidden = shown.length === PANELS.length;
    return shown;
  }

  private makePanel(spec: PanelSpec): Panel {
    const panel = new Panel(spec.id, spec.title, spec.span);
    if (spec.kind === "map") {
      panel.tools.append(
        h(
          "div",
          { class: "segmented small", role: "group", "aria-label": "Countries of" },
          (["dst", "src"] as const).map((side) =>
            h("button", { type: "button", "data-geo": side, "aria-pressed": String(state.get().geo === side), onclick: () => state.update({ geo: side }) }, side === "dst" ? "To" : "From"),
          ),
        ),
      );
    }
    if (spec.field) {
      panel.tools.append(
        h(
          "button",
          {
            class: "btn ghost icon-only small",
            type: "button",
            "aria-label": `Open ${spec.title} in Visualize`,
            title: "Open in Visualize",
            onclick: () => {
              const s = state.get();
              state.update({
                view: "visualize",
                vfield: spec.kind === "map" ? `${s.geo}_country` : spec.field!,
                vtype: spec.kind === "pie" ? "pie" : "bar",
                vmetric: spec.metric ?? s.metric,
                vsplit: "",
                vsize: 20,
                q: and(s.q, spec.where),
              });
            },
          },
          icon(ICONS.chart),
        ),
      );
    }
    panel.tools.append(
      h(
        "button",
        {
          class: "btn ghost icon-only small",
          type: "button",
          "aria-label": `Hide panel ${spec.title}`,
          title: "Hide panel",
          onclick: () => state.update({ panels: state.get().panels.filter((x) => x !== spec.id) }),
        },
        icon(ICONS.close),
      ),
    );
    return panel;
  }

  private async fetch(shown: PanelSpec[], s: State, ask: data.Ask, signal: AbortSignal): Promise<Answers> {
    const asks: data.PanelAsk[] = [
      { id: "metrics", type: "metrics" },
      { id: "actions", type: "top", field: "action", metric: "count", n: 3 },
    ];
    for (const spec of shown) {
      const metric = spec.metric ?? s.metric;
      if (spec.kind === "hist") {
        asks.push({ id: spec.id, type: "hist", metric, split: spec.split, splitN: 4, intervalMs: autoInterval(ask.range, 80) });
      } else if (spec.kind === "inout") {
        const intervalMs = autoInterval(ask.range, 60);
        asks.push({ id: "in", type: "hist", metric: "bytes", intervalMs, where: INBOUND });
        asks.push({ id: "out", type: "hist", metric: "bytes", intervalMs, where: OUTBOUND });
      } else if (!this.available(spec)) {
        continue;
      } else if (spec.kind === "map") {
        for (const side of ["dst", "src"]) asks.push({ id: `${spec.id}:${side}`, type: "top", field: `${side}_country`, metric, n: spec.n ?? 300 });
      } else {
        asks.push({ id: spec.id, type: "top", field: spec.field!, metric, n: spec.n ?? 10, where: spec.where });
        // The pairs (value, also) of the same scope, for the labels; a value without its
        // pair (an organisation whose number is unknown) is labelled alone.
        if (spec.also) asks.push({ id: `${spec.id}:also`, type: "top", field: `${spec.field},${spec.also}`, metric, n: (spec.n ?? 10) * 5, where: spec.where });
      }
    }
    const got = await data.batch(ask, asks, signal);
    const panels = new Map<string, Result>();
    for (const spec of shown) {
      if (spec.kind === "inout") panels.set(spec.id, [got.hist("in"), got.hist("out")]);
      else if (spec.kind === "hist") panels.set(spec.id, got.hist(spec.id));
      else if (!this.available(spec)) panels.set(spec.id, UNAVAILABLE);
      else if (spec.kind === "map") panels.set(spec.id, { dst: got.top(`${spec.id}:dst`), src: got.top(`${spec.id}:src`) });
      else if (spec.also) {
        // Each value's first pair names it (the pairs come ranked, so the busiest pair wins).
        const top = got.top(spec.id);
        const pairs = new Map<string, string>();
        for (const b of got.top(`${spec.id}:also`).buckets) if (!pairs.has(b.key) && b.also?.[0] !== data.MISSING) pairs.set(b.key, b.also![0]);
        panels.set(spec.id, { ...top, buckets: top.buckets.map((b) => ({ ...b, also: pairs.has(b.key) ? [pairs.get(b.key)!] : undefined })) });
      } else panels.set(spec.id, got.top(spec.id));
    }
    return { metrics: got.metrics("metrics"), actions: got.top("actions"), panels };
  }

  /** Whether the server has the panel's fields (a server without the estate has no names). */
  private available(spec: PanelSpec): boolean {
    if (!spec.estate) return true;
    const need = spec.kind === "map" ? ["dst_country", "src_country"] : [spec.field!, ...(spec.also ? [spec.also] : [])];
    return need.every((n) => this.ctx.fields.some((f) => f.name === n));
  }

  private async draw(shown: PanelSpec[], s: State, answers: Answers): Promise<void> {
    this.renderStats(answers);
    const maps: Promise<void>[] = [];
    for (const spec of shown) {
      const result = answers.panels.get(spec.id);
      if (result === undefined) continue;
      if (result === UNAVAILABLE) this.panels.get(spec.id)!.empty(NO_NAMES);
      else if (spec.kind === "map") maps.push(this.drawMap(spec, s, result as Geo, answers.metrics.flows));
      else this.drawPanel(spec, s, result as Exclude<Result, Geo | typeof UNAVAILABLE>, answers.metrics.flows);
    }
    await Promise.all(maps);
  }

  /** Ask the names of the addresses the top panels show; draw those panels again with them. */
  private async nameAddresses(shown: PanelSpec[], s: State, answers: Answers, signal: AbortSignal): Promise<void> {
    if (!names.isEnabled()) return;
    const named = shown.filter((p) => p.kind === "top" && names.ADDRESS_FIELDS.has(p.field ?? ""));
    const keys = named.flatMap((p) => ((answers.panels.get(p.id) as data.Top | undefined)?.buckets ?? []).map((b) => b.key));
    if (!keys.some((k) => names.known(k) === undefined && k !== data.MISSING)) return;
    await names.identify(keys);
    if (signal.aborted) return;
    for (const spec of named) {
      const result = answers.panels.get(spec.id);
      if (result !== undefined && result !== UNAVAILABLE) this.drawPanel(spec, s, result as data.Top, answers.metrics.flows);
    }
  }

  private async drawMap(spec: PanelSpec, s: State, geo: Geo, flows: number): Promise<void> {
    const panel = this.panels.get(spec.id)!;
    const metric = spec.metric ?? s.metric;
    const top = geo[s.geo];
    for (const b of panel.tools.querySelectorAll<HTMLButtonElement>("[data-geo]")) b.setAttribute("aria-pressed", String(b.dataset.geo === s.geo));
    const shownAny = top.buckets.some((b) => b.value > 0 && b.key !== data.MISSING);
    const unknown = shownAny && top.total && top.missing ? ` · ${percent(top.missing / top.total)} ${spec.estate}` : "";
    panel.sub.textContent = `· ${s.geo === "dst" ? "destinations" : "sources"} ${by(metric)}${unknown}`;
    const buckets = top.buckets.filter((b) => b.value > 0 && b.key !== data.MISSING);
    if (!buckets.length) {
      panel.empty(flows ? spec.none! : "No flows in this time range.");
      return;
    }
    let w: World;
    try {
      w = await loadWorld();
    } catch (e) {
      panel.dispose();
      this.ctx.fail(e, panel.body);
      return;
    }
    if (this.panels.get(spec.id) !== panel) return;
    const field = `${s.geo}_country`;
    const summary = buckets.slice(0, 3).map((b) => `${w.countryName(b.key)} ${metricValue(metric, b.value)}`).join(", ");
    const chart = panel.chartEl(`Countries ${s.geo === "dst" ? "reached" : "sending"}: ${summary}`, "map");
    chart.set(w.mapOption({ values: buckets, metric, total: top.total }));
    chart.el.dataset.shapes = String(w.shapes);
    if (!chart.el.dataset.wired) {
      chart.el.dataset.wired = "1";
      chart.ec.on("click", (p: unknown) => {
        const x = p as { name?: string; value?: number };
        if (x.name && typeof x.value === "number" && !Number.isNaN(x.value)) this.ctx.addFilter(`${state.get().geo}_country`, x.name);
      });
    }
    panel.body.querySelector(".map-list")?.remove();
    panel.body.append(
      h(
        "ol",
        { class: "map-list", "aria-label": `Top countries, ${s.geo === "dst" ? "destinations" : "sources"}`, "data-testid": "country-list" },
        buckets.slice(0, 8).map((b) =>
          h(
            "li",
            null,
            h(
              "button",
              { class: "cell-link", type: "button", "data-country": b.key, title: `Filter for ${field}: ${b.key}`, onclick: () => this.ctx.addFilter(field, b.key) },
              h("span", { class: "cc" }, b.key),
              " ",
              w.countryName(b.key),
            ),
            h("span", { class: "num" }, metricValue(metric, b.value)),
            h("span", { class: "share" }, top.total ? percent(b.value / top.total) : ""),
          ),
        ),
      ),
    );
    describe(panel, dataTable(spec.title, [field, "country", METRIC_LABEL[metric], "share"], buckets.map((b) => [b.key, w.countryName(b.key), b.value, top.total ? percent(b.value / top.total) : ""])));
  }

  private drawPanel(spec: PanelSpec, s: State, result: data.Top | data.Hist | [data.Hist, data.Hist], flows = 1): void {
    const panel = this.panels.get(spec.id)!;
    const metric = spec.metric ?? s.metric;
    panel.sub.textContent = `· ${spec.sub(s.metric)}`;
    const range = this.ctx.range();
    if (spec.kind === "hist" || spec.kind === "inout") {
      let series: data.Hist["series"];
      let intervalMs: number;
      if (Array.isArray(result)) {
        const [inn, out] = result;
        intervalMs = inn.intervalMs;
        series = [
          { name: "in", key: null, other: false, points: inn.series[0]?.points ?? [] },
          { name: "out", key: null, other: false, points: out.series[0]?.points ?? [] },
        ];
      } else {
        const hist = result as data.Hist;
        intervalMs = hist.intervalMs;
        series = hist.series;
      }
      const sums = series.map((x) => x.points.reduce((b, p) => b + p[1], 0));
      if (!sums.some((v) => v > 0)) {
        panel.empty(spec.kind === "inout" ? "No traffic between public and private addresses in this range." : "No flows in this time range.");
        return;
      }
      const chart = panel.chartEl(`${spec.title}: ${series.map((x, i) => `${x.name} ${metricValue(metric, sums[i])}`).join(", ")}`);
      chart.set(
        timeOption({ series, kind: spec.kind === "inout" ? "area" : "bar", stack: spec.kind !== "inout", metric, intervalMs, range, brush: true }),
      );
      if (!chart.el.dataset.wired) {
        chart.el.dataset.wired = "1";
        enableBrush(chart, (f, t) => this.ctx.zoom(f, t));
        if (spec.split) {
          chart.ec.on("click", (p: unknown) => {
            const name = (p as { seriesName?: string }).seriesName;
            const current = this.answers?.panels.get(spec.id) as data.Hist | undefined;
            const key = current?.series.find((x) => x.name === name)?.key;
            if (key) this.ctx.addFilter(spec.split!, key);
          });
        }
      }
      const points = series[0]?.points ?? [];
      describe(panel, dataTable(spec.title, ["time", ...series.map((x) => x.name)], points.map((p, i) => [new Date(p[0]).toISOString(), ...series.map((x) => x.points[i]?.[1] ?? 0)])));
      return;
    }
    const top = result as data.Top;
    const shown = (x: data.TopValue) => x.value > 0 && !(spec.estate && x.key === data.MISSING);
    const buckets = top.buckets.filter(shown);
    if (spec.estate && buckets.length && top.total && top.missing) panel.sub.textContent += ` · ${percent(top.missing / top.total)} ${spec.estate}`;
    if (!buckets.length) {
      panel.empty(spec.estate && flows ? spec.none! : spec.where ? "No rejected flows in this time range." : "No flows in this time range.");
      return;
    }
    const address = names.ADDRESS_FIELDS.has(spec.field!);
    const also = new Map(top.buckets.map((b) => [b.key, b.also?.[0]]));
    const label = spec.also
      ? (k: string) => {
          const asn = also.get(k);
          return asn && asn !== data.MISSING ? `AS${asn} ${k}` : k;
        }
      : names.valueWithName(spec.field!, valueLabel(spec.field!));
    const summary = buckets.slice(0, 3).map((b) => `${label(b.key)} ${metricValue(metric, b.value)}`).join(", ");
    const chart = panel.chartEl(`${spec.title}: ${summary}`);
    if (spec.kind === "pie") {
      const slices = top.other > 0 ? [...buckets, { key: "Other", value: top.other }] : buckets;
      chart.set(pieOption({ buckets: slices, metric, total: top.total, label }));
    } else {
      const detail = address ? names.hoverHtml : undefined;
      chart.set(topOption({ buckets, metric, horizontal: true, color: spec.color, total: top.total, label, detail, labelWidth: address || spec.estate ? 210 : undefined }));
    }
    if (!chart.el.dataset.wired) {
      chart.el.dataset.wired = "1";
      chart.ec.on("click", (p: unknown) => {
        const i = (p as { dataIndex?: number }).dataIndex ?? -1;
        const current = this.answers?.panels.get(spec.id) as data.Top | undefined;
        const b = current?.buckets.filter(shown)[i];
        if (b && b.key !== data.MISSING) this.ctx.addFilter(spec.field!, b.key);
      });
    }
    const share = (b: data.TopValue) => (top.total ? percent(b.value / top.total) : "");
    if (address) {
      // The address whole in its own column, its name in the next.
      const name = (k: string) => names.label(names.known(k)) ?? "";
      describe(panel, dataTable(spec.title, [spec.field!, "name", METRIC_LABEL[metric], "share"], buckets.map((b) => [b.key, name(b.key), b.value, share(b)])));
    } else {
      describe(panel, dataTable(spec.title, [spec.field!, METRIC_LABEL[metric], "share"], buckets.map((b) => [label(b.key), b.value, share(b)])));
    }
  }

  private renderStats(a: Answers): void {
    const m = a.metrics;
    const rejected = a.actions.buckets.find((b) => b.key === "REJECT")?.value ?? 0;
    const card = (id: string, label: string, value: string, note: string, title: string, cls = "") =>
      h(
        "div",
        { class: `panel stat ${cls}`, title, "data-testid": `stat-${id}` },
        h("div", { class: "stat-label" }, label),
        h("div", { class: "stat-value" }, value),
        h("div", { class: "stat-note" }, note),
      );
    const reject = h("button", {
      class: "cell-link",
      type: "button",
      style: "font-size:12px",
      onclick: () => this.ctx.addFilter("action", "REJECT"),
    }, "show only rejected");
    const rejectedCard = card("rejected", "Rejected", human(rejected), m.flows ? `${percent(rejected / m.flows)} of flows · ` : "", `${exact(rejected)} rejected flows`, "reject");
    rejectedCard.querySelector(".stat-note")!.append(reject);
    this.stats.replaceChildren(
      card("flows", "Flows", human(m.flows), "flow records", `${exact(m.flows)} flows`),
      card("bytes", "Bytes", bytes(m.bytes), `${human(m.packets)} packets`, `${exact(m.bytes)} bytes, ${exact(m.packets)} packets`),
      rejectedCard,
      card("sources", "Sources", human(m.sources), "distinct addresses", `${exact(m.sources)} distinct source addresses`),
      card("destinations", "Destinations", human(m.destinations), "distinct addresses", `${exact(m.destinations)} distinct destination addresses`),
    );
  }
}
