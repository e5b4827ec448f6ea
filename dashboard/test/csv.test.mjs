// CSV built in the browser from chart data: RFC 4180 quoting, empty cells for missing values.
import assert from "node:assert/strict";
import { test } from "node:test";

import { toCsv } from "../src/csv.js";

test("plain cells are joined by commas, one line per row, ending with a newline", () => {
  assert.equal(toCsv(["date", "kWh"], [["2026-11-28", 12.5]]), "date,kWh\n2026-11-28,12.5\n");
});

test("commas, quotes and newlines are quoted; quotes doubled", () => {
  const text = toCsv(["name"], [["Canteen, east"], ['the "new" one'], ["two\nlines"]]);
  assert.equal(text, 'name\n"Canteen, east"\n"the ""new"" one"\n"two\nlines"\n');
});

test("null and undefined are empty cells, zero is not", () => {
  assert.equal(toCsv(["a", "b", "c"], [[null, undefined, 0]]), "a,b,c\n,,0\n");
});

test("text that a spreadsheet would run as a formula is prefixed with an apostrophe", () => {
  const text = toCsv(["name", "value"], [["=HYPERLINK(1)", -3.5], ["@SUM(A1)", 0], ["+x", 1], ["-y", 2]]);
  assert.equal(text, "name,value\n'=HYPERLINK(1),-3.5\n'@SUM(A1),0\n'+x,1\n'-y,2\n");
});
