// Discover: the field sidebar (each field's top values with their share; include, exclude,
// visualize, show as a column), the hit count, the time histogram (drag to zoom) and the flow
// table (sortable, paged; a row expands to every field; addresses and ports filter on click).

import { Chart, dataTable, enableBrush, timeOption } from "../charts";
import * as data from "../data";
import { h, ICONS, icon, uid } from "../dom";
import { bytes, dateTime, duration, exact, human, percent } from "../format";
import * as names from "../names";
import type { FieldInfo } from "../querybar";
import * as state from "../state";
import type { State } from "../state";
import { autoInterval } from "../time";
import type { Ctx, Reason, View } from "../view";

const PAGE_SIZE = 50;
const CLICKABLE = new Set(["srcaddr", "dstaddr", "pkt_srcaddr", "pkt_dstaddr", "srcport", "dstport", "interface_id", "action", "protocol_name", "instance_id", "subnet_id", "vpc_id"]);
const NUMERIC_COLS = new Set(["srcport", "dstport", "packets", "bytes", "protocol", "version", "tcp_flags", "src_asn", "dst_asn"]);
// The estate's fields (who each side is): every value of them filters on click too.
const ESTATE = /^(src|dst)_(name|kind|resource_id|vpc_id|subnet_id|az|service|country|asn|as_org|network|scope|security_groups)$/;
const TYPE_BADGE: Record<FieldInfo["type"], [string, string]> = {
  num: ["#", "t-num"],
  ip: ["IP", "t-ip"],
  str: ["t", "t-str"],
  time: ["d", "t-time"],
  list: ["[]", "t-list"],
};

function cell(col: string, v: unknown): string {
  if (v === null || v === undefined) return "–";
  if (col === "start_time" || col === "end_time") return dateTime(String(v));
  if (col === "bytes" && typeof v === "number") return bytes(v);
  if (typeof v === "number") return col === "packets" ? exact(v) : String(v);
  if (Array.isArray(v)) return v.length ? v.map(String).join(", ") : "–";
  return String(v);
}

export class DiscoverView implements View {
  private sidebar!: HTMLElement;
  private fieldList!: HTMLElement;
  private fieldFilter!: HTMLInputElement;
  private hits!: HTMLElement;
  private histBox!: HTMLElement;
  private table!: HTMLElement;
  private pager!: HTMLElement;
  private chart: Chart | null = null;
  private open = new Set<string>();
  private expanded = new Set<number>();
  private abort: AbortController | null = null;
  private hist: data.Hist | null = null;
  private page: data.Page | null = null;
  private total = 0;
  private metrics: data.Metrics | null = null;
  private cursors = new Map<number, string>([[1, ""]]);

  constructor(private readonly ctx: Ctx) {}

  mount(root: HTMLElement): void {
    const filterId = uid("field-filter");
    this.fieldFilter = h("input", {
      class: "input",
      id: filterId,
      type: "search",
      placeholder: "Search field names",
      "aria-label": "Search field names",
      oninput: () => this.renderFields(state.get()),
    });
    this.fieldList = h("div");
    this.sidebar = h("aside", { class: "panel sidebar", "aria-label": "Fields", "data-testid": "field-sidebar" }, h("h2", null, "Fields"), this.fieldFilter, this.fieldList);
    this.hits = h("div", { class: "hits", "aria-live": "polite", "data-testid": "hits" });
    this.histBox = h("div", { class: "panel-body hist", "data-testid": "histogram" });
    this.table = h("div", { style: "overflow-x:auto" });
    this.pager = h("nav", { class: "pager", "aria-label": "Pages" });
    root.append(
      h(
        "div",
        { class: "discover" },
        this.sidebar,
        h(
          "div",
          { class: "results" },
          h("section", { class: "panel", "aria-label": "Flows over time" }, this.hits, this.histBox),
          h("section", { class: "panel", "aria-label": "Flow records", "data-testid": "flow-table" }, this.table, this.pager),
        ),
      ),
    );
  }

  unmount(): void {
    this.abort?.abort();
    this.chart?.dispose();
  }

