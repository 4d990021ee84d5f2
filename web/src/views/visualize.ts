// Visualize: top-N of any field by flows, bytes or packets, optionally split by a second field,
// drawn as bar, line, area, pie or table; and a Sankey of source → destination → port.
// Clicking a bar or slice adds a filter, like everywhere else.

import { dataTable, type Link, pieOption, sankeyOption, topOption } from "../charts";
import * as data from "../data";
import { h, uid } from "../dom";
import { exact, METRIC_LABEL, type Metric, metricValue, percent } from "../format";
import * as names from "../names";
import { valueLabel } from "../ports";
import * as state from "../state";
import type { ChartType, State } from "../state";
import type { Ctx, Reason, View } from "../view";
import { describe, Panel } from "./panel";

const TYPES: [ChartType, string][] = [
  ["bar", "Bar"],
  ["line", "Line"],
  ["area", "Area"],
  ["pie", "Pie"],
  ["table", "Table"],
  ["sankey", "Sankey"],
];
const SIZES = [5, 10, 20, 50];

type Result = { kind: "top"; top: data.Top } | { kind: "sankey"; links: Link[] };

export class VisualizeView implements View {
  private panel!: Panel;
  private typeButtons: HTMLButtonElement[] = [];
  private field!: HTMLSelectElement;
  private metric!: HTMLSelectElement;
  private split!: HTMLSelectElement;
  private size!: HTMLSelectElement;
  private fieldRow!: HTMLElement;
  private splitRow!: HTMLElement;
  private abort: AbortController | null = null;
  private result: Result | null = null;

  constructor(private readonly ctx: Ctx) {}

  mount(root: HTMLElement): void {
    const names = this.ctx.fields.filter((f) => f.type !== "time").map((f) => f.name);
    const select = (testid: string, options: [string, string][], onchange: () => void) =>
      h("select", { class: "input", id: uid(testid), "data-testid": testid, onchange }, options.map(([v, t]) => h("option", { value: v }, t)));
    this.field = select("vis-field", names.map((n) => [n, n]), () => state.update({ vfield: this.field.value }));
    this.metric = select("vis-metric", (["count", "bytes", "packets"] as Metric[]).map((m) => [m, METRIC_LABEL[m]]), () => state.update({ vmetric: this.metric.value as Metric }));
    this.split = select("vis-split", [["", "None"], ...names.map((n): [string, string] => [n, n])], () => state.update({ vsplit: this.split.value }));
    this.size = select("vis-size", SIZES.map((n) => [String(n), `Top ${n}`]), () => state.update({ vsize: Number(this.size.value) }));
    this.typeButtons = TYPES.map(([t, label]) =>
      h("button", { class: "btn", type: "button", "data-type": t, "aria-pressed": "false", onclick: () => state.update({ vtype: t }) }, label),
    );
    const lab = (text: string, control: HTMLElement) => h("label", { class: "field", for: control.id }, text, control);
    this.fieldRow = lab("Field", this.field);
    this.splitRow = lab("Split series by", this.split);
    this.panel = new Panel("vis", "", "vis-panel", "visualization");
    root.append(
      h(
        "div",
        { class: "visualize" },
        h(
          "aside",
          { class: "panel vis-controls", "aria-label": "Visualization settings" },
          h("h2", { id: "vis-type-label" }, "Chart"),
          h("div", { class: "type-grid", role: "group", "aria-labelledby": "vis-type-label" }, this.typeButtons),
          h("h2", null, "Data"),
          this.fieldRow,
          lab("Measure", this.metric),
          this.splitRow,
          lab("Size", this.size),
        ),
        this.panel.el,
      ),
    );
  }

  unmount(): void {
    this.abort?.abort();
    this.panel.dispose();
  }

  async update(s: State, prev: State | null, reason: Reason): Promise<void> {
    this.syncControls(s);
    const title =
      s.vtype === "sankey"
        ? `Source → destination → port by ${METRIC_LABEL[s.vmetric].toLowerCase()}`
        : `Top ${s.vsize} ${s.vfield} by ${METRIC_LABEL[s.vmetric].toLowerCase()}${s.vsplit ? `, split by ${s.vsplit}` : ""}`;
    this.panel.title.textContent = title;
    const needsData =
      reason !== "theme" &&
      !(prev && this.result && sameData(prev, s) && (prev.vtype === "sankey") === (s.vtype === "sankey"));
    if (needsData) {
      this.abort?.abort();
      const ac = new AbortController();
      this.abort = ac;
      this.panel.loading(true);
      this.ctx.busy(true);
      try {
        this.result = s.vtype === "sankey" ? await this.sankey(s, ac.signal) : { kind: "top", top: await this.top(s, ac.signal) };
        // The names of the addresses shown, in one request, before drawing.
        await names.identify(addresses(this.result, s.vfield));
        if (ac.signal.aborted) return;
      } catch (e) {
        if (!ac.signal.aborted) {
          this.result = null;
          this.panel.dispose();
          this.ctx.fail(e, this.panel.body);
        }
        return;
      } finally {
        this.panel.loading(false);
        this.ctx.busy(false);
      }
    }
    this.draw(s);
  }

