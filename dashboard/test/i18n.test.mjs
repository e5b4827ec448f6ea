// Both languages carry every label, with the same placeholders.
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.document = { documentElement: {} };
const stored = new Map();
globalThis.sessionStorage = {
  getItem: (key) => stored.get(key) ?? null,
  setItem: (key, value) => stored.set(key, String(value)),
};
const { LABELS, LANGUAGES, detectLanguage, language, setLanguage, t, tOr } = await import(
  "../src/i18n.js"
);

const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

test("every label exists in every language", () => {
  const english = Object.keys(LABELS.en).sort();
  for (const lang of LANGUAGES) {
    assert.deepEqual(Object.keys(LABELS[lang]).sort(), english, `labels of ${lang}`);
  }
});

test("translations keep the English placeholders", () => {
  for (const [key, text] of Object.entries(LABELS.en)) {
    assert.deepEqual(placeholders(LABELS.zh[key]), placeholders(text), key);
  }
});

test("the viewer's language is chosen, English otherwise; a choice is kept for the session", () => {
  globalThis.navigator = { languages: ["zh-CN", "en-US"], language: "zh-CN" };
  assert.equal(detectLanguage(), "zh");
  globalThis.navigator = { languages: ["fr-FR", "de"], language: "fr-FR" };
  assert.equal(detectLanguage(), "en");
  setLanguage("zh", true);
  assert.equal(detectLanguage(), "zh");
  assert.equal(document.documentElement.lang, "zh-CN");
  setLanguage("xx");
  assert.equal(language(), "en");
});

test("t fills placeholders; unknown keys fall back to the key", () => {
  setLanguage("en");
  const key = Object.keys(LABELS.en).find((k) => placeholders(LABELS.en[k]).length > 0);
  assert.ok(key, "some label has a placeholder");
  const vars = Object.fromEntries(placeholders(LABELS.en[key]).map((name) => [name, `<${name}>`]));
  const text = t(key, vars);
  for (const name of Object.keys(vars)) assert.ok(text.includes(`<${name}>`), text);
  assert.equal(t("no-such-label"), "no-such-label");
  assert.equal(tOr("Staff canteen"), "Staff canteen");
});

test("units, region keys and API errors in both languages; unknown ones fall back", async () => {
  const { errorText, regionLabel, unitLabel } = await import("../src/i18n.js");
  setLanguage("zh");
  assert.equal(unitLabel("persons"), "人");
  assert.equal(unitLabel("kgce/meal"), "千克标准煤/餐");
  assert.equal(unitLabel("furlongs"), "furlongs");
  assert.equal(regionLabel("province", "Zhejiang"), "省份：Zhejiang");
  assert.equal(regionLabel("campus", "North"), "campus：North");
  assert.match(errorText(503), /中心服务/);
  assert.match(errorText(418), /418/);
  setLanguage("en");
  assert.equal(regionLabel("province", "Zhejiang"), "Province: Zhejiang");
  assert.equal(unitLabel("m3"), "m³");
});

test("a missing value's reason in the page's language, the server's English for an unknown code", async () => {
  const { reasonText } = await import("../src/i18n.js");
  const gas = { reason: "no gas meter", reason_code: "no_meter", reason_params: { quantity: "gas" } };
  const price = { reason_code: "not_configured", reason_params: { key: "food_price_cny_per_kg", scope: "region" } };
  const quota = { reason_code: "no_quota", reason_params: { also: "quota_span" } };
  setLanguage("zh");
  assert.equal(reasonText(gas), "没有燃气表");
  assert.equal(reasonText(price), "有食堂未配置 food_price_cny_per_kg");
  assert.equal(reasonText({ ...price, reason_params: { key: "floor_area_m2" } }), "未配置 floor_area_m2");
  assert.match(reasonText(quota), /^未配置能耗定额.*；定额使用率/);
  assert.equal(reasonText({ reason: "a new reason", reason_code: "from_a_newer_server", reason_params: {} }), "a new reason");
  assert.equal(reasonText({ reason: "old", reason_code: "no_quota", reason_params: { also: "unknown" } }), "old");
  assert.equal(reasonText({ value: 1, reason: null, reason_code: null, reason_params: null }), "");
  assert.equal(reasonText(undefined), "");
  setLanguage("en");
  assert.equal(reasonText(gas), "no gas meter");
  assert.equal(reasonText(price), "food_price_cny_per_kg is not configured for every site");
});

test("a forecast's and a recommendation's notes in the page's language, an operator's note as entered", async () => {
  const { noteText, reasonText } = await import("../src/i18n.js");
  const few = { note: "fewer than 5 working days…", note_code: "forecast_few_workdays", note_params: { min_workdays: "5", days: "84" } };
  const entered = { note: "training day", note_code: null, note_params: {} };
  const calendar = { reason: "2027-01-01 to 2027-01-02: …", reason_code: "calendar_unknown_span", reason_params: { first: "2027-01-01", last: "2027-01-02", years: "2027", tables: "[calendar.2027]" } };
  const noForecast = { reason: "no diner forecast: …", reason_code: "no_forecast", reason_params: { note: "forecast_no_history" } };
  setLanguage("zh");
  assert.equal(noteText(few), "近 84 天内有人就餐的工作日少于 5 天：历史数据不足，无法预测");
  assert.equal(noteText(entered), "training day");
  assert.equal(noteText({ note: "", note_code: null, note_params: {} }), "");
  assert.match(reasonText(calendar), /^2027-01-01 至 2027-01-02：2027 年的节假日安排未知.*\[calendar\.2027\]/);
  assert.equal(reasonText(noForecast), "无就餐人数预测：该餐次没有刷卡记录：无从预测");
  // a note code this page does not know: the server's English
  assert.equal(reasonText({ ...noForecast, reason_params: { note: "from_a_newer_server" } }), "no diner forecast: …");
  setLanguage("en");
  assert.equal(noteText(few), "fewer than 5 working days with diners in the last 84 days: not enough history to forecast");
  assert.match(reasonText(calendar), /^2027-01-01 to 2027-01-02: the holiday schedule of 2027 is not known/);
});