  async update(s: State, prev: State | null, reason: Reason): Promise<void> {
    if (reason === "theme") {
      this.drawHist();
      return;
    }
    const sameQuestion =
      prev !== null &&
      prev.q === s.q &&
      prev.from === s.from &&
      prev.to === s.to &&
      state.fullQuery(prev) === state.fullQuery(s) &&
      reason === "state";
    this.abort?.abort();
    const ac = new AbortController();
    this.abort = ac;
    const ask = this.ctx.ask();
    this.ctx.busy(true);
    if (!sameQuestion) this.expanded.clear();
    this.renderFields(s);
    if (!sameQuestion) for (const f of this.open) void this.loadField(f, s, ac.signal);
    const search = { type: "search" as const, id: "rows", sort: s.sort, size: PAGE_SIZE, cursor: s.cursor };
    try {
      if (sameQuestion) {
        // Paging, sorting or columns: only the rows change.
        this.showPage(s, await data.search({ ...ask, ...search }, ac.signal));
        await this.names(ac.signal);
      } else {
        const got = await data.batch(
          ask,
          [
            { id: "hist", type: "hist", metric: "count", intervalMs: autoInterval(ask.range, 100) },
            { id: "metrics", type: "metrics" },
            search,
          ],
          ac.signal,
        );
        if (ac.signal.aborted) return;
        this.hist = got.hist("hist");
        this.metrics = got.metrics("metrics");
        this.total = this.metrics.flows;
        this.drawHist();
        this.renderHits();
        this.showPage(s, got.search("rows"));
        await this.names(ac.signal);
      }
    } catch (e) {
      if (ac.signal.aborted) return;
      this.page = null;
      this.pager.replaceChildren();
      if (!sameQuestion) {
        this.chart?.dispose();
        this.chart = null;
        this.hits.replaceChildren();
        this.histBox.replaceChildren(h("div", { class: "empty" }, "No data: see the message above."));
      }
      this.ctx.fail(e, this.table);
    } finally {
      this.ctx.busy(false);
    }
  }

  /** Names for every address and interface on the page: one request, then filled in place. */
  private async names(signal: AbortSignal): Promise<void> {
    const rows = this.page?.rows ?? [];
    const wanted: string[] = [];
    for (const r of rows) {
      for (const f of names.ADDRESS_FIELDS) {
        const v = r[f];
        if (typeof v === "string" && v) wanted.push(v);
      }
    }
    if (!wanted.length || !names.isEnabled()) return;
    await names.identify(wanted);
    if (!signal.aborted) names.fill(this.table);
  }

  private showPage(s: State, page: data.Page): void {
    this.page = page;
    if (s.page === 1) this.cursors = new Map([[1, ""]]);
    this.cursors.set(s.page, s.cursor);
    if (page.next) this.cursors.set(s.page + 1, page.next);
    this.renderTable(s);
    this.renderFields(s);
  }

  // --- histogram ---

  private renderHits(): void {
    const sum = this.metrics;
    if (!sum) return;
    const interval = this.hist ? ` · ${duration(this.hist.intervalMs)} buckets` : "";
    this.hits.replaceChildren(
      h("strong", { "data-testid": "hit-count" }, exact(sum.flows)),
      h("span", null, sum.flows === 1 ? "flow" : "flows"),
      h("span", { class: "sub" }, `${bytes(sum.bytes)} · ${human(sum.packets)} packets${interval} · drag across the chart to zoom`),
    );
  }

  private drawHist(): void {
    const hist = this.hist;
    if (!hist) return;
    const points = hist.series[0]?.points ?? [];
    if (!points.some((p) => p[1] > 0)) {
      this.chart?.dispose();
      this.chart = null;
      this.histBox.replaceChildren(h("div", { class: "empty" }, "No flows match in this time range. Widen the range or change the query."));
      return;
    }
    if (!this.chart || !this.histBox.contains(this.chart.el)) {
      const el = h("div", { class: "chart", style: "min-height:150px;height:150px", role: "img" });
      this.histBox.replaceChildren(el);
      this.chart = new Chart(el);
      enableBrush(this.chart, (f, t) => this.ctx.zoom(f, t));
    }
    this.chart.el.setAttribute("aria-label", `Flows over time, ${duration(hist.intervalMs)} buckets`);
    this.chart.set(
      timeOption({
        series: [{ name: "flows", points }],
        kind: "bar",
        metric: "count",
        intervalMs: hist.intervalMs,
        range: this.ctx.range(),
        brush: true,
      }),
    );
    this.histBox.querySelector(".chart-data")?.remove();
    this.histBox.append(dataTable("Flows over time", ["time", "flows"], points.map((p) => [new Date(p[0]).toISOString(), p[1]])));
  }

  // --- field sidebar ---

