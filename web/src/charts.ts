// Apache ECharts, only the parts the page draws (bar, line, pie, sankey; grid, tooltip, legend,
// brush), rendered as SVG: crisp at any zoom, and the browser test can see the marks.
// Every chart of the page is built by one of the option builders below, so they share axes,
// tooltips, number formats and the light/dark theme.

import { BarChart, LineChart, PieChart, SankeyChart } from "echarts/charts";
import type {
  BarSeriesOption,
  LineSeriesOption,
  PieSeriesOption,
  SankeySeriesOption,
} from "echarts/charts";
import {
  BrushComponent,
  GridComponent,
  LegendComponent,
  ToolboxComponent,
  TooltipComponent,
} from "echarts/components";
import type {
  BrushComponentOption,
  GridComponentOption,
  LegendComponentOption,
  ToolboxComponentOption,
  TooltipComponentOption,
} from "echarts/components";
import * as echarts from "echarts/core";
import { SVGRenderer } from "echarts/renderers";

import { h } from "./dom";
import { axisTime, axisValue, dateTime, duration, exact, type Metric, metricValue, percent } from "./format";

echarts.use([
  BarChart,
  LineChart,
  PieChart,
  SankeyChart,
  BrushComponent,
  GridComponent,
  LegendComponent,
  ToolboxComponent,
  TooltipComponent,
  SVGRenderer,
]);

export type Option = echarts.ComposeOption<
  | BarSeriesOption
  | LineSeriesOption
  | PieSeriesOption
  | SankeySeriesOption
  | BrushComponentOption
  | GridComponentOption
  | LegendComponentOption
  | ToolboxComponentOption
  | TooltipComponentOption
>;

// Kibana's (EUI) visualisation palette: distinct in both themes and for common colour blindness.
export const PALETTE = [
  "#54B399",
  "#6092C0",
  "#D36086",
  "#9170B8",
  "#CA8EAE",
  "#D6BF57",
  "#B9A888",
  "#DA8B45",
  "#AA6556",
  "#E7664C",
];
export const OTHER_COLOR = "#98A2B3";

/** Fixed colours for values that mean something: a rejected flow is always red. */
const VALUE_COLORS: Record<string, string> = {
  ACCEPT: "#54B399",
  REJECT: "#E7664C",
  ingress: "#6092C0",
  egress: "#D6BF57",
  in: "#6092C0",
  out: "#D6BF57",
  "(missing)": "#98A2B3",
  "(other)": "#B9A888",
  Other: "#98A2B3",
};

export function colorFor(key: string, index: number): string {
  return VALUE_COLORS[key] ?? PALETTE[index % PALETTE.length];
}

export interface Theme {
  text: string;
  text2: string;
  grid: string;
  axis: string;
  panel: string;
  tooltipBg: string;
}

export function theme(): Theme {
  const css = getComputedStyle(document.documentElement);
  const v = (name: string) => css.getPropertyValue(name).trim();
  return {
    text: v("--text"),
    text2: v("--text-2"),
    grid: v("--border-2"),
    axis: v("--border"),
    panel: v("--panel"),
    tooltipBg: v("--panel"),
  };
}

const FONT = getComputedStyle(document.documentElement).getPropertyValue("--sans").trim();

const live = new Set<Chart>();

/** One ECharts instance in an element, resized with it and re-themed with the page. */
export class Chart {
  readonly ec: echarts.ECharts;
  private readonly observer: ResizeObserver;

  constructor(readonly el: HTMLElement) {
    this.ec = echarts.init(el, null, { renderer: "svg" });
    this.observer = new ResizeObserver(() => this.ec.resize());
    this.observer.observe(el);
    live.add(this);
  }

  /** Draw `option` (an Option; the lazily loaded world map passes its own map series). */
  set(option: Option | echarts.EChartsCoreOption): void {
    this.ec.setOption(option, { notMerge: true, lazyUpdate: false });
    // A new option drops the brush cursor: take it again so a drag still selects a range.
    if ("brush" in option && option.brush) {
      this.ec.dispatchAction({
        type: "takeGlobalCursor",
        key: "brush",
        brushOption: { brushType: "lineX", brushMode: "single" },
      });
    }
  }

  dispose(): void {
    this.observer.disconnect();
    this.ec.dispose();
    live.delete(this);
  }
}

export function disposeAll(root: Element): void {
  for (const c of [...live]) if (root.contains(c.el) || !c.el.isConnected) c.dispose();
}

