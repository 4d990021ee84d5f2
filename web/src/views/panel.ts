// A dashboard or Visualize panel: a titled card holding one chart, with a busy bar while its
// data is on the way and a readable message when it has none.

import { Chart } from "../charts";
import { h } from "../dom";

export class Panel {
  readonly el: HTMLElement;
  readonly body: HTMLElement;
  readonly title: HTMLElement;
  readonly sub: HTMLElement;
  readonly tools: HTMLElement;
  private chart: Chart | null = null;

  constructor(id: string, title: string, cls = "", testid = id) {
    this.title = h("h2", { id: `${id}-title` }, title);
    this.sub = h("span", { class: "sub" });
    this.tools = h("div", { class: "tools" });
    this.body = h("div", { class: "panel-body" });
    this.el = h(
      "section",
      { class: `panel ${cls}`, "aria-labelledby": `${id}-title`, "data-testid": `panel-${testid}`, "data-panel": id },
      h("div", { class: "panel-head" }, this.title, this.sub, this.tools),
      this.body,
    );
  }

  loading(on: boolean): void {
    this.el.classList.toggle("busy", on);
    this.el.setAttribute("aria-busy", String(on));
  }

  /** The panel's chart, made on first use (after an empty or error message it is made anew). */
  chartEl(label: string, extra = ""): Chart {
    if (!this.chart || !this.body.contains(this.chart.el)) {
      this.chart?.dispose();
      const el = h("div", { class: `chart ${extra}`, role: "img", "aria-label": label });
      this.body.replaceChildren(el);
      this.chart = new Chart(el);
    }
    this.chart.el.setAttribute("aria-label", label);
    return this.chart;
  }

  empty(message: string): void {
    this.dispose();
    this.body.replaceChildren(h("div", { class: "empty" }, message));
  }

  dispose(): void {
    this.chart?.dispose();
    this.chart = null;
  }
}

/** Put a chart's numbers beside it as a hidden table for screen readers. */
export function describe(panel: Panel, table: HTMLElement): void {
  panel.body.querySelector(".chart-data")?.remove();
  panel.body.append(table);
}