  private renderFields(s: State): void {
    const term = this.fieldFilter.value.trim().toLowerCase();
    const fields = this.ctx.fields.filter((f) => !term || f.name.includes(term));
    const rows = this.page?.rows ?? [];
    const present = (f: FieldInfo) => rows.some((r) => { const v = r[f.name]; return v !== null && v !== undefined && v !== "" && !(Array.isArray(v) && !v.length); });
    const selected = s.cols.map((c) => fields.find((f) => f.name === c)).filter((f): f is FieldInfo => !!f);
    const rest = fields.filter((f) => !s.cols.includes(f.name));
    const available = rows.length ? rest.filter(present) : rest;
    const empty = rows.length ? rest.filter((f) => !present(f)) : [];
    const item = (f: FieldInfo) => {
      const detailsId = `field-${f.name}-details`;
      const isOpen = this.open.has(f.name);
      const [badge, cls] = TYPE_BADGE[f.type];
      const li = h(
        "li",
        { class: "field-item", "data-field": f.name },
        h(
          "button",
          {
            class: "field-name",
            type: "button",
            "aria-expanded": String(isOpen),
            "aria-controls": detailsId,
            title: f.doc ?? f.name,
            onclick: () => {
              if (this.open.has(f.name)) this.open.delete(f.name);
              else {
                this.open.add(f.name);
                void this.loadField(f.name, state.get(), this.abort?.signal);
              }
              this.renderFields(state.get());
            },
          },
          h("span", { class: `field-type ${cls}`, title: f.type }, h("span", { "aria-hidden": "true" }, badge), h("span", { class: "sr-only" }, `${f.type} field`)),
          h("span", null, f.name),
        ),
      );
      if (isOpen) {
        li.append(
          h(
            "div",
            { class: "field-details", id: detailsId, "data-testid": `field-details-${f.name}` },
            this.details.get(f.name) ?? h("div", { class: "sub" }, "Loading…"),
          ),
        );
      }
      return li;
    };
    const list = (title: string, items: FieldInfo[]) => h("ul", { class: "field-list", "aria-label": title }, items.map(item));
    const head = (title: string, n: number) => h("h3", null, h("span", null, title), h("span", null, String(n)));
    const parts: HTMLElement[] = [];
    if (selected.length) parts.push(head("Selected fields", selected.length), list("Selected fields", selected));
    if (available.length) parts.push(head("Available fields", available.length), list("Available fields", available));
    if (empty.length) {
      const open = this.emptyOpen || (term !== "" && !available.length);
      const details = h(
        "details",
        { class: "empty-fields", open },
        h("summary", null, h("span", null, "Empty fields"), h("span", { class: "sub" }, ` ${empty.length} · no value on this page`)),
        list("Empty fields", empty),
      );
      details.addEventListener("toggle", () => (this.emptyOpen = details.open));
      parts.push(details);
    }
    this.fieldList.replaceChildren(...parts);
  }

  private emptyOpen = false;
  private details = new Map<string, HTMLElement>();

  private async loadField(field: string, s: State, signal?: AbortSignal): Promise<void> {
    const ask = this.ctx.ask();
    try {
      const sum = await data.fieldSummary(ask, field, 5, signal);
      const inCols = s.cols.includes(field);
      const box = h(
        "div",
        null,
        h("h3", null, sum.distinct ? `Top ${Math.min(5, sum.distinct)} of ${exact(sum.distinct)} values` : "No values"),
        sum.values.length
          ? h(
              "ul",
              { class: "topvals" },
              sum.values.map((v) =>
                h(
                  "li",
                  { class: "topval", "data-value": v.value },
                  h("span", { class: "tv-value", title: `${v.value}: ${exact(v.count)} flows` }, v.value),
                  h("span", { class: "tv-share" }, percent(v.share)),
                  h(
                    "span",
                    { style: "display:flex;gap:2px" },
                    h("button", { class: "btn ghost icon-only", type: "button", "aria-label": `Filter for ${field}: ${v.value}`, title: "Filter for value", "data-testid": "include", onclick: () => this.ctx.addFilter(field, v.value) }, icon(ICONS.plus)),
                    h("button", { class: "btn ghost icon-only", type: "button", "aria-label": `Filter out ${field}: ${v.value}`, title: "Filter out value", "data-testid": "exclude", onclick: () => this.ctx.addFilter(field, v.value, true) }, icon(ICONS.minus)),
                  ),
                  h("span", { class: "tv-bar", "aria-hidden": "true" }, h("span", { style: `width:${Math.max(1, v.share * 100)}%` })),
                ),
              ),
            )
          : h("p", { class: "sub" }, "No values in this range."),
        sum.missing ? h("p", { class: "tv-missing" }, `${percent(sum.total ? sum.missing / sum.total : 0)} of flows have no ${field}`) : null,
        h(
          "div",
          { style: "display:flex;gap:6px" },
          h("button", { class: "btn small primary", type: "button", "data-testid": "visualize-field", onclick: () => state.update({ view: "visualize", vfield: field, vtype: "bar", vsize: 20, vsplit: "" }) }, icon(ICONS.chart), "Visualize"),
          h(
            "button",
            {
              class: "btn small",
              type: "button",
              onclick: () => {
                const cols = state.get().cols;
                state.update({ cols: inCols ? cols.filter((c) => c !== field) : [...cols, field] });
              },
            },
            inCols ? "Remove column" : "Add column",
          ),
        ),
      );
      this.details.set(field, box);
    } catch (e) {
      if (e instanceof DOMException && e.name === "AbortError") return;
      const box = h("div");
      this.ctx.fail(e, box);
      this.details.set(field, box);
    }
    const el = this.fieldList.querySelector(`[data-testid="field-details-${CSS.escape(field)}"]`);
    el?.replaceChildren(this.details.get(field)!);
  }

