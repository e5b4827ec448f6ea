// Numbers as shown: a fixed number of decimals per unit, in the page's language.

import { language, unitLabel } from "./i18n.js";

const DECIMALS = {
  persons: 0,
  trays: 0,
  readings: 0,
  count: 0,
  "g/diner": 1,
  g: 0,
  "%": 1,
  "kWh/meal": 3,
  "m3/meal": 4,
  "L/meal": 1,
  "kgce/meal": 3,
  kgce: 1,
  kW: 1,
  kWh: 2,
  m3: 3,
  ms: 0,
  s: 1,
  min: 1,
  h: 1,
  messages: 0,
};

export function decimalsOf(unit) {
  return DECIMALS[unit] ?? 2;
}

export function formatNumber(value, unit) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  const digits = decimalsOf(unit);
  return new Intl.NumberFormat(language() === "zh" ? "zh-CN" : "en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(value);
}

/** A number with its unit, both as shown ("12.5 克/人"); "—" alone without a value. */
export function withUnit(value, unit) {
  const number = formatNumber(value, unit);
  const label = unitLabel(unit);
  return number === "—" || !label ? number : `${number} ${label}`;
}

/** A duration given in ms (a clock skew, a delay) in seconds, minutes or hours as fits, with its
 * unit in the page's language; negative stays negative. */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  const size = Math.abs(ms);
  const [value, unit] = size < 60_000 ? [ms / 1000, "s"] : size < 3_600_000 ? [ms / 60_000, "min"] : [ms / 3_600_000, "h"];
  return withUnit(value, unit);
}

/** A KPI value element: the shown text, and the raw value and unit for tests and tooltips. */
export function kpiElement(name, scope, kpi, extra = {}) {
  const el = document.createElement("span");
  el.className = "kpi-value";
  el.dataset.kpi = name;
  el.dataset.scope = scope;
  el.dataset.unit = kpi?.unit ?? "";
  el.dataset.decimals = String(decimalsOf(kpi?.unit));
  el.dataset.value = kpi?.value === null || kpi?.value === undefined ? "" : String(kpi.value);
  for (const [key, value] of Object.entries(extra)) el.dataset[key] = value;
  el.textContent = formatNumber(kpi?.value, kpi?.unit);
  if (kpi?.reason) el.title = kpi.reason;
  return el;
}

/** Relative change of `now` against `before`, in %, or null. */
export function change(now, before) {
  if (now === null || before === null || now === undefined || before === undefined) return null;
  if (before === 0) return null;
  return ((now - before) / Math.abs(before)) * 100;
}
