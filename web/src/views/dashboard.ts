// The "VPC traffic" dashboard: headline numbers, traffic over time by action, bytes in and out of
// the VPC, protocols, destination ports, top talkers, rejected sources and busiest interfaces.
// All panels are asked in one POST /api/dashboard (one read of the store) under the query, the
// filter pills and the time range; clicking a bar, slice or series adds a filter, and dragging
// across a time chart zooms into that range.

import { dataTable, enableBrush, pieOption, timeOption, topOption } from "../charts";
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
  kind: "hist" | "top" | "pie" | "inout";
  field?: string;
  split?: string;
  n?: number;
  where?: string; // the panel's own filter, added to the dashboard's
  color?: string;
  sub: (m: Metric) => string;
  metric?: Metric; // a fixed measure (otherwise the dashboard's)
}

const by = (m: Metric) => `by ${METRIC_LABEL[m].toLowerCase()}`;

export const PANELS: PanelSpec[] = [
  { id: "traffic", title: "Traffic over time by action", span: "span-8", kind: "hist", split: "action", sub: (m) => METRIC_LABEL[m] },
  { id: "protocols", title: "Protocols", span: "span-4", kind: "pie", field: "protocol_name", n: 6, sub: by },
  { id: "inout", title: "Bytes in / out of the VPC", span: "span-6", kind: "inout", metric: "bytes", sub: () => "public ↔ private IPv4" },
  { id: "ports", title: "Top destination ports", span: "span-6", kind: "top", field: "dstport", n: 12, color: "#6092C0", sub: by },
  { id: "talkers", title: "Top talkers", span: "span-4", kind: "top", field: "srcaddr", n: 10, color: "#54B399", metric: "bytes", sub: () => "sources by bytes" },
  { id: "rejected", title: "Top rejected sources", span: "span-4", kind: "top", field: "srcaddr", n: 10, where: "action:REJECT", color: "#E7664C", metric: "count", sub: () => "by rejected flows" },
  { id: "interfaces", title: "Busiest interfaces", span: "span-4", kind: "top", field: "interface_id", n: 10, color: "#9170B8", sub: by },
];

function and(q: string, extra?: string): string {
  if (!extra) return q;
  return q ? `(${q}) and ${extra}` : extra;
}

interface Answers {
  metrics: data.Metrics;
  actions: data.Top;
  panels: Map<string, data.Top | data.Hist | [data.Hist, data.Hist]>;
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
      this.draw(shown, s, known);
      return;
    }
    this.abort?.abort();
    const ac = new AbortController();
    this.abort = ac;
    for (const spec of shown) this.panels.get(spec.id)!.loading(true);
    this.ctx.busy(true);
    try {
      const t0 = performance.now();
      const answers = await this.fetch(shown, s, ask, ac.signal);
      if (ac.signal.aborted) return;
      this.answers = answers;
      this.asked = question;
      const t1 = performance.now();
      this.draw(shown, s, answers);
      // for the browser test's timing log: waiting for the answers vs drawing them
      timings.dashboardFetch = t1 - t0;
      timings.dashboardDraw = performance.now() - t1;
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
                vfield: spec.field!,
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
      } else {
        asks.push({ id: spec.id, type: "top", field: spec.field!, metric, n: spec.n ?? 10, where: spec.where });
      }
    }
    const got = await data.batch(ask, asks, signal);
    const panels = new Map<string, data.Top | data.Hist | [data.Hist, data.Hist]>();
    for (const spec of shown) {
      if (spec.kind === "inout") panels.set(spec.id, [got.hist("in"), got.hist("out")]);
      else if (spec.kind === "hist") panels.set(spec.id, got.hist(spec.id));
      else panels.set(spec.id, got.top(spec.id));
    }
    return { metrics: got.metrics("metrics"), actions: got.top("actions"), panels };
  }

  private draw(shown: PanelSpec[], s: State, answers: Answers): void {
    this.renderStats(answers);
    for (const spec of shown) {
      const result = answers.panels.get(spec.id);
      if (result !== undefined) this.drawPanel(spec, s, result);
    }
  }

  private drawPanel(spec: PanelSpec, s: State, result: data.Top | data.Hist | [data.Hist, data.Hist]): void {
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
    const buckets = top.buckets.filter((b) => b.value > 0);
    if (!buckets.length) {
      panel.empty(spec.where ? "No rejected flows in this time range." : "No flows in this time range.");
      return;
    }
    const label = valueLabel(spec.field!);
    const summary = buckets.slice(0, 3).map((b) => `${label(b.key)} ${metricValue(metric, b.value)}`).join(", ");
    const chart = panel.chartEl(`${spec.title}: ${summary}`);
    if (spec.kind === "pie") {
      const slices = top.other > 0 ? [...buckets, { key: "Other", value: top.other }] : buckets;
      chart.set(pieOption({ buckets: slices, metric, total: top.total, label }));
    } else {
      chart.set(topOption({ buckets, metric, horizontal: true, color: spec.color, total: top.total, label }));
    }
    if (!chart.el.dataset.wired) {
      chart.el.dataset.wired = "1";
      chart.ec.on("click", (p: unknown) => {
        const i = (p as { dataIndex?: number }).dataIndex ?? -1;
        const current = this.answers?.panels.get(spec.id) as data.Top | undefined;
        const b = current?.buckets.filter((x) => x.value > 0)[i];
        if (b && b.key !== data.MISSING) this.ctx.addFilter(spec.field!, b.key);
      });
    }
    describe(panel, dataTable(spec.title, [spec.field!, METRIC_LABEL[metric], "share"], buckets.map((b) => [label(b.key), b.value, top.total ? percent(b.value / top.total) : ""])));
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