  private syncControls(s: State): void {
    for (const b of this.typeButtons) b.setAttribute("aria-pressed", String(b.dataset.type === s.vtype));
    if (![...this.field.options].some((o) => o.value === s.vfield)) this.field.append(h("option", { value: s.vfield }, s.vfield));
    this.field.value = s.vfield;
    this.metric.value = s.vmetric;
    this.split.value = s.vsplit;
    if (![...this.size.options].some((o) => o.value === String(s.vsize))) this.size.append(h("option", { value: String(s.vsize) }, `Top ${s.vsize}`));
    this.size.value = String(s.vsize);
    const sankey = s.vtype === "sankey";
    this.fieldRow.hidden = sankey;
    this.splitRow.hidden = sankey || s.vtype === "pie";
  }

  private top(s: State, signal: AbortSignal): Promise<data.Top> {
    const split = s.vtype === "pie" ? undefined : s.vsplit || undefined;
    return data.top({ ...this.ctx.ask(), field: s.vfield, metric: s.vmetric, n: s.vsize, split, splitN: 8 }, signal);
  }

  /** The top (source, destination, port) triples, drawn as links source → destination → port. */
  private async sankey(s: State, signal: AbortSignal): Promise<Result> {
    const rows = await data.tuples(this.ctx.ask(), ["srcaddr", "dstaddr", "dstport"], s.vmetric, Math.min(s.vsize, 50) * 2, signal);
    const sum = new Map<string, Link>();
    const add = (source: string, target: string, value: number) => {
      const k = `${source}\u0000${target}`;
      const link = sum.get(k);
      if (link) link.value += value;
      else sum.set(k, { source, target, value });
    };
    for (const r of rows) {
      const [src, dst, port] = r.keys;
      if (!r.value || src === data.MISSING || dst === data.MISSING) continue;
      add(`s:${src}`, `d:${dst}`, r.value);
      add(`d:${dst}`, `p:${valueLabel("dstport")(port)}`, r.value);
    }
    return { kind: "sankey", links: [...sum.values()] };
  }

  private draw(s: State): void {
    const r = this.result;
    if (!r) return;
    if (r.kind === "sankey") {
      if (!r.links.length) return this.panel.empty("No flows in this time range.");
      const chart = this.panel.chartEl(`Sankey of ${r.links.length} flows from source to destination to port`);
      const show = (n: string) => (n.startsWith("p:") ? n.slice(2) : names.withName(n.slice(2)));
      chart.set(sankeyOption(r.links, s.vmetric, show));
      this.wire(chart, s);
      describe(this.panel, dataTable(this.panel.title.textContent ?? "", ["from", "to", METRIC_LABEL[s.vmetric]], r.links.map((l) => [show(l.source), show(l.target), l.value])));
      return;
    }
    const top = r.top;
    const buckets = top.buckets.filter((b) => b.value > 0);
    if (!buckets.length) return this.panel.empty("No flows in this time range.");
    const label = names.valueWithName(s.vfield, valueLabel(s.vfield));
    const address = names.ADDRESS_FIELDS.has(s.vfield);
    this.panel.sub.textContent = top.total ? `· ${metricValue(s.vmetric, top.total)} in all` : "";
    if (s.vtype === "table") {
      this.panel.dispose();
      this.panel.body.replaceChildren(this.table(top, s, label));
      return;
    }
    const summary = buckets.slice(0, 5).map((b) => `${label(b.key)} ${metricValue(s.vmetric, b.value)}`).join(", ");
    const chart = this.panel.chartEl(`${this.panel.title.textContent}: ${summary}`);
    if (s.vtype === "pie") {
      const slices = top.other > 0 ? [...buckets, { key: "Other", value: top.other }] : buckets;
      chart.set(pieOption({ buckets: slices, metric: s.vmetric, total: top.total || undefined, label }));
    }
    else chart.set(topOption({ buckets, metric: s.vmetric, kind: s.vtype as "bar" | "line" | "area", total: top.total || undefined, label, horizontal: false, detail: address ? names.hoverHtml : undefined, labelWidth: address ? 160 : undefined }));
    this.wire(chart, s);
    const splitKeys = [...new Set(buckets.flatMap((b) => (b.parts ?? []).map((p) => p.key)))];
    const name = (k: string) => (address ? [names.label(names.known(k)) ?? ""] : []);
    describe(
      this.panel,
      dataTable(
        this.panel.title.textContent ?? "",
        [s.vfield, ...(address ? ["name"] : []), METRIC_LABEL[s.vmetric], ...splitKeys],
        buckets.map((b) => [address ? b.key : label(b.key), ...name(b.key), b.value, ...splitKeys.map((k) => b.parts?.find((p) => p.key === k)?.value ?? 0)]),
      ),
    );
  }

