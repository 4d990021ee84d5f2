// The world map of the dashboard's "Countries" panel, loaded only when that panel is shown (its
// own chunk: the geometry, the country codes and ECharts' map series stay out of the first paint).
// Geometry: Natural Earth 1:110m through world-atlas (ISC), converted to GeoJSON by
// topojson-client (ISC); each shape is named by its ISO 3166-1 alpha-2 code (the codes flowscope's
// country fields hold), from the ISO numeric id by i18n-iso-countries (MIT). At 1:110m the
// smallest countries (Singapore, Hong Kong, Bahrain, …) have no shape: the list beside the map
// names every country.

import type { FeatureCollection, Geometry } from "geojson";
import countries from "i18n-iso-countries";
import en from "i18n-iso-countries/langs/en.json";
import { MapChart } from "echarts/charts";
import * as echarts from "echarts/core";
import { feature } from "topojson-client";
import type { GeometryCollection, Topology } from "topojson-specification";
import world from "world-atlas/countries-110m.json";

import { base, esc, row, theme } from "./charts";
import { type Metric, metricValue, percent } from "./format";

echarts.use([MapChart]);
countries.registerLocale(en);

export const MAP = "flowscope-world";
const ANTARCTICA = "010"; // no flows end there, and it takes a fifth of the height

/** Shapes named by alpha-2 code; the count of shapes drawn (for the test and the console). */
function register(): number {
  const topo = world as unknown as Topology<{ countries: GeometryCollection<{ name: string }> }>;
  const all = feature(topo, topo.objects.countries) as FeatureCollection<Geometry, { name: string }>;
  const features = all.features
    .filter((f) => f.id !== ANTARCTICA)
    .map((f) => {
      // Kosovo has no ISO numeric code; the geo databases give it the user-assigned "XK".
      const code = f.id === undefined ? (f.properties.name === "Kosovo" ? "XK" : "") : (countries.numericToAlpha2(String(f.id)) ?? "");
      return { ...f, properties: { name: code, label: f.properties.name } };
    })
    .filter((f) => f.properties.name);
  echarts.registerMap(MAP, { type: "FeatureCollection", features } as never);
  return features.length;
}

export const shapes = register();

/** A short English name: "United States" for "US", "China" for "CN"; the code when unknown. */
export function countryName(code: string): string {
  if (code === "XK") return "Kosovo";
  const all = countries.getName(code, "en", { select: "all" }) ?? [];
  // The official name first, then the common ones: a long official name gives way to the next.
  return (all[0]?.length > 16 && all[1] ? all[1] : all[0]) ?? code;
}

function rgb(hex: string): [number, number, number] {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function mix(a: string, b: string, t: number): string {
  const [x, y] = [rgb(a), rgb(b)];
  const c = x.map((v, i) => Math.round(v + (y[i] - v) * t));
  return `#${c.map((v) => v.toString(16).padStart(2, "0")).join("")}`;
}

export interface MapOptions {
  values: { key: string; value: number }[]; // alpha-2 code -> the metric
  metric: Metric;
  total: number;
}

/** A choropleth: a country's colour grows with its share, on a log scale (traffic is skewed). */
export function mapOption(o: MapOptions): echarts.EChartsCoreOption {
  const t = theme();
  const dark = document.documentElement.dataset.theme === "dark";
  const [low, high] = dark ? ["#23384f", "#8cc2f5"] : ["#d3e3f3", "#1a5fa0"];
  const max = Math.max(1, ...o.values.map((v) => v.value));
  const scale = (v: number) => Math.log1p(v) / Math.log1p(max);
  return {
    ...base(),
    tooltip: {
      ...(base().tooltip as object),
      trigger: "item",
      formatter: (p: unknown) => {
        const x = p as { name: string; value: number; color: string };
        const has = typeof x.value === "number" && !Number.isNaN(x.value);
        const share = has && o.total ? ` · ${percent(x.value / o.total)}` : "";
        return (
          row(has ? x.color : t.grid, `${countryName(x.name)} (${x.name})`, has ? `${metricValue(o.metric, x.value)}${share}` : "no flows") +
          (has ? `<div style="color:${t.text2};margin-top:4px;font-size:11px">${esc("Click to filter")}</div>` : "")
        );
      },
    },
    series: [
      {
        type: "map",
        map: MAP,
        roam: false,
        left: 0,
        right: 0,
        top: 4,
        bottom: 4,
        selectedMode: false,
        label: { show: false },
        itemStyle: { areaColor: t.grid, borderColor: t.panel, borderWidth: 0.6 },
        emphasis: { label: { show: false }, itemStyle: { areaColor: "#D6BF57" } },
        data: o.values.map((v) => ({ name: v.key, value: v.value, itemStyle: { areaColor: mix(low, high, scale(v.value)) } })),
        cursor: "pointer",
      },
    ],
  };
}
