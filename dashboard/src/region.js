// Region view: every canteen of a region ranked by waste per diner, clean-plate rate, energy per
// meal and quota use, each with its change against the canteen's baseline period (or, without
// one, the previous period of the same length), canteens with alerts, offline devices (latest
// status, from /regions) or silent meters marked; the region's total against the previous period
// and the same period last year (compare.js).

import { getJson } from "./api.js";
import { chart, panel, valueAxis } from "./charts.js";
import { drawComparison, loadComparisons } from "./compare.js";
import { focusDate, periodParams, previousParams } from "./dates.js";
import { change, formatNumber, kpiElement, withUnit } from "./format.js";
import { labelled, regionLabel, t, unitLabel } from "./i18n.js";

// name, better direction (the ranking order of /ranking)
export const REGION_KPIS = [
  ["waste_per_diner_g", "asc"],
  ["clean_plate_rate_pct", "desc"],
  ["energy_kgce_per_meal", "asc"],
  ["quota_use_pct", "asc"],
];

function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children);
  return node;
}

function trendElement(name, site, now, before, order, reference) {
  const delta = change(now?.value, before?.value);
  const label = t(reference === "baseline" ? "vsBaseline" : "vsPrevious");
  const span = el("span", "trend");
  span.dataset.trend = name;
  span.dataset.scope = site;
  span.dataset.reference = reference;
  span.dataset.previous = before?.value ?? "";
  if (delta === null) {
    span.textContent = "—";
    span.title = labelled(label, t("noData"));
    return span;
  }
  const better = order === "asc" ? delta < 0 : delta > 0;
  span.classList.add(Math.abs(delta) < 0.05 ? "flat" : better ? "better" : "worse");
  span.textContent = `${delta > 0 ? "▲" : delta < 0 ? "▼" : "•"} ${formatNumber(Math.abs(delta), "%")}%`;
  span.title = labelled(label, withUnit(before.value, before.unit));
  return span;
}