  // --- table ---

  private renderTable(s: State): void {
    const page = this.page;
    if (!page) return;
    const [sortCol, sortDir] = s.sort.split(":");
    const cols = s.cols.filter((c) => this.ctx.fields.some((f) => f.name === c));
    if (!page.rows.length) {
      this.table.replaceChildren(h("div", { class: "empty" }, "No flows match."));
      this.pager.replaceChildren();
      return;
    }
    const head = h(
      "tr",
      null,
      h("th", { class: "expander" }, h("span", { class: "sr-only" }, "Details")),
      cols.map((c) => {
        const dir = c === sortCol ? sortDir : "";
        const next = dir === "desc" ? "asc" : "desc";
        return h(
          "th",
          { scope: "col", class: NUMERIC_COLS.has(c) ? "num" : "", "aria-sort": dir === "asc" ? "ascending" : dir === "desc" ? "descending" : "none" },
          h(
            "button",
            { type: "button", "data-sort": c, onclick: () => state.update({ sort: `${c}:${next}` }), "aria-label": `Sort by ${c} ${next === "asc" ? "ascending" : "descending"}` },
            c,
            dir ? icon(dir === "asc" ? ICONS.up : ICONS.down) : null,
          ),
        );
      }),
    );
    const body = h("tbody");
    page.rows.forEach((r, i) => {
      const isOpen = this.expanded.has(i);
      const detailsId = `doc-${i}`;
      const tr = h(
        "tr",
        { class: "row", "data-row": String(i) },
        h(
          "td",
          { class: "expander" },
          h(
            "button",
            {
              type: "button",
              "aria-expanded": String(isOpen),
              "aria-controls": detailsId,
              "aria-label": `Show every field of flow ${i + 1}`,
              "data-testid": "expand-row",
              onclick: () => {
                if (this.expanded.has(i)) this.expanded.delete(i);
                else this.expanded.add(i);
                this.renderTable(state.get());
                (this.table.querySelector(`tr[data-row="${i}"] .expander button`) as HTMLButtonElement | null)?.focus();
              },
            },
            icon(ICONS.chevron),
          ),
        ),
        cols.map((c) => {
          const v = r[c];
          const text = cell(c, v);
          const cls = `${NUMERIC_COLS.has(c) ? "num " : ""}${/addr|port|_id$/.test(c) ? "mono" : ""}`;
          if (c === "action" && v) return h("td", null, h("button", { class: `cell-link tag ${v}`, type: "button", title: `Filter for action: ${v}`, onclick: () => this.ctx.addFilter(c, String(v)) }, String(v)));
          if (names.ADDRESS_FIELDS.has(c) && typeof v === "string" && v) {
            const own = names.ROW_NAME[c];
            const rowName = own && typeof r[own] === "string" ? (r[own] as string) : null;
            return h(
              "td",
              { class: `${cls} addr` },
              h("button", { class: "cell-link", type: "button", "data-addr-owner": "", "aria-label": `Filter for ${c}: ${v}`, "data-filter": c, onclick: () => this.ctx.addFilter(c, v) }, text),
              names.slot(v, rowName),
            );
          }
          if (Array.isArray(v) && (CLICKABLE.has(c) || ESTATE.test(c))) {
            return h("td", { class: cls }, v.length ? v.map((x, j) => [j ? ", " : "", h("button", { class: "cell-link", type: "button", title: `Filter for ${c}: ${x}`, "data-filter": c, onclick: () => this.ctx.addFilter(c, String(x)) }, String(x))]) : "–");
          }
          if ((CLICKABLE.has(c) || ESTATE.test(c)) && v !== null && v !== undefined) {
            return h("td", { class: cls }, h("button", { class: "cell-link", type: "button", title: `Filter for ${c}: ${v}`, "data-filter": c, onclick: () => this.ctx.addFilter(c, String(v)) }, text));
          }
          return h("td", { class: cls, title: typeof v === "number" ? exact(v) : undefined }, text);
        }),
      );
      body.append(tr);
      if (isOpen) body.append(this.doc(r, cols.length + 1, detailsId));
    });
    this.table.replaceChildren(
      h("table", { class: "flows", "aria-label": "Flow records", "aria-rowcount": String(this.total || page.total) }, h("thead", null, head), body),
    );
    const total = page.total;
    const first = (s.page - 1) * PAGE_SIZE + 1;
    const last = first + page.rows.length - 1;
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    const prev = this.cursors.get(s.page - 1);
    this.pager.replaceChildren(
      h("span", { "data-testid": "page-info" }, `${exact(first)}–${exact(last)} of ${exact(total)}`),
      h("button", { class: "btn small", type: "button", disabled: s.page <= 1, "aria-label": "First page", onclick: () => state.update({ page: 1, cursor: "" }) }, "« First"),
      h(
        "button",
        {
          class: "btn small",
          type: "button",
          disabled: s.page <= 1 || prev === undefined,
          "aria-label": "Previous page",
          onclick: () => state.update({ page: s.page - 1, cursor: prev ?? "" }),
        },
        "‹ Prev",
      ),
      h("span", null, `Page ${exact(s.page)} of ${exact(pages)}`),
      h(
        "button",
        {
          class: "btn small",
          type: "button",
          disabled: !page.next,
          "aria-label": "Next page",
          "data-testid": "next-page",
          onclick: () => state.update({ page: s.page + 1, cursor: page.next ?? "" }),
        },
        "Next ›",
      ),
    );
  }

