// Dates that follow the plain week because their year's holiday schedule is unknown: said, with
// the fix, in both languages.
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.document = { documentElement: {} }; // setLanguage sets <html lang>
const { calendarWarning } = await import("../src/calendar.js");
const { setLanguage } = await import("../src/i18n.js");

const point = (date, known) => ({ date, calendar_known: known });

test("no warning when every date's schedule is known", () => {
  assert.equal(calendarWarning([point("2026-12-31", true)]), "");
  assert.equal(calendarWarning([]), "");
});

test("the unknown dates, their year and the registry entry that fixes it, in both languages", () => {
  const points = [point("2026-12-31", true), point("2027-01-02", false), point("2027-01-01", false), point("2027-01-01", false)];
  setLanguage("en");
  const en = calendarWarning(points);
  assert.match(en, /^2027-01-01 – 2027-01-02: the holiday schedule of 2027 is not known yet/);
  assert.match(en, /plain week \(Monday–Friday work\)/);
  assert.match(en, /enter the State Council's notice as \[calendar\.2027\] in the site registry/);
  setLanguage("zh");
  const zh = calendarWarning([point("2027-01-04", false)]);
  assert.match(zh, /^2027-01-04：2027 年的节假日安排尚未录入/);
  assert.match(zh, /普通周（周一至周五上班）/);
  assert.match(zh, /\[calendar\.2027\]/);
  setLanguage("en");
});
