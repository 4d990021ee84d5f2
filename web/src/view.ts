// What a view is and what it is given: the contract between the shell (app.ts) and the views
// (views/*.ts). Kept apart so that neither imports the other's module.

import type * as data from "./data";
import type { FieldInfo } from "./querybar";
import type { State } from "./state";
import type { Resolved } from "./time";

export type Reason = "state" | "refresh" | "theme";

export interface Ctx {
  fields: FieldInfo[];
  state(): State;
  range(): Resolved;
  ask(): data.Ask;
  addFilter(field: string, value: string, negate?: boolean): void;
  zoom(from: number, to: number): void;
  /** Show an error: under the query bar when it is the query's, else `fallback` (a panel). */
  fail(e: unknown, where: HTMLElement): void;
  busy(on: boolean): void;
}

export interface View {
  mount(root: HTMLElement): void;
  update(s: State, prev: State | null, reason: Reason): Promise<void>;
  unmount(): void;
}