export function base(): Option {
  const t = theme();
  return {
    animationDuration: 250,
    animationDurationUpdate: 200,
    textStyle: { fontFamily: FONT, color: t.text2, fontSize: 12 },
    tooltip: {
      backgroundColor: t.tooltipBg,
      borderColor: t.axis,
      textStyle: { color: t.text, fontSize: 12 },
      extraCssText: "box-shadow: 0 4px 16px rgba(0,0,0,.18); border-radius: 6px;",
      confine: true,
    },
  };
}

function legend(show: boolean): LegendComponentOption {
  const t = theme();
  return {
    show,
    type: "plain",
    top: 0,
    right: 0,
    icon: "roundRect",
    itemWidth: 10,
    itemHeight: 10,
    textStyle: { color: t.text2, fontSize: 12 },
  };
}

function valueAxis(metric: Metric, splitNumber = 5) {
  const t = theme();
  return {
    type: "value" as const,
    splitNumber,
    axisLabel: { color: t.text2, hideOverlap: true, formatter: (v: number) => axisValue(metric, v) },
    splitLine: { lineStyle: { color: t.grid } },
    axisLine: { show: false },
    axisTick: { show: false },
  };
}

export function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

export function row(color: string, name: string, value: string): string {
  return (
    `<div style="display:flex;gap:10px;align-items:center;line-height:1.7">` +
    `<span style="width:9px;height:9px;border-radius:2px;background:${color}"></span>` +
    `<span style="flex:1">${esc(name)}</span><b style="font-variant-numeric:tabular-nums">${value}</b></div>`
  );
}

// --- time series --------------------------------------------------------------------------

export interface TimeSeries {
  name: string;
  points: [number, number][]; // [bucket start ms, value]
}

export interface TimeOptions {
  series: TimeSeries[];
  kind: "bar" | "line" | "area";
  metric: Metric;
  intervalMs: number;
  range: { from: number; to: number };
  brush?: boolean;
  stack?: boolean;
}

export function timeOption(o: TimeOptions): Option {
  const t = theme();
  const span = o.range.to - o.range.from;
  const multi = o.series.length > 1;
  const series = o.series.map((s, i): BarSeriesOption | LineSeriesOption => {
    const color = colorFor(s.name, i);
    if (o.kind === "bar") {
      return {
        type: "bar",
        name: s.name,
        data: s.points,
        stack: o.stack === false ? undefined : "total",
        itemStyle: { color },
        barCategoryGap: "12%",
        emphasis: { focus: "series" },
        large: false,
      };
    }
    return {
      type: "line",
      name: s.name,
      data: s.points,
      stack: o.kind === "area" && o.stack !== false ? "total" : undefined,
      showSymbol: false,
      smooth: false,
      lineStyle: { width: 1.8, color },
      itemStyle: { color },
      areaStyle: o.kind === "area" ? { opacity: 0.35, color } : undefined,
      emphasis: { focus: "series" },
    };
  });
  const option: Option = {
    ...base(),
    color: PALETTE,
    legend: legend(multi),
    grid: { left: 8, right: 12, top: multi ? 28 : 12, bottom: 4, containLabel: true },
    xAxis: {
      type: "time",
      min: o.range.from,
      max: o.range.to,
      axisLabel: {
        color: t.text2,
        hideOverlap: true,
        formatter: (v: number) => axisTime(v, span),
      },
      axisLine: { lineStyle: { color: t.axis } },
      axisTick: { lineStyle: { color: t.axis } },
      splitLine: { show: false },
    },
    yAxis: valueAxis(o.metric),
    tooltip: {
      ...(base().tooltip as TooltipComponentOption),
      trigger: "axis",
      axisPointer: { type: o.kind === "bar" ? "shadow" : "line" },
      formatter: (params: unknown) => {
        const list = params as { value: [number, number]; seriesName: string; color: string }[];
        if (!list.length) return "";
        const start = list[0].value[0];
        const head = `<div style="margin-bottom:4px;color:${t.text2}">${dateTime(start)} UTC · ${duration(o.intervalMs)}</div>`;
        return (
          head +
          list
            .map((p) =>
              row(p.color, p.seriesName, `${metricValue(o.metric, p.value[1])}`),
            )
            .join("")
        );
      },
    },
    series,
  };
  if (o.brush) {
    option.brush = {
      xAxisIndex: 0,
      brushType: "lineX",
      brushMode: "single",
      transformable: false,
      throttleType: "debounce",
      throttleDelay: 100,
      brushStyle: { color: "rgba(96,146,192,0.18)", borderColor: "rgba(96,146,192,0.8)", borderWidth: 1 },
      outOfBrush: { colorAlpha: 0.35 },
    };
    option.toolbox = { show: false, feature: { brush: { type: ["lineX"] } } };
  }
  return option;
}

