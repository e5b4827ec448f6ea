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

test("a table the page builds is labelled in the page's language and rounded per unit", async () => {
  globalThis.document ??= { documentElement: {} };
  const stored = new Map();
  globalThis.sessionStorage ??= {
    getItem: (key) => stored.get(key) ?? null,
    setItem: (key, value) => stored.set(key, String(value)),
  };
  const { setLanguage } = await import("../src/i18n.js");
  const { forPeople } = await import("../src/csv.js");
  const header = ["device", "completeness [%]", "waste_per_diner_g@reference [g/diner]", "Canteen East [kWh]"];
  const rows = [["meter-1", 99.456, 61.04, null], ["card-1", null, 12, 3.14159]];
  setLanguage("en");
  assert.deepEqual(forPeople(header, rows), [
    ["Device", "Completeness [%]", "Waste per diner (Reference period) [g/diner]", "Canteen East [kWh]"],
    [["meter-1", "99.5", "61.0", null], ["card-1", null, "12.0", "3.14"]],
  ]);
  setLanguage("zh");
  const [labels] = forPeople(header, rows);
  assert.deepEqual(labels.slice(0, 2), ["设备", "完整率 [%]"]);
  assert.equal(labels[3], "Canteen East [千瓦时]");
  setLanguage("en");
});
