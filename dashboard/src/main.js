// The dashboard page: who is signed in, language, view, place and period pickers, and the router
// between the region view and the site view. The state lives in the URL fragment, so a view can
// be linked. Without a session (or a token link) the sign-in form is shown instead (signin.js).

import { adoptTokenFromFragment, ApiError, getJson, setToken, token } from "./api.js";
import { disposeCharts } from "./charts.js";
import { today } from "./dates.js";
import { detectLanguage, errorText, LANGUAGES, language, regionLabel, setLanguage, t } from "./i18n.js";
import { renderRegion } from "./region.js";
import { reportButtons } from "./report.js";
import { showSignIn, signOut } from "./signin.js";
import { renderSite } from "./site.js";

const PERIODS = ["day", "week", "month", "year", "custom"];
const app = { sites: [], regions: [], state: null, renders: 0, navigate: null, who: null };

function readState() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const date = params.get("date") || today(-1);
  return {
    view: params.get("view") === "site" ? "site" : "region",
    site: params.get("site") || "",
    region: params.get("region") || "",
    period: PERIODS.includes(params.get("period")) ? params.get("period") : "week",
    date,
    start: params.get("start") || date,
    end: params.get("end") || date,
    rank: params.get("rank") || "waste_per_diner_g",
    dishService: params.get("dishService") || "",
  };
}

function writeState(state) {
  const params = new URLSearchParams();
  for (const key of ["view", "site", "region", "period", "date", "rank", "dishService"]) {
    if (state[key]) params.set(key, state[key]);
  }
  if (state.period === "custom") {
    params.set("start", state.start);
    params.set("end", state.end);
  }
  const hash = `#${params}`;
  if (location.hash !== hash) history.replaceState(null, "", hash);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function option(value, label, selected) {
  const node = el("option", { value }, label);
  if (selected) node.selected = true;
  return node;
}

function navigate(changes) {
  app.state = { ...app.state, ...changes };
  writeState(app.state);
  render();
}

function controls() {
  const s = app.state;
  const bar = document.getElementById("controls");
  bar.replaceChildren();
  const views = el("div", { class: "tabs", role: "tablist" });
  for (const view of ["region", "site"]) {
    const button = el(
      "button",
      { type: "button", role: "tab", dataset: { view }, onclick: () => navigate({ view }) },
      t(`${view}View`),
    );
    button.setAttribute("aria-selected", String(s.view === view));
    views.append(button);
  }
  const place =
    s.view === "region"
      ? el(
          "select",
          { id: "region-picker", "aria-label": t("region"), onchange: (e) => navigate({ region: e.target.value }) },
          ...app.regions.map((r) => option(r.tag, `${regionLabel(r.key, r.value)} (${r.sites.length})`, r.tag === s.region)),
        )
      : el(
          "select",
          { id: "site-picker", "aria-label": t("site"), onchange: (e) => navigate({ site: e.target.value }) },
          ...app.sites.map((x) => option(x.id, x.name, x.id === s.site)),
        );
  const period = el(
    "select",
    { id: "period-picker", "aria-label": t("period"), onchange: (e) => navigate({ period: e.target.value }) },
    ...PERIODS.map((p) => option(p, t(p), p === s.period)),
  );
  const dates =
    s.period === "custom"
      ? [
          el("label", {}, t("start"), " ", el("input", { type: "date", id: "start-picker", value: s.start, onchange: (e) => navigate({ start: e.target.value }) })),
          el("label", {}, t("end"), " ", el("input", { type: "date", id: "end-picker", value: s.end, onchange: (e) => navigate({ end: e.target.value }) })),
        ]
      : [el("label", {}, t("date"), " ", el("input", { type: "date", id: "date-picker", value: s.date, onchange: (e) => navigate({ date: e.target.value }) }))];
  bar.append(views, el("label", {}, t(s.view === "region" ? "region" : "site"), " ", place), el("label", {}, t("period"), " ", period), ...dates, reportButtons(s));
}

function header() {
  document.title = t("title");
  document.getElementById("title").textContent = t("title");
  const tools = document.getElementById("tools");
  tools.replaceChildren();
  const lang = el(
    "select",
    { id: "lang", "aria-label": t("language"), onchange: (e) => { setLanguage(e.target.value, true); header(); if (app.who) render(); else signIn(); } },
    ...LANGUAGES.map((l) => option(l, l === "zh" ? "中文" : "English", l === language())),
  );
  if (app.who) {
    const who = el("span", { id: "signed-in", dataset: { kind: app.who.kind } }, t("signedInAs", { name: app.who.name }));
    const out = el("button", { type: "button", id: "signout", onclick: () => { app.who = null; header(); signOut(start); } }, t("signOut"));
    tools.append(who, out);
  }
  tools.append(lang);
}

function signIn() {
  app.who = null;
  header();
  showSignIn(start);
}

function showError(error) {
  if (error instanceof ApiError && error.status === 401) {
    if (token()) {
      setToken(""); // a token link that no longer works: try the session cookie instead
      start();
    } else {
      signIn(); // no session, or it ended: sign in, and the data loads after
    }
    return;
  }
  const content = document.getElementById("content");
  // a known reason in the page's language; the server's own text (English) as the detail
  const message =
    error instanceof ApiError
      ? error.status === 401 || error.status === 403
        ? t("unauthorized", { status: error.status })
        : errorText(error.status)
      : String(error);
  const shown = el("p", { class: "error", role: "alert" }, message);
  if (error instanceof ApiError && error.detail) shown.append(el("br"), el("small", { class: "detail" }, t("errorDetail", { detail: error.detail })));
  content.replaceChildren(shown);
}

async function render() {
  const id = ++app.renders;
  document.body.dataset.state = "loading";
  controls();
  disposeCharts();
  const content = document.getElementById("content");
  content.replaceChildren(el("p", { class: "loading" }, t("loading")));
  try {
    // Load everything first, then draw at once into the attached page (charts need their size).
    const draw = app.state.view === "region" ? await renderRegion(app.state, app) : await renderSite(app.state, app);
    if (id !== app.renders) return; // a newer render started meanwhile
    disposeCharts();
    content.replaceChildren();
    draw(content);
    document.body.dataset.render = String(id);
    document.body.dataset.state = "ready";
  } catch (error) {
    if (id !== app.renders) return;
    document.body.dataset.state = "error";
    showError(error);
  }
}

async function start() {
  try {
    const [who, sites, regions] = await Promise.all([getJson("/auth/session"), getJson("/sites"), getJson("/regions")]);
    app.who = who;
    app.sites = sites;
    app.regions = [...regions].sort((a, b) => b.sites.length - a.sites.length);
  } catch (error) {
    document.body.dataset.state = "error";
    showError(error);
    return;
  }
  header();
  const s = app.state;
  if (!app.regions.some((r) => r.tag === s.region)) s.region = app.regions[0]?.tag || "";
  if (!app.sites.some((x) => x.id === s.site)) s.site = app.sites[0]?.id || "";
  writeState(s);
  render();
}

app.navigate = navigate;
adoptTokenFromFragment();
setLanguage(detectLanguage());
app.state = readState();
header();
window.addEventListener("hashchange", () => {
  const adopted = adoptTokenFromFragment();
  app.state = readState();
  if (adopted || !app.who) start(); // a token link pasted into a signed-out tab loads at once
  else render();
});
start();
