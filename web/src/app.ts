// The shell: header and tabs, the query bar with its filter pills, the time picker, and the
// controller that turns a change of URL state into a view update. Views get a Ctx: the fields,
// the resolved time range, the query the API should run, and the actions every view shares
// (add a filter, zoom to a range, report a query error).

import { ApiError, requestLog } from "./api";
import { disposeAll } from "./charts";
import * as data from "./data";
import { clear, h, ICONS, icon } from "./dom";
import { exact } from "./format";
import * as names from "./names";
import { type FieldInfo, QueryBar } from "./querybar";
import * as state from "./state";
import type { Filter, State, View as ViewName } from "./state";
import { type Extent, isoUrl, isRelative, type Resolved, resolve } from "./time";
import { TimePicker } from "./timepicker";
import { timings } from "./timings";
import type { Ctx, Reason, View } from "./view";
import { DashboardView } from "./views/dashboard";
import { DiscoverView } from "./views/discover";
import { VisualizeView } from "./views/visualize";

export { timings };

const VIEWS: { name: ViewName; label: string; make: (ctx: Ctx) => View }[] = [
  { name: "discover", label: "Discover", make: (c) => new DiscoverView(c) },
  { name: "visualize", label: "Visualize", make: (c) => new VisualizeView(c) },
  { name: "dashboard", label: "Dashboard", make: (c) => new DashboardView(c) },
];

const LOGO =
  "M1.5 12.5c2-5 4-7 6.5-7s4.5 2 6.5 7|M1.5 9c2-3 4-4.5 6.5-4.5S12.5 6 14.5 9|M8 2v3.5";

function isQueryError(e: unknown): e is ApiError {
  return (
    e instanceof ApiError &&
    (e.position !== null || /query|filter|parse|syntax/i.test(e.type))
  );
}

export class App {
  private fields: FieldInfo[] = [];
  private extent: Extent = { first: null, last: null };
  private resolved: Resolved = { from: 0, to: 0 };
  private view: View | null = null;
  private viewName: ViewName | null = null;
  private readonly main: HTMLElement;
  private readonly tabs: HTMLAnchorElement[];
  private readonly bar: QueryBar;
  private readonly picker: TimePicker;
  private readonly pills: HTMLElement;
  private readonly storeInfo: HTMLElement;
  private readonly themeButton: HTMLButtonElement;
  private timer: number | undefined;
  private queryFailed = false;
  private busyCount = 0;
  private readonly busyBar: HTMLElement;

