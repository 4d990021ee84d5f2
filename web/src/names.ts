// Names beside addresses: who an address or an interface is, from POST /api/identify (the estate:
// AWS inventory, your networks, AWS's address ranges, country and ASN). Every view asks once per
// render for the addresses it shows, in one batched request; answers are kept per address for a
// few minutes, so paging, re-sorting or a redraw asks nothing again.
//
// Asked with `at: null` (the latest identity). Where a flow carries its own name as of its time
// (Discover's src_name / dst_name columns), the view shows that name and the hover tells both.

import { ApiError, post } from "./api";
import { h } from "./dom";
import { dateTime } from "./format";
import type { FieldInfo } from "./querybar";

export interface Identity {
  name: string | null;
  kind: string | null;
  resource_id: string | null;
  vpc_id: string | null;
  subnet_id: string | null;
  az: string | null;
  security_groups: string[] | null;
  service: string | null;
  region: string | null;
  country: string | null;
  asn: number | null;
  as_org: string | null;
  network: string | null;
  network_attributes: Record<string, unknown> | null;
  tags: Record<string, unknown> | null;
  account: string | null;
  interface_id: string | null;
  since: string | null;
  until: string | null;
}

/** The fields whose values are addresses or interfaces: shown with their names. */
export const ADDRESS_FIELDS = new Set(["srcaddr", "dstaddr", "pkt_srcaddr", "pkt_dstaddr", "interface_id"]);

/** A flow's own name (as of its time) for an address column, when the store carries it. */
export const ROW_NAME: Record<string, string> = { srcaddr: "src_name", dstaddr: "dst_name" };

/** How long an answer is kept (the inventory changes with a refresh, at most every few minutes). */
export const TTL_MS = 5 * 60_000;
const BATCH = 1000; // the API's limit per request

const cache = new Map<string, { t: number; ident: Identity | null }>();
const pending = new Map<string, Promise<void>>();
let enabled = false;

/** Names are asked for only when the server knows the estate (its fields list src_name). */
export function enable(fields: FieldInfo[]): void {
  enabled = fields.some((f) => f.name === "src_name");
}

export function isEnabled(): boolean {
  return enabled;
}

function fresh(address: string): boolean {
  const c = cache.get(address);
  return c !== undefined && performance.now() - c.t < TTL_MS;
}

/** The identity known for `address` (undefined: not asked yet, or expired). */
export function known(address: string): Identity | null | undefined {
  return fresh(address) ? cache.get(address)!.ident : undefined;
}

/**
 * Ask for every address not known yet, in one request (more when over the API's 1,000). Never
 * throws: a failure leaves the addresses unnamed, and they are asked again at the next render.
 */
export async function identify(addresses: Iterable<string>): Promise<void> {
  if (!enabled) return;
  const waits: Promise<void>[] = [];
  const ask: string[] = [];
  for (const a of new Set(addresses)) {
    if (!a || a === "(missing)" || a === "(other)" || fresh(a)) continue;
    const p = pending.get(a);
    if (p) waits.push(p);
    else ask.push(a);
  }
  for (let i = 0; i < ask.length; i += BATCH) {
    const chunk = ask.slice(i, i + BATCH);
    const p = post<Record<string, Identity | null>>("identify", { addresses: chunk, at: null })
      .then((got) => {
        const t = performance.now();
        for (const a of chunk) cache.set(a, { t, ident: got[a] ?? null });
      })
      .catch((e: unknown) => {
        // A server without the endpoint (older than its fields) is not asked again.
        if (e instanceof ApiError && (e.status === 404 || e.status === 405)) enabled = false;
      })
      .finally(() => {
        for (const a of chunk) pending.delete(a);
      });
    for (const a of chunk) pending.set(a, p);
    waits.push(p);
  }
  await Promise.all(waits);
}

/** A short label for an identity: its name, else (a public address) its AS and country. */
export function label(ident: Identity | null | undefined): string | null {
  if (!ident) return null;
  if (ident.name) return ident.name;
  if (ident.as_org) return ident.country ? `${ident.as_org} (${ident.country})` : ident.as_org;
  return ident.country ?? null;
}

/** "10.0.1.5 · web-1", or the address alone when nothing is known (yet). */
export function withName(address: string, name: string | null = label(known(address))): string {
  return name ? `${address} · ${name}` : address;
}

