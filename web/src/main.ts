// flowscope's web page: Discover, Visualize and the VPC traffic dashboard over the JSON API.
// This entry is small on purpose: it asks for the fields and the store's time extent at once,
// while the browser is still fetching and compiling the app and ECharts (a separate chunk).
import "./style.css";
import * as data from "./data";

const t0 = performance.now();
const early = { fields: data.fields(), extent: data.extent() };
// An unhandled rejection here would be reported twice: the app shows the error instead.
early.fields.catch(() => undefined);
early.extent.catch(() => undefined);

const root = document.getElementById("app");
if (root) {
  void import("./app").then(({ App, timings }) => {
    timings.entry = t0;
    void new App(root).start(early);
  });
}
