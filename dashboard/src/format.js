// Numbers as shown: a fixed number of decimals per unit, in the page's language.

// The one table of decimals per unit, central's (central/unit_decimals.py): the API's CSVs for
// people and the monthly report round with it too. Bundled at build time.
import DECIMALS from "../../central/unit_decimals.json" with { type: "json" };
import { language, reasonText, unitLabel } from "./i18n.js";

export function decimalsOf(unit) {
  return DECIMALS.units[unit] ?? DECIMALS.other;
}

function rounded(value, unit, locale, useGrouping) {
  const digits = decimalsOf(unit);
  // + 0: no "-0"; Intl rounds halves away from zero, as central does (central/unit_decimals.py)
  return new Intl.NumberFormat(locale, { minimumFractionDigits: digits, maximumFractionDigits: digits, useGrouping }).format(value + 0);
}

export function formatNumber(value, unit) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  return rounded(value, unit, language() === "zh" ? "zh-CN" : "en-US", true);
}

/** A number with its unit's decimals as a CSV cell carries it: "1234.5", no separators. */
export function fixedText(value, unit) {
  return rounded(value, unit, "en-US", false);
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
  const why = reasonText(kpi); // in the page's language
  if (why) el.title = why;
  return el;
}

/** Relative change of `now` against `before`, in %, or null. */
export function change(now, before) {
  if (now === null || before === null || now === undefined || before === undefined) return null;
  if (before === 0) return null;
  return ((now - before) / Math.abs(before)) * 100;
}