/** Drag across the chart to pick a time range: `done(fromMs, toMs)`. */
export function enableBrush(chart: Chart, done: (from: number, to: number) => void): void {
  chart.ec.on("brushEnd", (params: unknown) => {
    const areas = (params as { areas?: { coordRange?: [number, number] }[] }).areas ?? [];
    const range = areas[0]?.coordRange;
    chart.ec.dispatchAction({ type: "brush", areas: [] });
    if (range && range[1] - range[0] > 1000) done(Math.min(...range), Math.max(...range));
  });
}

// --- top-N --------------------------------------------------------------------------------

export interface Bucket {
  key: string;
  value: number;
  parts?: { key: string; value: number }[];
}

export interface TopOptions {
  buckets: Bucket[];
  metric: Metric;
  horizontal?: boolean;
  kind?: "bar" | "line" | "area";
  color?: string;
  total?: number;
  label?: (key: string) => string;
  /** More about a value for its tooltip (HTML), e.g. an address's whole identity. */
  detail?: (key: string) => string;
  /** The category labels' width in pixels (longer labels are cut with an ellipsis). */
  labelWidth?: number;
}

function splitKeys(buckets: Bucket[]): string[] {
  const totals = new Map<string, number>();
  for (const b of buckets) for (const p of b.parts ?? []) totals.set(p.key, (totals.get(p.key) ?? 0) + p.value);
  return [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k);
}

export function topOption(o: TopOptions): Option {
  const t = theme();
  const label = o.label ?? ((k: string) => k);
  const cats = o.buckets.map((b) => label(b.key));
  const keys = splitKeys(o.buckets);
  const kind = o.kind ?? "bar";
  const horizontal = o.horizontal ?? false;
  const mk = (name: string, data: number[], color: string): BarSeriesOption | LineSeriesOption =>
    kind === "bar"
      ? {
          type: "bar",
          name,
          data,
          stack: keys.length ? "total" : undefined,
          itemStyle: { color, borderRadius: keys.length ? 0 : horizontal ? [0, 3, 3, 0] : [3, 3, 0, 0] },
          barMaxWidth: 38,
          emphasis: { focus: keys.length ? "series" : "self" },
          cursor: "pointer",
        }
      : {
          type: "line",
          name,
          data,
          stack: kind === "area" && keys.length ? "total" : undefined,
          symbolSize: 6,
          lineStyle: { width: 2, color },
          itemStyle: { color },
          areaStyle: kind === "area" ? { opacity: 0.35, color } : undefined,
          cursor: "pointer",
        };
  const series = keys.length
    ? keys.map((k, i) =>
        mk(
          k,
          o.buckets.map((b) => b.parts?.find((p) => p.key === k)?.value ?? 0),
          colorFor(k, i),
        ),
      )
    : [mk(o.metric, o.buckets.map((b) => b.value), o.color ?? PALETTE[1])];
  const catAxis = {
    type: "category" as const,
    data: cats,
    inverse: horizontal,
    axisLabel: {
      color: t.text,
      fontFamily: getComputedStyle(document.documentElement).getPropertyValue("--mono").trim(),
      fontSize: 11,
      interval: 0,
      rotate: !horizontal && cats.length > 8 ? 40 : 0,
      width: o.labelWidth ?? (horizontal ? 150 : 90),
      overflow: "truncate" as const,
    },
    axisLine: { lineStyle: { color: t.axis } },
    axisTick: { show: false },
  };
  return {
    ...base(),
    legend: legend(keys.length > 0),
    grid: { left: 8, right: 16, top: keys.length ? 30 : 10, bottom: 4, containLabel: true },
    xAxis: horizontal ? valueAxis(o.metric, 3) : catAxis,
    yAxis: horizontal ? catAxis : valueAxis(o.metric),
    tooltip: {
      ...(base().tooltip as TooltipComponentOption),
      trigger: "axis",
      axisPointer: { type: "shadow" },
      formatter: (params: unknown) => {
        const list = params as { name: string; value: number; seriesName: string; color: string; dataIndex: number }[];
        if (!list.length) return "";
        const b = o.buckets[list[0].dataIndex];
        const share = o.total ? ` · ${percent(b.value / o.total)}` : "";
        const head = `<div style="margin-bottom:4px"><b>${esc(label(b.key))}</b> · ${metricValue(o.metric, b.value)}${share}</div>${o.detail?.(b.key) ?? ""}`;
        const body = keys.length
          ? list.filter((p) => p.value).map((p) => row(p.color, p.seriesName, metricValue(o.metric, p.value))).join("")
          : "";
        return head + body + `<div style="color:${t.text2};margin-top:4px;font-size:11px">Click to filter</div>`;
      },
    },
    series,
  };
}