export async function renderRegion(state, app) {
  const region = app.regions.find((r) => r.tag === state.region);
  if (!region) return (root) => root.append(el("p", "empty", t("noData")));
  const order = REGION_KPIS.find(([n]) => n === state.rank) ? state.rank : REGION_KPIS[0][0];
  const direction = REGION_KPIS.find(([n]) => n === order)[1];
  const params = periodParams(state);
  const previous = previousParams(state);
  const day = focusDate(state);
  // Each canteen's trend is against its configured baseline period (registry `baseline`), or
  // against the previous period of the same length where it has none.
  const infoOf = Object.fromEntries(app.sites.map((s) => [s.id, s]));
  const referenceOf = (site) => (infoOf[site]?.baseline ? "baseline" : "previous");
  const referenceParams = (site) => {
    const baseline = infoOf[site]?.baseline;
    return baseline ? { period: "custom", start: baseline.start, end: baseline.end } : previous;
  };
  const [ranking, alerts, reports, before, regions, comparisons] = await Promise.all([
    getJson("/ranking", { region: region.tag, kpi: order, order: direction, ...params }),
    getJson("/alerts", { region: region.tag, date: day }),
    Promise.all(region.sites.map((site) => getJson("/kpis", { site, granularity: "day", ...params }))),
    Promise.all(region.sites.map((site) => getJson("/kpis", { site, granularity: "period", ...referenceParams(site) }))),
    getJson("/regions"), // fresh offline counts: devices go offline while the page is open
    loadComparisons({ region: region.tag }, state), // the region's 环比 and 同比
  ]);
  const offlineOf = (site) => regions.find((r) => r.tag === region.tag)?.offline_devices?.[site] ?? 0;
  const bySite = Object.fromEntries(region.sites.map((s, i) => [s, { now: reports[i], before: before[i] }]));
  const names = Object.fromEntries(app.sites.map((s) => [s.id, s.name]));
  const alertsOf = (site) => alerts.alerts.filter((a) => a.site === site);

  return (root) => {
    root.append(el("h2", "", `${t("regionView")} · ${regionLabel(region.key, region.value)}`, el("small", "", ` ${ranking.start} – ${ranking.end}`)));

    // region totals
    const cards = el("div", "cards");
    for (const [name] of [["diners"], ...REGION_KPIS]) {
      const kpi = ranking.region_total.kpis[name];
      cards.append(el("div", "card", el("div", "card-label", t(`kpi_${name}`)), el("div", "card-value", kpiElement(name, region.tag, kpi), el("span", "unit", ` ${unitLabel(kpi.unit)}`))));
    }
    root.append(el("div", "panel wide", el("h3", "", t("regionTotal")), cards));
    drawComparison(root, region.tag, ranking.region_total, comparisons);

    // ranking table
    const body = panel(root, {
      id: "ranking-table",
      title: t("sitesRanked"),
      wide: true,
      csv: {
        filename: `ranking-${region.tag}-${ranking.start}.csv`,
        rows: () => [
          ["rank", "site", "name", ...REGION_KPIS.flatMap(([n]) => [`${n} [${ranking.region_total.kpis[n].unit}]`, `${n}@reference [${ranking.region_total.kpis[n].unit}]`]), "reference", "alerts", "offline_devices"],
          ranking.sites.map((r) => [
            r.rank, r.site, r.name,
            ...REGION_KPIS.flatMap(([n]) => [bySite[r.site].now.total.kpis[n].value, bySite[r.site].before.total.kpis[n].value]),
            referenceOf(r.site),
            alertsOf(r.site).map((a) => a.kind).join(" "),
            offlineOf(r.site),
          ]),
        ],
      },
    });
    const picker = el("label", "rank-by", `${t("rankBy")} `);
    const select = el("select", "");
    select.id = "rank-picker";
    for (const [name] of REGION_KPIS) {
      const o = el("option", "", t(`kpi_${name}`));
      o.value = name;
      o.selected = name === order;
      select.append(o);
    }
    select.addEventListener("change", () => app.navigate({ rank: select.value }));
    picker.append(select);
    body.append(picker);
    const table = el("table", "ranking");
    const head = el("tr", "", el("th", "", t("rank")), el("th", "", t("site")));
    for (const [name] of REGION_KPIS) {
      head.append(el("th", name === order ? "sorted" : "", `${t(`kpi_${name}`)} [${unitLabel(ranking.region_total.kpis[name].unit)}]`));
    }
    head.append(el("th", "", t("alerts")));
    table.append(el("thead", "", head));
    const rows = el("tbody", "");
    for (const ranked of ranking.sites) {
      const site = ranked.site;
      const tr = el("tr", "");
      tr.dataset.site = site;
      tr.dataset.rank = ranked.rank ?? "";
      const link = el("a", "site-link", ranked.name);
      link.href = "#";
      link.dataset.site = site;
      link.addEventListener("click", (event) => {
        event.preventDefault();
        app.navigate({ view: "site", site });
      });
      tr.append(el("td", "rank", String(ranked.rank ?? "—")), el("td", "", link));
      for (const [name, better] of REGION_KPIS) {
        const now = bySite[site].now.total.kpis[name];
        const cell = el("td", "num", kpiElement(name, site, now), " ", trendElement(name, site, now, bySite[site].before.total.kpis[name], better, referenceOf(site)));
        if (name === "waste_per_diner_g") {
          const f9 = bySite[site].now.total.kpis.waste_change_vs_baseline_pct;
          const base = kpiElement("waste_change_vs_baseline_pct", site, f9);
          cell.append(el("div", "baseline", labelled(t("vsBaseline"), ""), base, f9.value === null ? "" : unitLabel("%")));
        }
        tr.append(cell);
      }
      const marks = el("td", "alerts");
      const found = alertsOf(site);
      const silent = found.filter((a) => a.kind === "device_silent");
      if (found.length) {
        const badge = el("span", "badge alert", `⚠ ${found.length}`);
        badge.dataset.alerts = site;
        badge.title = found.map((a) => a.message).join("\n");
        marks.append(badge);
      }
      if (offlineOf(site) > 0) {
        const offline = found.filter((a) => a.kind === "device_offline").map((a) => a.device);
        const badge = el("span", "badge offline", labelled(t("offlineDevices"), offlineOf(site)));
        badge.dataset.offline = site;
        badge.dataset.count = offlineOf(site);
        if (offline.length) badge.title = offline.join(", ");
        marks.append(badge);
      }
      if (silent.length) {
        const badge = el("span", "badge silent", labelled(t("silent"), silent.map((a) => a.device).join(t("listSeparator"))));
        badge.dataset.silent = site;
        marks.append(badge);
      }
      tr.append(marks);
      rows.append(tr);
    }
    table.append(rows);
    body.append(table);

    // ranked bar chart of the chosen KPI (API CSV of the ranking)
    const unit = ranking.unit;
    const ranked = [...ranking.sites].reverse();
    const bars = panel(root, {
      id: "ranking-chart",
      title: t(`kpi_${order}`),
      unit,
      csv: { filename: `ranking-${order}.csv`, api: ["/ranking", { region: region.tag, kpi: order, order: direction, ...params }] },
    });
    chart(bars, {
      legend: { show: false },
      grid: { left: 160, right: 40, top: 24, bottom: 32 },
      xAxis: valueAxis(unit),
      yAxis: { type: "category", data: ranked.map((r) => r.name) },
      series: [{ type: "bar", name: t(`kpi_${order}`), data: ranked.map((r) => r.value.value), label: { show: true, position: "right", formatter: (p) => formatNumber(p.value, unit) } }],
    }, unit);

    // trend of the chosen KPI per day and canteen
    const dates = reports[0].rows.map((r) => r.label);
    const trend = panel(root, {
      id: "trend-chart",
      title: labelled(t("trendBySite"), t(`kpi_${order}`)),
      unit,
      csv: {
        filename: `trend-${order}-${region.tag}.csv`,
        rows: () => [["date", ...region.sites.map((s) => `${names[s] || s} [${unit}]`)], dates.map((d, i) => [d, ...region.sites.map((s) => bySite[s].now.rows[i]?.kpis[order].value)])],
      },
    });
    chart(trend, {
      xAxis: { type: "category", data: dates },
      yAxis: valueAxis(unit),
      series: region.sites.map((s) => ({ type: "line", name: names[s] || s, connectNulls: false, data: bySite[s].now.rows.map((r) => r.kpis[order].value) })),
    }, unit);
  };
}
