// The time picker: quick ranges, "last N units", an absolute start and end (UTC), and the
// auto-refresh period for live data. It edits `from`, `to` and `refresh` of the URL state.

import { h, ICONS, icon, uid } from "./dom";
import { isoUrl, label, parseAbsolute, QUICK_RANGES, type Resolved } from "./time";

export interface TimePickerOptions {
  apply: (from: string, to: string) => void;
  setRefresh: (seconds: number) => void;
  resolved: () => Resolved;
}

const REFRESH: [number, string][] = [
  [0, "Off"],
  [5, "5 seconds"],
  [10, "10 seconds"],
  [30, "30 seconds"],
  [60, "1 minute"],
  [300, "5 minutes"],
];

export class TimePicker {
  readonly el: HTMLElement;
  private readonly button: HTMLButtonElement;
  private readonly text: HTMLSpanElement;
  private readonly pop: HTMLElement;
  private readonly start: HTMLInputElement;
  private readonly end: HTMLInputElement;
  private readonly msg: HTMLElement;
  private readonly refresh: HTMLSelectElement;
  private readonly lastN: HTMLInputElement;
  private readonly unit: HTMLSelectElement;

  constructor(private readonly opts: TimePickerOptions) {
    const popId = uid("tp");
    this.text = h("span", { "data-testid": "time-label" });
    this.button = h(
      "button",
      {
        class: "btn tp-button",
        type: "button",
        "aria-haspopup": "dialog",
        "aria-expanded": "false",
        "aria-controls": popId,
        "data-testid": "time-button",
        onclick: () => this.toggle(),
      },
      icon(ICONS.clock),
      this.text,
    );
    this.start = h("input", { class: "input", type: "text", placeholder: "2026-01-31 08:00", "data-testid": "time-start" });
    this.end = h("input", { class: "input", type: "text", placeholder: "now or 2026-01-31 12:00", "data-testid": "time-end" });
    this.msg = h("div", { class: "tp-msg", role: "status" });
    this.lastN = h("input", { class: "input", type: "number", min: "1", value: "6", "aria-label": "Number of units" });
    this.unit = h(
      "select",
      { class: "input", "aria-label": "Unit" },
      ["m:minutes", "h:hours", "d:days", "w:weeks"].map((x) => {
        const [v, t] = x.split(":");
        return h("option", { value: v, selected: v === "h" }, t);
      }),
    );
    this.refresh = h(
      "select",
      { class: "input", id: uid("refresh"), "data-testid": "refresh-select", onchange: () => this.opts.setRefresh(Number(this.refresh.value)) },
      REFRESH.map(([s, t]) => h("option", { value: String(s) }, t)),
    );
    const startLabel = h("label", { class: "field" }, "Start (UTC)", this.start);
    const endLabel = h("label", { class: "field" }, "End (UTC)", this.end);
    this.pop = h(
      "div",
      { class: "tp-pop", id: popId, role: "dialog", "aria-label": "Time range", hidden: true },
      h(
        "section",
        null,
        h("h3", null, "Commonly used"),
        h(
          "div",
          { class: "tp-quick" },
          QUICK_RANGES.map((r) =>
            h("button", { type: "button", onclick: () => this.pick(r.from, r.to) }, r.label),
          ),
        ),
      ),
      h(
        "section",
        null,
        h("h3", null, "Relative"),
        h(
          "form",
          { class: "tp-row", onsubmit: (e: Event) => {
            e.preventDefault();
            const n = Math.max(1, Math.floor(Number(this.lastN.value) || 1));
            this.pick(`now-${n}${this.unit.value}`, "now");
          } },
          h("span", { style: "align-self:center" }, "Last"),
          this.lastN,
          this.unit,
          h("button", { class: "btn", type: "submit" }, "Apply"),
        ),
      ),
      h(
        "section",
        null,
        h("h3", null, "Absolute"),
        h(
          "form",
          { class: "tp-row", onsubmit: (e: Event) => {
            e.preventDefault();
            this.applyAbsolute();
          } },
          startLabel,
          endLabel,
          h("button", { class: "btn primary", type: "submit", "data-testid": "time-apply" }, "Apply"),
        ),
        this.msg,
      ),
      h(
        "section",
        null,
        h("h3", null, "Auto-refresh"),
        h("div", { class: "tp-row" }, h("label", { class: "field", style: "flex:1" }, "Refresh every", this.refresh)),
      ),
    );
    this.el = h("div", { class: "timepicker" }, this.button, this.pop);
    document.addEventListener("mousedown", (e) => {
      if (!this.pop.hidden && !this.el.contains(e.target as Node)) this.close(false);
    });
    this.pop.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.close(true);
    });
  }

  render(from: string, to: string, refresh: number): void {
    this.text.textContent = label(from, to) + (refresh ? ` · ⟳ ${refresh}s` : "");
    this.button.setAttribute("aria-label", `Time range: ${label(from, to)}. Change`);
    this.refresh.value = String(refresh);
  }

  private toggle(): void {
    if (this.pop.hidden) this.open();
    else this.close(true);
  }

  private open(): void {
    const r = this.opts.resolved();
    this.start.value = isoUrl(r.from).replace("T", " ").replace("Z", "");
    this.end.value = isoUrl(r.to).replace("T", " ").replace("Z", "");
    this.msg.textContent = "";
    this.pop.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    (this.pop.querySelector("button") as HTMLButtonElement).focus();
  }

  private close(focus: boolean): void {
    this.pop.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    if (focus) this.button.focus();
  }

  private pick(from: string, to: string): void {
    this.close(true);
    this.opts.apply(from, to);
  }

  private applyAbsolute(): void {
    const endText = this.end.value.trim();
    const f = parseAbsolute(this.start.value);
    const t = endText === "now" ? Date.now() : parseAbsolute(endText);
    if (f === null || t === null) {
      this.msg.textContent = "Write times as YYYY-MM-DD HH:MM[:SS] (UTC), or 'now' for the end.";
      return;
    }
    if (t <= f) {
      this.msg.textContent = "The end must be after the start.";
      return;
    }
    this.pick(isoUrl(f), endText === "now" ? "now" : isoUrl(t));
  }
}