  private doc(r: Record<string, unknown>, span: number, id: string): HTMLTableRowElement {
    const entries = Object.entries(r).filter(([, v]) => v !== null && v !== undefined && v !== "" && !(Array.isArray(v) && !v.length));
    const empty = Object.keys(r).length - entries.length;
    return h(
      "tr",
      { class: "doc", id },
      h(
        "td",
        { colspan: String(span) },
        h(
          "dl",
          null,
          entries.map(([k, v]) => {
            const buttons = (x: string | number) => [
              h("button", { class: "btn ghost icon-only", type: "button", "aria-label": `Filter for ${k}: ${x}`, title: "Filter for value", onclick: () => this.ctx.addFilter(k, String(x)) }, icon(ICONS.plus)),
              h("button", { class: "btn ghost icon-only", type: "button", "aria-label": `Filter out ${k}: ${x}`, title: "Filter out value", onclick: () => this.ctx.addFilter(k, String(x), true) }, icon(ICONS.minus)),
            ];
            const own = names.ROW_NAME[k];
            const rowName = own && typeof r[own] === "string" ? (r[own] as string) : null;
            return [
              h("dt", null, k),
              Array.isArray(v)
                ? h("dd", { class: "list" }, v.map((x) => h("span", { class: "list-item" }, h("span", null, String(x)), typeof x === "string" || typeof x === "number" ? buttons(x) : null)))
                : h(
                    "dd",
                    null,
                    h("span", names.ADDRESS_FIELDS.has(k) ? { "data-addr-owner": "" } : null, k === "bytes" && typeof v === "number" ? `${exact(v)} (${bytes(v)})` : typeof v === "object" ? JSON.stringify(v) : String(v)),
                    names.ADDRESS_FIELDS.has(k) && typeof v === "string" ? names.slot(v, rowName) : null,
                    typeof v === "string" || typeof v === "number" ? buttons(v) : null,
                  ),
            ];
          }),
        ),
        empty ? h("p", { class: "sub", style: "margin:8px 0 0;color:var(--text-3)" }, `${empty} fields are empty in this record.`) : null,
      ),
    );
  }
}
