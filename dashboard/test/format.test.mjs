// Numbers as shown: decimals per unit, the page's language, relative change.
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.document = { documentElement: {} }; // setLanguage sets <html lang>
const { change, decimalsOf, formatNumber } = await import("../src/format.js");
const { setLanguage } = await import("../src/i18n.js");

test("decimals follow the unit, two for units without a rule", () => {
  assert.equal(decimalsOf("persons"), 0);
  assert.equal(decimalsOf("g/diner"), 1);
  assert.equal(decimalsOf("m3/meal"), 4);
  assert.equal(decimalsOf("CNY"), 2);
  assert.equal(decimalsOf(undefined), 2);
});

test("numbers are rounded to the unit's decimals, with grouping", () => {
  setLanguage("en");
  assert.equal(formatNumber(1234.56, "g/diner"), "1,234.6");
  assert.equal(formatNumber(0.123456, "kWh/meal"), "0.123");
  assert.equal(formatNumber(2.5, "persons"), "3");
  assert.equal(formatNumber(7, "kgce"), "7.0");
});

test("a missing value shows a dash, never 0", () => {
  for (const value of [null, undefined, Number.NaN]) {
    assert.equal(formatNumber(value, "g/diner"), "—");
  }
});

test("Chinese pages use the Chinese locale", () => {
  setLanguage("zh");
  assert.equal(formatNumber(1234567.891, "kWh"), "1,234,567.89");
  setLanguage("en");
});

test("change is relative to the magnitude of the value before, in %", () => {
  assert.equal(change(110, 100), 10);
  assert.equal(change(90, 100), -10);
  assert.equal(change(-50, -100), 50); // a smaller loss is an improvement
  assert.equal(change(5, 0), null);
  assert.equal(change(null, 100), null);
  assert.equal(change(100, undefined), null);
});

test("durations in seconds, minutes or hours with the unit in the page's language", async () => {
  const { formatDuration, withUnit } = await import("../src/format.js");
  setLanguage("en");
  assert.equal(formatDuration(-12_340), "-12.3 s");
  assert.equal(formatDuration(600_000), "10.0 min");
  assert.equal(formatDuration(-600_000_000), "-166.7 h");
  assert.equal(formatDuration(null), "—");
  assert.equal(withUnit(null, "g/diner"), "—");
  setLanguage("zh");
  assert.equal(formatDuration(90_000), "1.5 分钟");
  assert.equal(withUnit(12.34, "g/diner"), "12.3 克/人");
  assert.equal(withUnit(1.5, "kgce/meal"), "1.500 千克标准煤/餐");
  setLanguage("en");
});
