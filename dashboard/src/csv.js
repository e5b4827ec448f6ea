// CSV downloads: the API's own CSV (format=csv) where it exists, else built from the chart's JSON.

import { getText } from "./api.js";

function save(text, filename) {
  saveBlob(new Blob([text], { type: "text/csv;charset=utf-8" }), filename);
}

/** Hand a Blob to the browser as a download named `filename`. */
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
  const text = String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** CSV text of a header and rows (arrays), RFC 4180 quoting. */
export function toCsv(header, rows) {
  return [header, ...rows].map((row) => row.map(cell).join(",")).join("\n") + "\n";
}

/** A download source: {api: [path, params]} or {rows: () => [header, rows]}, and a file name. */
export async function download(source) {
  if (source.api) {
    const [path, params] = source.api;
    save(await getText(path, params), source.filename);
  } else {
    const [header, rows] = source.rows();
    save(toCsv(header, rows), source.filename);
  }
}
