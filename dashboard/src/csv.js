// CSV downloads for people: the API's own CSV (format=csv, in the page's language) where it
// exists, else built from the chart's JSON the same way (forPeople): the header in the page's
// language, numbers rounded to their unit's decimals, UTF-8 with a BOM (Excel and WPS then read
// Chinese correctly), and text that a spreadsheet would run as a formula prefixed with '.

import { getCsv } from "./api.js";
import { fixedText } from "./format.js";
import { language, t, unitLabel } from "./i18n.js";

const BOM = "\ufeff";

/** Hand a Blob to the browser as a download named `filename` (also the reports'). */
export function saveBlob(blob, filename) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function cell(value) {
  if (value === null || value === undefined) return "";
  let text = String(value);
  // Numbers are left alone (a negative number starts with "-" too); text is neutralised.
  if (typeof value !== "number" && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** CSV text of a header and rows (arrays), RFC 4180 quoting, formulas neutralised. */
export function toCsv(header, rows) {
  return [header, ...rows].map((row) => row.map(cell).join(",")).join("\n") + "\n";
}

const COLUMN = /^(.*?)(?: \[([^\]]+)\])?$/;
const REFERENCE = "@reference";

function labelOf(name) {
  if (name.endsWith(REFERENCE)) {
    return `${labelOf(name.slice(0, -REFERENCE.length))} (${t("col_reference")})`;
  }
  for (const key of [`col_${name}`, `kpi_${name}`]) {
    const label = t(key);
    if (label !== key) return label;
  }
  return name; // a proper name (a canteen's) stays as it is
}

/**
 * A page-built table for people, as the API's CSVs for people are: each column named as the API
 * names it ("name" or "name [unit]", "name@reference [unit]" for a reference period's value) is
 * labelled in the page's language, and its numbers are rounded to the unit's decimals (as shown
 * on the page).
 */
export function forPeople(header, rows) {
  const columns = header.map((column) => COLUMN.exec(column));
  const labels = columns.map(([, name, unit]) => (unit ? `${labelOf(name)} [${unitLabel(unit)}]` : labelOf(name)));
  const rounded = rows.map((row) => row.map((value, i) => {
    const unit = columns[i]?.[2];
    return unit && typeof value === "number" && Number.isFinite(value) ? fixedText(value, unit) : value;
  }));
  return [labels, rounded];
}

/** A download source: {api: [path, params]} or {rows: () => [header, rows]}, and a file name. */
export async function download(source) {
  if (source.api) {
    const [path, params] = source.api;
    saveBlob(await getCsv(path, params, language()), source.filename);
  } else {
    const [header, rows] = forPeople(...source.rows());
    saveBlob(new Blob([BOM, toCsv(header, rows)], { type: "text/csv;charset=utf-8" }), source.filename);
  }
}