  constructor(root: HTMLElement) {
    this.tabs = VIEWS.map((v) =>
      h("a", { href: `#/${v.name}`, "data-view": v.name, onclick: (e: Event) => this.go(e, v.name) }, v.label),
    );
    this.storeInfo = h("span", { class: "store-info", "aria-live": "polite" });
    this.themeButton = h("button", {
      class: "btn ghost icon-only",
      type: "button",
      "data-testid": "theme-toggle",
      onclick: () => this.toggleTheme(),
    });
    this.bar = new QueryBar({
      fields: () => this.fields,
      values: (field, prefix, signal) => this.values(field, prefix, signal),
      submit: (q) => state.update({ q }),
    });
    this.picker = new TimePicker({
      apply: (from, to) => state.update({ from, to }),
      setRefresh: (refresh) => state.update({ refresh }),
      resolved: () => this.resolved,
    });
    this.pills = h("div", { class: "pills", role: "list", "aria-label": "Filters", "data-testid": "pills" });
    this.main = h("main", { id: "main", tabindex: "-1" });
    this.busyBar = h("div", { class: "busy-bar", hidden: true, style: "position:fixed;top:47px;z-index:30" });
    const update = h(
      "button",
      {
        class: "btn primary",
        type: "button",
        style: "height:36px",
        "data-testid": "query-submit",
        onclick: () => {
          if (this.bar.value !== state.get().q) state.update({ q: this.bar.value });
          else this.refresh("state");
        },
      },
      icon(ICONS.refresh),
      "Refresh",
    );
    root.append(
      h("a", { class: "skip-link", href: "#main", onclick: (e: Event) => { e.preventDefault(); this.main.focus(); } }, "Skip to content"),
      h(
        "header",
        { class: "topbar" },
        h("a", { class: "brand", href: "#/dashboard", "aria-label": "flowscope home" }, icon(LOGO), "flowscope"),
        h("nav", { class: "tabs", "aria-label": "Views" }, this.tabs),
        h("span", { class: "spacer" }),
        this.storeInfo,
        this.themeButton,
      ),
      this.busyBar,
      h(
        "div",
        { class: "querybar", role: "search" },
        this.bar.el,
        this.picker.el,
        update,
      ),
      this.pills,
      this.main,
    );
    this.applyTheme(localStorage.getItem("flowscope-theme") ?? (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
  }

  async start(early: { fields: Promise<FieldInfo[]>; extent: Promise<Extent> }): Promise<void> {
    const s = state.get();
    // The store's time extent decides the default range and resolves "all"; a URL naming its
    // own range does not wait for it.
    const needExtent = !s.from || !s.to || s.from === "all" || s.to === "all";
    try {
      this.fields = await early.fields;
      names.enable(this.fields);
      if (needExtent) this.extent = await early.extent;
    } catch (e) {
      this.main.replaceChildren(h("div", { class: "panel-error", role: "alert" }, e instanceof Error ? e.message : String(e)));
      return;
    }
    if (!needExtent) {
      void early.extent.then(
        (extent) => {
          this.extent = extent;
          this.renderStoreInfo();
        },
        () => undefined,
      );
    }
    timings.boot = performance.now();
    if (!s.from || !s.to) {
      // A store whose flows are all older than a day opens on all of its data, not on nothing.
      const recent = this.extent.last !== null && this.extent.last >= Date.now() - 86_400_000;
      state.update(recent ? { from: "now-24h", to: "now" } : { from: "all", to: "all" }, false);
    }
    state.subscribe((next, prev) => void this.changed(next, prev));
    await this.changed(state.get(), null);
    timings.firstRender = performance.now();
    timings.requests = requestLog.map((r) => ({ ...r }));
    console.info(`flowscope: interactive in ${Math.round(timings.firstRender as number)} ms`);
  }

  private renderStoreInfo(): void {
    this.storeInfo.textContent =
      this.extent.last === null ? "" : `data to ${isoUrl(this.extent.last).slice(0, 16).replace("T", " ")} UTC`;
  }

  private ctx(): Ctx {
    return {
      fields: this.fields,
      state: () => state.get(),
      range: () => this.resolved,
      ask: () => ({ q: state.fullQuery(state.get()), range: this.resolved }),
      addFilter: (field, value, negate = false) =>
        state.update({ filters: state.withFilter(state.get().filters, { field, value, negate }) }),
      zoom: (from, to) => state.update({ from: isoUrl(from), to: isoUrl(to) }),
      fail: (e, where) => this.fail(e, where),
      busy: (on) => this.busy(on),
    };
  }

  private go(e: Event, name: ViewName): void {
    e.preventDefault();
    if (state.get().view !== name) state.update({ view: name });
  }

  private async changed(s: State, prev: State | null): Promise<void> {
    this.resolved = resolve(s.from, s.to, this.extent);
    this.bar.value = s.q;
    this.picker.render(s.from, s.to, s.refresh);
    this.renderPills(s.filters);
    this.schedule(s.refresh);
    for (const t of this.tabs) {
      if (t.dataset.view === s.view) t.setAttribute("aria-current", "page");
      else t.removeAttribute("aria-current");
    }
    if (this.viewName !== s.view || !this.view) {
      this.view?.unmount();
      disposeAll(this.main);
      clear(this.main);
      this.viewName = s.view;
      this.view = VIEWS.find((v) => v.name === s.view)!.make(this.ctx());
      this.view.mount(this.main);
      prev = null;
      document.title = `${VIEWS.find((v) => v.name === s.view)!.label} · flowscope`;
    }
    await this.run(s, prev, "state");
  }

  private async run(s: State, prev: State | null, reason: Reason): Promise<void> {
    this.queryFailed = false;
    const t0 = performance.now();
    await this.view!.update(s, prev, reason);
    if (!this.queryFailed) this.bar.clearError();
    timings.lastUpdate = performance.now() - t0;
    timings.updates = ((timings.updates as number | undefined) ?? 0) + 1;
    this.renderStoreInfo();
  }

  private refresh(reason: Reason): void {
    const s = state.get();
    // A new theme redraws what is shown; a refresh asks again, with "now" moved on.
    if (reason !== "theme") this.resolved = resolve(s.from, s.to, this.extent);
    void this.run(s, s, reason);
  }

  private schedule(seconds: number): void {
    window.clearInterval(this.timer);
    this.timer = undefined;
    if (!seconds) return;
    this.timer = window.setInterval(async () => {
      const s = state.get();
      if (!isRelative(s.from) && s.from !== "all") return;
      if (s.from === "all") this.extent = await data.extent().catch(() => this.extent);
      this.refresh("refresh");
    }, seconds * 1000);
  }

  private fail(e: unknown, where: HTMLElement): void {
    if (e instanceof DOMException && e.name === "AbortError") return;
    if (isQueryError(e)) {
      this.queryFailed = true;
      const pos = e.position === null ? null : state.positionInQuery(state.get(), e.position);
      this.bar.showError(e.message, pos, e.hint);
      where.replaceChildren(h("div", { class: "empty" }, "Fix the query above to see results."));
      return;
    }
    const message = e instanceof Error ? e.message : String(e);
    where.replaceChildren(h("div", { class: "panel-error" }, message));
  }

  private busy(on: boolean): void {
    this.busyCount = Math.max(0, this.busyCount + (on ? 1 : -1));
    this.busyBar.hidden = this.busyCount === 0;
    this.main.setAttribute("aria-busy", String(this.busyCount > 0));
  }

  private renderPills(filters: Filter[]): void {
    this.pills.replaceChildren(
      ...filters.map((f, i) => {
        const text = `${f.field}: ${f.value}`;
        const rest = filters.filter((_, j) => j !== i);
        return h(
          "span",
          { class: `pill${f.negate ? " negate" : ""}`, role: "listitem", "data-testid": "pill" },
          h(
            "button",
            {
              type: "button",
              class: "pill-label",
              title: f.negate ? "Include instead" : "Exclude instead",
              "aria-label": `${f.negate ? "NOT " : ""}${text}: ${f.negate ? "include instead" : "exclude instead"}`,
              onclick: () => state.update({ filters: filters.map((x, j) => (j === i ? { ...x, negate: !x.negate } : x)) }),
            },
            text,
          ),
          h(
            "button",
            { type: "button", "aria-label": `Remove filter ${text}`, title: "Remove", onclick: () => state.update({ filters: rest }) },
            icon(ICONS.close),
          ),
        );
      }),
    );
    if (filters.length > 1) {
      this.pills.append(
        h("button", { class: "btn ghost small", type: "button", onclick: () => state.update({ filters: [] }) }, "Clear all"),
      );
    }
  }

  private async values(field: string, prefix: string, signal: AbortSignal) {
    const info = this.fields.find((f) => f.name === field);
    if (info?.enum) {
      return info.enum
        .filter((v) => v.toLowerCase().startsWith(prefix.toLowerCase()))
        .map((value) => ({ value, hint: "" }));
    }
    const top = await data.top(
      { q: "", range: this.resolved, field, metric: "count", n: prefix ? 100 : 12 },
      signal,
    );
    const p = prefix.toLowerCase();
    return top.buckets
      .filter((b) => b.key !== data.MISSING && b.key.toLowerCase().startsWith(p))
      .slice(0, 12)
      .map((b) => ({ value: b.key, hint: `${exact(b.value)} flows` }));
  }

  private applyTheme(name: string): void {
    document.documentElement.dataset.theme = name;
    const dark = name === "dark";
    this.themeButton.replaceChildren(icon(dark ? ICONS.sun : ICONS.moon));
    this.themeButton.setAttribute("aria-label", dark ? "Use the light theme" : "Use the dark theme");
    this.themeButton.title = dark ? "Light theme" : "Dark theme";
  }

  private toggleTheme(): void {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    localStorage.setItem("flowscope-theme", next);
    this.applyTheme(next);
    if (this.view) this.refresh("theme");
  }
}