  private wire(chart: import("../charts").Chart, s: State): void {
    chart.ec.off("click");
    chart.ec.on("click", (p: unknown) => {
      const x = p as { dataType?: string; name?: string; dataIndex?: number; seriesName?: string };
      const r = this.result;
      if (!r) return;
      if (r.kind === "sankey") {
        if (x.dataType !== "node" || !x.name || x.name.endsWith(data.MISSING)) return;
        const [lvl, value] = [x.name.slice(0, 1), x.name.slice(2)];
        const field = lvl === "s" ? "srcaddr" : lvl === "d" ? "dstaddr" : "dstport";
        this.ctx.addFilter(field, field === "dstport" ? value.split(" ")[0] : value);
        return;
      }
      const b = r.top.buckets.filter((v) => v.value > 0)[x.dataIndex ?? -1];
      if (b && b.key !== data.MISSING) this.ctx.addFilter(s.vfield, b.key);
    });
  }

  private table(top: data.Top, s: State, label: (k: string) => string): HTMLElement {
    const splitKeys = [...new Set(top.buckets.flatMap((b) => (b.parts ?? []).map((p) => p.key)))];
    return h(
      "div",
      { class: "vis-table-wrap" },
      h(
        "table",
        { class: "simple", "data-testid": "vis-table" },
        h("caption", { class: "sr-only" }, this.panel.title.textContent ?? ""),
        h(
          "thead",
          null,
          h(
            "tr",
            null,
            h("th", { scope: "col" }, s.vfield),
            h("th", { scope: "col", class: "num" }, METRIC_LABEL[s.vmetric]),
            h("th", { scope: "col", class: "num" }, "Share"),
            splitKeys.map((k) => h("th", { scope: "col", class: "num" }, `${s.vsplit}: ${k}`)),
          ),
        ),
        h(
          "tbody",
          null,
          top.buckets.map((b) =>
            h(
              "tr",
              null,
              h(
                "td",
                { class: "mono", title: names.ADDRESS_FIELDS.has(s.vfield) ? names.hover(b.key) : undefined },
                b.key === data.MISSING ? label(b.key) : h("button", { class: "cell-link", type: "button", onclick: () => this.ctx.addFilter(s.vfield, b.key) }, label(b.key)),
              ),
              h("td", { class: "num", title: exact(b.value) }, metricValue(s.vmetric, b.value)),
              h("td", { class: "num" }, top.total ? percent(b.value / top.total) : ""),
              splitKeys.map((k) => {
                const v = b.parts?.find((p) => p.key === k)?.value ?? 0;
                return h("td", { class: "num" }, v ? metricValue(s.vmetric, v) : "–");
              }),
            ),
          ),
        ),
      ),
    );
  }
}

/** The addresses a result shows (its values when the field is an address; a Sankey's ends). */
function addresses(r: Result, field: string): string[] {
  if (r.kind === "sankey") return r.links.flatMap((l) => [l.source, l.target]).filter((n) => !n.startsWith("p:")).map((n) => n.slice(2));
  return names.ADDRESS_FIELDS.has(field) ? r.top.buckets.map((b) => b.key) : [];
}

function sameData(a: State, b: State): boolean {
  const keys: (keyof State)[] = ["q", "from", "to", "vfield", "vmetric", "vsize"];
  const splitA = a.vtype === "pie" ? "" : a.vsplit;
  const splitB = b.vtype === "pie" ? "" : b.vsplit;
  return keys.every((k) => a[k] === b[k]) && splitA === splitB && state.fullQuery(a) === state.fullQuery(b);
}