/** A long address or interface id cut in its middle ("eni-08ef0…9cd4b2e"), so a chart's
 * label keeps room for the name; the tooltip and the table beside the chart hold it whole. */
export function shorten(k: string, max = 18): string {
  return k.length <= max ? k : `${k.slice(0, max - 8)}…${k.slice(-7)}`;
}

/** A chart label function for `field`: names beside addresses, other values as they are. */
export function valueWithName(field: string, base: (k: string) => string = (k) => k): (k: string) => string {
  if (!ADDRESS_FIELDS.has(field)) return base;
  return (k) => {
    const name = label(known(k));
    return name ? withName(shorten(base(k)), name) : base(k);
  };
}

function plain(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** The whole identity as lines of text: "kind: instance (i-0abc…)", "VPC: vpc-1", … */
export function lines(ident: Identity): string[] {
  const out: string[] = [];
  const put = (k: string, v: unknown) => {
    const s = plain(v);
    if (s && s !== "{}" && s !== "[]") out.push(`${k}: ${s}`);
  };
  if (ident.name) out.push(ident.name);
  put("kind", ident.kind && ident.resource_id ? `${ident.kind} (${ident.resource_id})` : (ident.kind ?? ident.resource_id));
  put("interface", ident.interface_id);
  put("account", ident.account);
  put("region", ident.region);
  put("VPC", ident.vpc_id);
  put("subnet", ident.subnet_id);
  put("AZ", ident.az);
  put("security groups", ident.security_groups?.join(", "));
  if (ident.tags) put("tags", Object.entries(ident.tags).map(([k, v]) => `${k}=${plain(v)}`).join(", "));
  put("AWS service", ident.service);
  put("country", ident.country);
  const asn = ident.asn ?? null; // any value may be null, or left out
  put("ASN", asn === null ? null : ident.as_org ? `AS${asn} ${ident.as_org}` : `AS${asn}`);
  if (asn === null) put("AS org", ident.as_org);
  put("network", ident.network);
  if (ident.network_attributes) {
    put("network attributes", Object.entries(ident.network_attributes).map(([k, v]) => `${k}=${plain(v)}`).join(", "));
  }
  if (ident.since) put("since", `${dateTime(ident.since)} UTC`);
  if (ident.until) put("until", `${dateTime(ident.until)} UTC`);
  return out;
}

/** A hover text for `address`: its whole identity, and the flow's own name when it differs. */
export function hover(address: string, rowName: string | null = null): string {
  const ident = known(address);
  const head = [address];
  if (rowName && rowName !== ident?.name) head.push(`at this flow's time: ${rowName}`);
  if (!ident) return head.join("\n");
  const body = lines(ident);
  if (rowName && ident.name && rowName !== ident.name) body[0] = `now: ${ident.name}`;
  return [...head, ...body].join("\n");
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

/** The identity as tooltip HTML for a chart (empty when nothing is known). */
export function hoverHtml(address: string): string {
  const ident = known(address);
  if (!ident) return "";
  const body = lines(ident).filter((l) => l !== ident.name);
  if (!body.length) return "";
  return `<div style="margin-top:4px;font-size:11px;line-height:1.5;opacity:.85">${body.map(esc).join("<br>")}</div>`;
}

/** Test hook and the console's: what is cached (address -> label). */
export function snapshot(): Record<string, string | null> {
  return Object.fromEntries([...cache.entries()].map(([a, c]) => [a, label(c.ident)]));
}

// --- in the page's tables: a name slot beside an address, filled when the answer comes ---------

/** The name beside an address in a table: filled now when known, else by `fill` later. */
export function slot(address: string, rowName: string | null = null): HTMLElement {
  const el = h("span", { class: "addr-name", "data-addr": address, "data-row-name": rowName ?? undefined });
  paint(el);
  return el;
}

function paint(el: HTMLElement): void {
  const address = el.dataset.addr ?? "";
  const rowName = el.dataset.rowName ?? null;
  const name = rowName ?? label(known(address));
  el.textContent = name ? `· ${name}` : "";
  el.hidden = !name;
  const tip = hover(address, rowName);
  el.title = tip;
  const owner = el.parentElement?.querySelector<HTMLElement>("[data-addr-owner]");
  if (owner) owner.title = tip;
}

/** Fill every name slot under `root` from what is known now. */
export function fill(root: ParentNode): void {
  for (const el of root.querySelectorAll<HTMLElement>(".addr-name[data-addr]")) paint(el);
}
