// Targets and comparisons of the canteen view: the registry's goals as lines on the charts, the
// same period last year (同比) and the previous period (环比) as dashed overlays, and a table of the
// period's KPIs against both. Every figure is GET /kpis's for the period compared; a period
// without a single stored reading has no figures (—), not zeros.

import { getJson } from "./api.js";
import { panel } from "./charts.js";
import { lastYearParams, previousParams, shiftedRange } from "./dates.js";
import { change, formatNumber, kpiElement } from "./format.js";
import { t, unitLabel } from "./i18n.js";

// The period's KPIs compared, each lower-is-better (true) or higher-is-better (false).
export const COMPARED = [
  ["waste_per_diner_g", true],
  ["spoilage_per_diner_g", true],
  ["clean_plate_rate_pct", false],
  ["waste_value_cny", true],
  ["waste_co2e_kg", true],
  ["diners", false],
  ["attendance_pct", false],
  ["energy_kgce", true],
  ["energy_kgce_per_meal", true],
  ["energy_kgce_per_m2", true],
  ["energy_kgce_per_staff", true],
  ["co2_kg", true],
  ["quota_use_pct", true],
];

const hasData = (report) => report.total.quality.readings_stored > 0;

/** The period compared with the previous one and the same one last year (totals), and, given
 * the trend's dates, those dates moved likewise (per day, for overlays). `scope` is {site} or
 * {region}. */
export async function loadComparisons(scope, state, trend = null) {
  const get = (params, granularity) => getJson("/kpis", { ...scope, granularity, ...params });
  const [previous, lastYear, previousDays, lastYearDays] = await Promise.all([
    get(previousParams(state), "period"),
    get(lastYearParams(state), "period"),
    trend ? get(shiftedRange(trend.start, trend.end, "previous"), "day") : null,
    trend ? get(shiftedRange(trend.start, trend.end, "lastYear"), "day") : null,
  ]);
  const kept = (report) => (report && hasData(report) ? report : null);
  return {
    previous: kept(previous),
    lastYear: kept(lastYear),
    previousDays: kept(previousDays),
    lastYearDays: kept(lastYearDays),
    spans: { previous: [previous.start, previous.end], lastYear: [lastYear.start, lastYear.end] },
  };
}

/** Dashed line series of one KPI of the shifted trends, aligned day by day with the chart. */
export function overlays(name, comparisons, length) {
  const out = [];
  for (const [key, days, style] of [
    ["previousPeriod", comparisons.previousDays, "dashed"],
    ["samePeriodLastYear", comparisons.lastYearDays, "dotted"],
  ]) {
    if (!days) continue;
    out.push({
      type: "line",
      name: t(key),
      symbol: "none",
      connectNulls: false,
      lineStyle: { type: style, width: 1.5 },
      z: 5,
      data: Array.from({ length }, (_, i) => days.rows[i]?.kpis[name].value ?? null),
    });
  }
  return out;
}

/** A horizontal target line on a chart's series (ECharts markLine), or nothing. */
export function targetLine(value, label) {
  if (value === null || value === undefined) return {};
  return {
    markLine: {
      silent: true,
      symbol: "none",
      lineStyle: { type: "solid", color: "#c0392b", width: 1.5 },
      label: { formatter: `${label} ${value}`, position: "insideEndTop", color: "#c0392b" },
      data: [{ yAxis: value, name: label }],
    },
  };
}

function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children);
  return node;
}

function changeCell(name, lowerBetter, now, before, scope) {
  const unit = now?.unit;
  const a = now?.value ?? null;
  const b = before?.value ?? null;
  // a figure in % changes by percentage points, anything else relatively
  const delta = a === null || b === null ? null : unit === "%" ? a - b : change(a, b);
  const cell = el("td", "num change");
  cell.dataset.change = name;
  cell.dataset.scope = scope;
  cell.dataset.value = delta === null ? "" : String(delta);
  if (delta === null) {
    cell.textContent = "—";
    return cell;
  }
  const better = lowerBetter ? delta < 0 : delta > 0;
  cell.classList.add(delta === 0 ? "flat" : better ? "better" : "worse");
  cell.textContent = `${delta > 0 ? "+" : ""}${formatNumber(delta, "%")} ${unit === "%" ? t("pp") : "%"}`;
  return cell;
}

/** The comparison table: the period's KPIs (`total`, a /kpis total row), 环比 and 同比;
 * `scope` (the site id or region tag) is the current values' data-scope. */
export function drawComparison(root, scope, total, comparisons) {
  const [p0, p1] = comparisons.spans.previous;
  const [y0, y1] = comparisons.spans.lastYear;
  const body = panel(root, {
    id: "comparison",
    title: t("comparison"),
    wide: true,
    subtitle: t("comparisonOf", { previous: `${p0} – ${p1}`, lastYear: `${y0} – ${y1}` }),
  });
  const table = el("table", "data comparison");
  const heads = [t("kpi"), t("thisPeriod"), t("previousPeriod"), t("mom"), t("samePeriodLastYear"), t("yoy")];
  table.append(el("thead", "", el("tr", "", ...heads.map((h) => el("th", "", h)))));
  const rows = el("tbody", "");
  for (const [name, lowerBetter] of COMPARED) {
    const now = total.kpis[name];
    const previous = comparisons.previous?.total.kpis[name] ?? { value: null, unit: now.unit };
    const lastYear = comparisons.lastYear?.total.kpis[name] ?? { value: null, unit: now.unit };
    const tr = el("tr", "");
    tr.dataset.kpi = name;
    tr.append(
      el("td", "", t(`kpi_${name}`), el("span", "unit", ` [${unitLabel(now.unit)}]`)),
      el("td", "num", kpiElement(name, scope, now)),
      el("td", "num", kpiElement(name, "previous", previous)),
      changeCell(name, lowerBetter, now, previous, "previous"),
      el("td", "num", kpiElement(name, "lastYear", lastYear)),
      changeCell(name, lowerBetter, now, lastYear, "lastYear"),
    );
    rows.append(tr);
  }
  table.append(rows);
  body.append(table);
  const missing = [];
  if (!comparisons.previous) missing.push(`${p0} – ${p1}`);
  if (!comparisons.lastYear) missing.push(`${y0} – ${y1}`);
  if (missing.length) body.append(el("p", "subtitle", t("noDataFor", { spans: missing.join(", ") })));
  body.append(el("p", "subtitle", t("changeNote")));
}