export function pieOption(o: TopOptions): Option {
  const t = theme();
  const label = o.label ?? ((k: string) => k);
  const total = o.total ?? o.buckets.reduce((s, b) => s + b.value, 0);
  return {
    ...base(),
    legend: { ...legend(true), type: "plain", orient: "vertical", right: 8, top: "middle", left: undefined },
    tooltip: {
      ...(base().tooltip as TooltipComponentOption),
      trigger: "item",
      formatter: (p: unknown) => {
        const x = p as { name: string; value: number; color: string };
        return row(x.color, x.name, `${metricValue(o.metric, x.value)} · ${percent(total ? x.value / total : 0)}`);
      },
    },
    series: [
      {
        type: "pie",
        radius: ["45%", "75%"],
        center: ["38%", "52%"],
        avoidLabelOverlap: true,
        minShowLabelAngle: 8,
        itemStyle: { borderColor: t.panel, borderWidth: 2 },
        label: {
          color: t.text2,
          formatter: (p: { percent?: number }) => `${(p.percent ?? 0).toFixed(0)}%`,
        },
        labelLine: { length: 6, length2: 6 },
        data: o.buckets.map((b, i) => ({
          name: label(b.key),
          value: b.value,
          itemStyle: { color: b.key === "Other" ? OTHER_COLOR : colorFor(b.key, i) },
        })),
        cursor: "pointer",
      },
    ],
  };
}

export interface Link {
  source: string;
  target: string;
  value: number;
}

/** Nodes are named "level:value" so one address can be a source and a destination. */
export function sankeyOption(links: Link[], metric: Metric, nodeLabel?: (node: string) => string): Option {
  const t = theme();
  const names = new Set<string>();
  for (const l of links) {
    names.add(l.source);
    names.add(l.target);
  }
  const show = nodeLabel ?? ((n: string) => n.slice(n.indexOf(":") + 1));
  return {
    ...base(),
    tooltip: {
      ...(base().tooltip as TooltipComponentOption),
      trigger: "item",
      formatter: (p: unknown) => {
        const x = p as { dataType: string; name: string; value: number; data: Link };
        if (x.dataType === "edge")
          return `${esc(show(x.data.source))} → ${esc(show(x.data.target))}<br><b>${metricValue(metric, x.value)}</b>`;
        return `${esc(show(x.name))}<br><b>${metricValue(metric, x.value)}</b>`;
      },
    },
    series: [
      {
        type: "sankey",
        left: 8,
        right: 120,
        top: 10,
        bottom: 10,
        nodeGap: 6,
        nodeWidth: 12,
        draggable: false,
        emphasis: { focus: "adjacency" },
        data: [...names].map((name, i) => ({ name, itemStyle: { color: colorFor(name.slice(name.indexOf(":") + 1), i), borderWidth: 0 } })),
        links,
        lineStyle: { color: "gradient", opacity: 0.35, curveness: 0.5 },
        label: {
          color: t.text,
          fontSize: 11,
          fontFamily: getComputedStyle(document.documentElement).getPropertyValue("--mono").trim(),
          formatter: (p: { name: string }) => show(p.name),
        },
      },
    ],
  };
}

/** A hidden table of a chart's numbers, for screen readers (the SVG itself is aria-hidden). */
export function dataTable(caption: string, head: string[], rows: (string | number)[][]): HTMLElement {
  return h(
    "div",
    { class: "chart-data sr-only" },
    h(
    "table",
    null,
    h("caption", null, caption),
    h("thead", null, h("tr", null, head.map((c) => h("th", { scope: "col" }, c)))),
    h(
      "tbody",
      null,
      rows.map((r) => h("tr", null, r.map((c) => h("td", null, typeof c === "number" ? exact(c) : c)))),
    ),
    ),
  );
}
