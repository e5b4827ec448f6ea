// ECharts with only what the dashboard draws (bar and line charts, grid, tooltip, legend, shaded
// areas and reference lines), on the canvas renderer: a small bundle, nothing fetched at run time.

import { BarChart, LineChart } from "echarts/charts";
import {
  GridComponent,
  LegendComponent,
  MarkAreaComponent,
  MarkLineComponent,
  TooltipComponent,
} from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";

import { download } from "./csv.js";
import { withUnit } from "./format.js";
import { t, unitLabel } from "./i18n.js";

echarts.use([
  BarChart,
  LineChart,
  GridComponent,
  LegendComponent,
  MarkAreaComponent,
  MarkLineComponent,
  TooltipComponent,
  CanvasRenderer,
]);

const live = new Set();

window.addEventListener("resize", () => {
  for (const chart of live) chart.resize();
});

/** Dispose the charts of the previous render. */
export function disposeCharts() {
  for (const chart of live) chart.dispose();
  live.clear();
}

/** A panel: a title with the unit, a CSV button, and a body. Returns the body element. */
export function panel(parent, { id, title, unit, csv, subtitle, wide }) {
  const section = document.createElement("section");
  section.className = `panel${wide ? " wide" : ""}`;
  section.dataset.panel = id;
  const head = document.createElement("header");
  const h = document.createElement("h3");
  h.textContent = title;
  if (unit) {
    const u = document.createElement("span");
    u.className = "unit";
    u.dataset.unit = unit;
    u.textContent = ` [${unitLabel(unit)}]`;
    h.append(u);
  }
  head.append(h);
  if (csv) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "csv";
    button.dataset.csv = id;
    button.textContent = t("csv");
    button.title = `${title} (CSV)`;
    button.addEventListener("click", () => {
      button.disabled = true;
      download(csv).finally(() => {
        button.disabled = false;
      });
    });
    head.append(button);
  }
  section.append(head);
  if (subtitle) {
    const p = document.createElement("p");
    p.className = "subtitle";
    p.textContent = subtitle;
    section.append(p);
  }
  const body = document.createElement("div");
  body.className = "panel-body";
  section.append(body);
  parent.append(section);
  return body;
}

/** Draw a chart in `body`; `unit` labels the value axis and the tooltip. */
export function chart(body, option, unit) {
  const box = document.createElement("div");
  box.className = "chart";
  body.append(box);
  const instance = echarts.init(box, null, { renderer: "canvas" });
  instance.setOption({
    animation: false,
    color: ["#2f6fba", "#e8793a", "#3aa46b", "#b0457d", "#7a6fd0", "#8c8c8c"],
    textStyle: { fontFamily: "inherit" },
    tooltip: {
      trigger: "axis",
      valueFormatter: (v) => withUnit(v === null || v === undefined ? v : Number(v), unit),
    },
    legend: { top: 0, type: "plain" },
    grid: { left: 56, right: 24, top: 36, bottom: 32, containLabel: false },
    ...option,
  });
  live.add(instance);
  box.echarts = instance; // for tests: what the chart was given (getOption)
  return instance;
}

/** An axis title with the unit. */
export function valueAxis(unit, extra = {}) {
  return { type: "value", name: unitLabel(unit), nameTextStyle: { align: "left" }, ...extra };
}
