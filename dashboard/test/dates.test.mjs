// Period arithmetic of the pickers: ISO weeks, month and year ends, the period before.
import assert from "node:assert/strict";
import { test } from "node:test";

import { addDays, daysBetween, periodParams, previousParams, span } from "../src/dates.js";

test("addDays crosses month, year and leap-day ends", () => {
  assert.equal(addDays("2026-12-31", 1), "2027-01-01");
  assert.equal(addDays("2024-02-28", 1), "2024-02-29");
  assert.equal(addDays("2025-02-28", 1), "2025-03-01");
  assert.equal(addDays("2026-03-01", -1), "2026-02-28");
});

test("daysBetween counts calendar days", () => {
  assert.equal(daysBetween("2026-11-01", "2026-11-30"), 29);
  assert.equal(daysBetween("2024-01-01", "2024-12-31"), 365);
  assert.equal(daysBetween("2026-11-28", "2026-11-28"), 0);
});

test("a week runs Monday to Sunday (ISO 8601)", () => {
  assert.deepEqual(span("week", "2026-11-28"), ["2026-11-23", "2026-11-29"]); // a Saturday
  assert.deepEqual(span("week", "2026-11-23"), ["2026-11-23", "2026-11-29"]); // its Monday
  assert.deepEqual(span("week", "2026-11-29"), ["2026-11-23", "2026-11-29"]); // its Sunday
  assert.deepEqual(span("week", "2027-01-01"), ["2026-12-28", "2027-01-03"]); // across a year
});

test("month and year spans", () => {
  assert.deepEqual(span("month", "2024-02-10"), ["2024-02-01", "2024-02-29"]);
  assert.deepEqual(span("month", "2026-12-31"), ["2026-12-01", "2026-12-31"]);
  assert.deepEqual(span("year", "2026-06-15"), ["2026-01-01", "2026-12-31"]);
  assert.deepEqual(span("day", "2026-06-15"), ["2026-06-15", "2026-06-15"]);
  assert.deepEqual(span("custom", "2026-06-15", "2026-06-01", "2026-06-09"), [
    "2026-06-01",
    "2026-06-09",
  ]);
});

test("the API parameters of a period", () => {
  assert.deepEqual(periodParams({ period: "month", date: "2026-11-28" }), {
    period: "month",
    date: "2026-11-28",
  });
  assert.deepEqual(
    periodParams({ period: "custom", date: "2026-11-28", start: "2026-11-01", end: "2026-11-05" }),
    { period: "custom", start: "2026-11-01", end: "2026-11-05" },
  );
});

test("the period before is the same kind, just before", () => {
  // A month: any date of the previous month names it.
  assert.deepEqual(previousParams({ period: "month", date: "2026-03-15" }), {
    period: "month",
    date: "2026-02-28",
  });
  assert.deepEqual(previousParams({ period: "week", date: "2026-11-28" }), {
    period: "week",
    date: "2026-11-22",
  });
  // A custom span of 5 days: the 5 days before it.
  assert.deepEqual(
    previousParams({ period: "custom", date: "", start: "2026-11-06", end: "2026-11-10" }),
    { period: "custom", start: "2026-11-01", end: "2026-11-05" },
  );
});

test("the same period last year (同比) and shifted ranges (环比) for overlays", async () => {
  const { lastYearParams, shiftedRange, yearBefore, monthOf } = await import("../src/dates.js");
  assert.equal(yearBefore("2024-02-29"), "2023-02-28");
  assert.equal(yearBefore("2026-11-20"), "2025-11-20");
  assert.deepEqual(lastYearParams({ period: "month", date: "2026-11-20" }), { period: "month", date: "2025-11-20" });
  assert.deepEqual(lastYearParams({ period: "week", date: "2026-11-25" }), { period: "week", date: "2025-11-26" });
  assert.deepEqual(lastYearParams({ period: "custom", start: "2026-11-01", end: "2026-11-09" }), {
    period: "custom",
    start: "2025-11-01",
    end: "2025-11-09",
  });
  assert.deepEqual(shiftedRange("2026-11-01", "2026-11-30", "previous"), { period: "custom", start: "2026-10-02", end: "2026-10-31" });
  assert.deepEqual(shiftedRange("2026-11-01", "2026-11-30", "lastYear"), { period: "custom", start: "2025-11-01", end: "2025-11-30" });
  assert.equal(monthOf({ period: "month", date: "2020-03-05" }), "2020-03");
});
