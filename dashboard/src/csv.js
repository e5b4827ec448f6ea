// CSV downloads for people: the API's own CSV (format=csv, in the page's language) where it
// exists, else built from the chart's JSON the same way: UTF-8 with a BOM (Excel and WPS then read
// Chinese correctly), and text that a spreadsheet would run as a formula prefixed with '.

import { getCsv } from "./api.js";
import { language } from "./i18n.js";

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

/** A download source: {api: [path, params]} or {rows: () => [header, rows]}, and a file name. */
export async function download(source) {
  if (source.api) {
    const [path, params] = source.api;
    saveBlob(await getCsv(path, params, language()), source.filename);
  } else {
    const [header, rows] = source.rows();
    saveBlob(new Blob([BOM, toCsv(header, rows)], { type: "text/csv;charset=utf-8" }), source.filename);
  }
}
