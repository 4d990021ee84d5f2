// The query bar: a combobox over the filter language with completion of field names (from
// /api/fields), of a field's top values (from /api/top) and of the operators; Enter runs the
// query, and a query the API rejects is shown under the bar with a caret at its position.

import { h, ICONS, icon, uid } from "./dom";
import { quoteValue } from "./state";

export interface FieldInfo {
  name: string;
  type: "num" | "ip" | "str" | "time" | "list"; // list: a list of strings (security groups)
  doc?: string;
  enum?: string[];
}

export interface Suggestion {
  kind: "field" | "value" | "op";
  text: string; // what is inserted
  label: string; // what is shown
  hint?: string;
}

export interface QueryBarOptions {
  fields: () => FieldInfo[];
  values: (field: string, prefix: string, signal: AbortSignal) => Promise<{ value: string; hint: string }[]>;
  submit: (q: string) => void;
}

const VALUE_CONTEXT = /([A-Za-z_]\w*)\s*:\s*(?:[<>]=?\s*)?(?:\(\s*(?:[^()]*\s)?)?"?([^\s()":]*)$/;
const WORD_CONTEXT = /(?:^|[\s(])([A-Za-z_]\w*)?$/;
const OPS = ["and", "or", "not"];

interface Context {
  kind: "field" | "value";
  field?: string;
  prefix: string;
  start: number; // where the prefix starts in the text
}

export function context(text: string, caret: number): Context | null {
  const before = text.slice(0, caret);
  const v = VALUE_CONTEXT.exec(before);
  if (v) return { kind: "value", field: v[1], prefix: v[2], start: caret - v[2].length };
  const w = WORD_CONTEXT.exec(before);
  if (w) {
    const prefix = w[1] ?? "";
    return { kind: "field", prefix, start: caret - prefix.length };
  }
  return null;
}

export class QueryBar {
  readonly el: HTMLElement;
  readonly input: HTMLInputElement;
  private readonly box: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly error: HTMLElement;
  private items: Suggestion[] = [];
  private active = -1;
  private ctx: Context | null = null;
  private pending: AbortController | null = null;
  private seq = 0;

  constructor(private readonly opts: QueryBarOptions) {
    const listId = uid("qb-list");
    const errId = uid("qb-error");
    this.input = h("input", {
      class: "qb-input",
      type: "text",
      role: "combobox",
      "aria-label": "Filter flows, e.g. dstport:443 and action:REJECT",
      "aria-autocomplete": "list",
      "aria-expanded": "false",
      "aria-controls": listId,
      "aria-describedby": errId,
      autocomplete: "off",
      spellcheck: "false",
      placeholder: "Filter: srcaddr:10.0.0.0/8 and dstport:(22 or 3389) and bytes >= 1000000",
      "data-testid": "query-input",
    });
    this.list = h("ul", { class: "suggest", role: "listbox", id: listId, hidden: true, "aria-label": "Suggestions" });
    this.error = h("div", { class: "qb-error", id: errId, role: "alert", hidden: true, "data-testid": "query-error" });
    this.box = h("div", { class: "qb-box" }, icon(ICONS.search), this.input, h("span", { class: "qb-lang", title: "flowscope filter language" }, "FQL"));
    this.el = h("div", { class: "qb-main" }, this.box, this.list, this.error);

    this.input.addEventListener("input", () => this.suggest());
    this.input.addEventListener("click", () => this.suggest());
    this.input.addEventListener("focus", () => this.suggest());
    this.input.addEventListener("blur", () => setTimeout(() => this.close(), 150));
    this.input.addEventListener("keydown", (e) => this.key(e));
  }

  set value(q: string) {
    if (this.input.value !== q) this.input.value = q;
  }

  get value(): string {
    return this.input.value;
  }

  showError(message: string, position: number | null, hint: string | null = null): void {
    this.error.replaceChildren(h("span", null, message), ...(hint ? [h("span", { class: "qb-hint" }, hint)] : []));
    if (position !== null && this.input.value) {
      const text = this.input.value;
      this.error.append(h("pre", { "aria-hidden": "true" }, `${text}\n${" ".repeat(Math.min(position, text.length))}^`));
    }
    this.error.hidden = false;
    this.box.classList.add("invalid");
    this.input.setAttribute("aria-invalid", "true");
  }

  clearError(): void {
    this.error.hidden = true;
    this.error.replaceChildren();
    this.box.classList.remove("invalid");
    this.input.removeAttribute("aria-invalid");
  }

  private key(e: KeyboardEvent): void {
    const open = !this.list.hidden && this.items.length > 0;
    if (e.key === "ArrowDown") {
      e.preventDefault();
      if (!open) void this.suggest();
      else this.highlight(Math.min(this.active + 1, this.items.length - 1));
    } else if (e.key === "ArrowUp" && open) {
      e.preventDefault();
      this.highlight(Math.max(this.active - 1, 0));
    } else if ((e.key === "Enter" || e.key === "Tab") && open && this.active >= 0) {
      e.preventDefault();
      this.accept(this.items[this.active]);
    } else if (e.key === "Enter") {
      e.preventDefault();
      this.close();
      this.opts.submit(this.input.value);
    } else if (e.key === "Escape" && open) {
      e.preventDefault();
      this.close();
    }
  }

  private highlight(i: number): void {
    this.active = i;
    const opts = this.list.querySelectorAll("li");
    opts.forEach((li, j) => li.setAttribute("aria-selected", String(j === i)));
    if (i >= 0 && opts[i]) {
      this.input.setAttribute("aria-activedescendant", opts[i].id);
      opts[i].scrollIntoView({ block: "nearest" });
    } else this.input.removeAttribute("aria-activedescendant");
  }

  private close(): void {
    this.list.hidden = true;
    this.items = [];
    this.active = -1;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
    this.pending?.abort();
  }

  private show(items: Suggestion[]): void {
    this.items = items.slice(0, 12);
    this.active = -1;
    this.list.replaceChildren(
      ...this.items.map((s, i) =>
        h(
          "li",
          {
            role: "option",
            id: `${this.list.id}-${i}`,
            "aria-selected": "false",
            onmousedown: (e: Event) => {
              e.preventDefault();
              this.accept(s);
            },
          },
          h("span", { class: "kind" }, s.kind === "op" ? "op" : s.kind),
          h("span", null, s.label),
          s.hint ? h("span", { class: "hint" }, s.hint) : null,
        ),
      ),
    );
    const open = this.items.length > 0 && document.activeElement === this.input;
    this.list.hidden = !open;
    this.input.setAttribute("aria-expanded", String(open));
  }

  private async suggest(): Promise<void> {
    const text = this.input.value;
    const caret = this.input.selectionStart ?? text.length;
    const ctx = context(text, caret);
    this.ctx = ctx;
    const seq = ++this.seq;
    if (!ctx) return this.show([]);
    if (ctx.kind === "field") {
      const p = ctx.prefix.toLowerCase();
      const before = text.slice(0, ctx.start).trimEnd();
      const afterTerm = before !== "" && !/(\(|\b(and|or|not))$/i.test(before);
      const ops: Suggestion[] = afterTerm
        ? OPS.filter((o) => o.startsWith(p)).map((o) => ({ kind: "op", text: `${o} `, label: o }))
        : [];
      const fields: Suggestion[] = this.opts
        .fields()
        .filter((f) => f.name.toLowerCase().includes(p))
        .sort((a, b) => Number(!a.name.startsWith(p)) - Number(!b.name.startsWith(p)))
        .map((f) => ({ kind: "field", text: `${f.name}:`, label: f.name, hint: f.type }));
      this.show(afterTerm && !p ? ops : [...ops, ...fields]);
      return;
    }
    this.pending?.abort();
    const ac = new AbortController();
    this.pending = ac;
    try {
      const values = await this.opts.values(ctx.field!, ctx.prefix, ac.signal);
      if (seq !== this.seq) return;
      this.show(
        values.map((v) => ({ kind: "value", text: `${quoteValue(v.value)} `, label: v.value, hint: v.hint })),
      );
    } catch {
      if (seq === this.seq) this.show([]);
    }
  }

  private accept(s: Suggestion): void {
    const ctx = this.ctx;
    if (!ctx) return;
    const text = this.input.value;
    const caret = this.input.selectionStart ?? text.length;
    // A value typed after an opening quote replaces the quote too.
    const start = s.kind === "value" && text[ctx.start - 1] === '"' ? ctx.start - 1 : ctx.start;
    const next = text.slice(0, start) + s.text + text.slice(caret);
    this.input.value = next;
    const pos = start + s.text.length;
    this.input.setSelectionRange(pos, pos);
    this.close();
    this.input.focus();
    void this.suggest();
  }
}
