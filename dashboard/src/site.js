// Site view: diners, waste per diner by stream and clean-plate rate per meal service over the
// weeks, electricity, gas and water per meal, the quota burn-down of the month and year, the daily
// load curve with the meal services shaded, device status and data quality, and open alerts;
// targets and comparisons (compare.js) and the alert history with acknowledgements (alerts.js).

import { alertText, drawHistory, loadHistory } from "./alerts.js";
import { getJson } from "./api.js";
import { chart, panel, valueAxis } from "./charts.js";
import { drawComparison, loadComparisons, overlays, targetLine } from "./compare.js";
import { addDays, focusDate, periodParams, span } from "./dates.js";
import { formatDuration, formatNumber, kpiElement, withUnit } from "./format.js";
import { labelled, t, tOr, unitLabel } from "./i18n.js";
import { loadKitchen } from "./kitchen.js";

const TREND_DAYS = 28; // a day's trend charts show the four weeks up to it

const CARDS = [
  "diners",
  "attendance_pct",
  "waste_per_diner_g",
  "spoilage_per_diner_g",
  "clean_plate_rate_pct",
  "waste_value_cny",
  "waste_co2e_kg",
  "electricity_kwh_per_meal",
  "gas_m3_per_meal",
  "water_l_per_meal",
  "energy_kgce_per_meal",
  "energy_kgce_per_m2",
  "energy_kgce_per_staff",
  "quota_use_pct",
  "off_hours_share_pct",
  "peak_demand_kw",
  "waste_change_vs_baseline_pct",
];
const STREAMS = [
  ["plate", "plate_waste_per_diner_g"],
  ["prep", "prep_waste_per_diner_g"],
  ["overproduction", "overproduction_per_diner_g"],
  ["spoilage", "spoilage_per_diner_g"],
];

function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children);
  return node;
}

// Estimated parts (a meter gap spread pro rata, Q1) are drawn lighter and hatched.
const ESTIMATED_STYLE = { opacity: 0.45, decal: { symbol: "rect", dashArrayX: [1, 0], dashArrayY: [2, 4], rotation: -0.785 } };

/** A day row's bar: its value, hatched when part of its energy is estimated. */
function dayBar(row, name) {
  const value = row.kpis[name].value;
  return row.quality.estimated_share_pct > 0 && value !== null ? { value, itemStyle: ESTIMATED_STYLE, estimated: true } : value;
}

/** A legend entry for the hatched (estimated) marks. */
function estimatedLegend() {
  return { type: "bar", name: t("estimated"), data: [], itemStyle: { color: "#8c8c8c", ...ESTIMATED_STYLE } };
}

function trendParams(state) {
  if (state.period !== "day") return periodParams(state);
  return { period: "custom", start: addDays(state.date, -(TREND_DAYS - 1)), end: state.date };
}

/** First and last date of the trend charts. */
function trendRange(state) {
  if (state.period === "day") return { start: addDays(state.date, -(TREND_DAYS - 1)), end: state.date };
  const [start, end] = span(state.period, state.date, state.start, state.end);
  return { start, end };
}

function table(header, rows) {
  const node = el("table", "data");
  node.append(el("thead", "", el("tr", "", ...header.map((h) => el("th", "", h)))));
  const body = el("tbody", "");
  for (const row of rows) body.append(row);
  node.append(body);
  return node;
}

export async function renderSite(state, app) {
  const site = app.sites.find((s) => s.id === state.site);
  if (!site) return (root) => root.append(el("p", "empty", t("noData")));
  const params = periodParams(state);
  const trend = trendParams(state);
  const day = focusDate(state);
  const sameRange = state.period !== "day";
  // the alert history is one evaluation per date: it is drawn when it arrives, after the rest
  const history = loadHistory(site.id, state);
  history.catch(() => {}); // shown in its panel
  const [report, byService, trendDays, burn, curve, alerts, presence, edges, kitchen, comparisons] = await Promise.all([
    getJson("/kpis", { site: site.id, granularity: "day", ...params }),
    getJson("/kpis", { site: site.id, granularity: "service", ...trend }),
    sameRange ? null : getJson("/kpis", { site: site.id, granularity: "day", ...trend }),
    getJson(`/sites/${encodeURIComponent(site.id)}/quota-burndown`, { date: day }),
    getJson(`/sites/${encodeURIComponent(site.id)}/load-curve`, { date: day }),
    getJson("/alerts", { site: site.id, date: day }),
    getJson(`/sites/${encodeURIComponent(site.id)}/devices`),
    getJson(`/sites/${encodeURIComponent(site.id)}/edges`, { date: day }),
    loadKitchen(site, state, app),
    loadComparisons({ site: site.id }, state, trendRange(state)),
  ]);
  const targets = site.targets || {};
  const days = trendDays || report;
  const dates = days.rows.map((r) => r.label);
  const services = site.services.map((s) => s.name);
  const cell = (service, date) => byService.rows.find((r) => r.service === service && r.label === date);
  const kpisCsv = (granularity, range) => ({ filename: `kpis-${site.id}-${granularity}.csv`, api: ["/kpis", { site: site.id, granularity, ...range }] });

  return (root) => {
    root.append(el("h2", "", site.name, el("small", "", ` ${report.start} – ${report.end}`)));

    // period totals
    const cards = el("div", "cards");
    for (const name of CARDS) {
      const kpi = report.total.kpis[name];
      cards.append(el("div", "card", el("div", "card-label", t(`kpi_${name}`)), el("div", "card-value", kpiElement(name, site.id, kpi), el("span", "unit", ` ${unitLabel(kpi.unit)}`))));
    }
    const completeness = { value: report.total.quality.completeness_pct, unit: "%", reason: null };
    cards.append(el("div", "card", el("div", "card-label", t("kpi_completeness_pct")), el("div", "card-value", kpiElement("quality.completeness_pct", site.id, completeness), el("span", "unit", ` ${unitLabel("%")}`))));
    root.append(el("div", "panel wide", cards));
    drawComparison(root, site.id, report.total, comparisons);
    root.append(el("p", "subtitle", t("trendRange", { start: days.start, end: days.end })));

    const grid = el("div", "grid");
    root.append(grid);

    // diners per service
    chart(panel(grid, { id: "diners", title: t("dinersPerService"), unit: "persons", csv: kpisCsv("service", trend) }), {
      xAxis: { type: "category", data: dates },
      yAxis: valueAxis("persons"),
      series: services.map((s) => ({ type: "bar", name: tOr(s), data: dates.map((d) => cell(s, d)?.kpis.diners.value ?? null) })),
    }, "persons");

    // waste per diner by stream, the target, and the total of the previous period and last year
    const wasteTarget = targets.waste_target_g_per_diner ?? null;
    const wasteBody = panel(grid, {
      id: "waste",
      title: t("wastePerDinerByStream"),
      unit: "g/diner",
      csv: kpisCsv("day", trend),
      subtitle: `${t("target")}: ${wasteTarget === null ? t("notSet") : `${formatNumber(wasteTarget, "g/diner")} g/diner`}`,
    });
    wasteBody.dataset.target = wasteTarget ?? "";
    chart(wasteBody, {
      xAxis: { type: "category", data: dates },
      yAxis: valueAxis("g/diner"),
      series: [
        ...STREAMS.map(([stream, name], i) => ({ type: "bar", stack: "waste", name: tOr(stream), data: days.rows.map((r) => r.kpis[name].value), ...(i === 0 ? targetLine(wasteTarget, t("target")) : {}) })),
        ...overlays("waste_per_diner_g", comparisons, dates.length),
      ],
    }, "g/diner");

    // clean-plate rate per service, the goal, and the day's rate of the previous period and last year
    const goal = targets.clean_plate_goal_pct ?? null;
    const plateBody = panel(grid, {
      id: "clean-plate",
      title: t("cleanPlatePerService"),
      unit: "%",
      csv: kpisCsv("service", trend),
      subtitle: `${t("goal")}: ${goal === null ? t("notSet") : `${formatNumber(goal, "%")} %`}`,
    });
    plateBody.dataset.target = goal ?? "";
    chart(plateBody, {
      xAxis: { type: "category", data: dates },
      yAxis: valueAxis("%", { max: 100 }),
      series: [
        ...services.map((s, i) => ({ type: "line", name: tOr(s), data: dates.map((d) => cell(s, d)?.kpis.clean_plate_rate_pct.value ?? null), ...(i === 0 ? targetLine(goal, t("goal")) : {}) })),
        ...overlays("clean_plate_rate_pct", comparisons, dates.length),
      ],
    }, "%");

    // electricity, gas and water per meal
    for (const [id, name, unit] of [
      ["electricityPerMeal", "electricity_kwh_per_meal", "kWh/meal"],
      ["gasPerMeal", "gas_m3_per_meal", "m3/meal"],
      ["waterPerMeal", "water_l_per_meal", "L/meal"],
    ]) {
      const bars = days.rows.map((r) => dayBar(r, name));
      const hatched = bars.some((b) => b?.estimated);
      chart(panel(grid, { id: name, title: t(id), unit, csv: kpisCsv("day", trend) }), {
        legend: { show: hatched },
        xAxis: { type: "category", data: dates },
        yAxis: valueAxis(unit),
        series: [{ type: "bar", name: t(id), stack: "bar", data: bars }, ...(hatched ? [estimatedLegend()] : [])],
      }, unit);
    }

    // top wasted dishes; diners to expect and how much to cook (kitchen.js)
    kitchen(grid);

    // quota burn-down, month and year
    for (const [id, part] of [["quotaMonth", burn.month], ["quotaYear", burn.year]]) {
      const body = panel(grid, {
        id: `quota-${part.period}`,
        title: t(id),
        unit: "kgce",
        subtitle: part.quota_kgce === null ? t("noQuota") : `${labelled(t("quota"), withUnit(part.quota_kgce, "kgce"))}${t("listSeparator")}${labelled(t("kpi_quota_use_pct"), withUnit(part.quota_use_pct, "%"))}`,
        csv: {
          filename: `quota-${site.id}-${part.period}-${part.start}.csv`,
          rows: () => [["label", "start", "end", "used [kgce]", "cumulative [kgce]", "allowed [kgce]", "remaining [kgce]"], part.points.map((p) => [p.label, p.start, p.end, p.used_kgce, p.cumulative_kgce, p.allowed_kgce, p.remaining_kgce])],
        },
      });
      const series = [{ type: "line", name: t("cumulative"), areaStyle: { opacity: 0.15 }, data: part.points.map((p) => p.cumulative_kgce) }];
      if (part.quota_kgce !== null) {
        series.push({ type: "line", name: t("allowed"), lineStyle: { type: "dashed" }, symbol: "none", data: part.points.map((p) => p.allowed_kgce), markLine: { symbol: "none", data: [{ yAxis: part.quota_kgce, name: t("quota") }], label: { formatter: t("quota") } } });
      }
      chart(body, { xAxis: { type: "category", data: part.points.map((p) => p.label) }, yAxis: valueAxis("kgce"), series }, "kgce");
    }

    // load curve with meal services shaded
    const hhmm = (text) => text.slice(11, 16);
    const labels = curve.start.map(hhmm);
    const slot = (text) => {
      const i = labels.indexOf(hhmm(text));
      return i < 0 ? (text.slice(0, 10) < curve.date ? labels[0] : labels[labels.length - 1]) : labels[i];
    };
    const shaded = curve.services.map((s) => [
      { name: tOr(s.name), xAxis: slot(s.start) },
      { xAxis: slot(s.end) },
    ]);
    const loadBody = panel(grid, {
      id: "load-curve",
      title: t("loadCurve"),
      unit: "kWh, m3 / 15 min",
      wide: true,
      subtitle: `${t("loadCurveOf", { date: curve.date })}${t("clauseSeparator")}${labelled(t("kpi_peak_demand_kw"), withUnit(curve.peak_demand_kw, "kW"))}`,
      csv: { filename: `load-curve-${site.id}-${curve.date}.csv`, api: [`/sites/${encodeURIComponent(site.id)}/load-curve`, { date: day }] },
    });
    const present = curve.quantities.filter((q) => q.present);
    // intervals no reading covers (before the first, after the last: the rest of today) are no
    // data, drawn as nothing; intervals resting on a gap spread pro rata are estimated: hatched
    const covered = (q, i) => !q.covered || q.covered[i];
    const runs = []; // [first, last] interval index of each run of estimated intervals
    labels.forEach((_, i) => {
      if (!present.some((q) => covered(q, i) && q.estimated[i] > 0)) return;
      const last = runs[runs.length - 1];
      if (last && last[1] === i - 1) last[1] = i;
      else runs.push([i, i]);
    });
    const bands = runs.map(([first, last]) => [{ xAxis: labels[first], name: t("estimated") }, { xAxis: labels[last] }]);
    if (!present.some((q) => q.covered?.some(Boolean) ?? true)) loadBody.append(el("p", "empty", t("noCurve", { date: curve.date })));
    chart(loadBody, {
      xAxis: { type: "category", data: labels },
      yAxis: [valueAxis("kWh"), valueAxis("m3", { splitLine: { show: false } })],
      grid: { left: 56, right: 56, top: 36, bottom: 32 },
      tooltip: { trigger: "axis" },
      series: [
        ...present.map((q, i) => ({
          type: q.quantity === "electricity" ? "bar" : "line",
          name: `${tOr(q.quantity)} [${unitLabel(q.unit)}]`,
          yAxisIndex: q.unit === "kWh" ? 0 : 1,
          symbol: "none",
          connectNulls: false,
          data: q.used.map((v, j) => (covered(q, j) ? v : null)),
          ...(i === 0 ? { markArea: { silent: true, itemStyle: { color: "rgba(232,121,58,0.12)" }, label: { color: "#8a4b1f" }, data: shaded } } : {}),
        })),
        ...(bands.length ? [{ ...estimatedLegend(), markArea: { silent: true, itemStyle: { color: "rgba(140,140,140,0.25)", decal: ESTIMATED_STYLE.decal }, label: { show: false }, data: bands } }] : []),
      ],
    }, "kWh");

    // devices and data quality
    const silent = new Set(alerts.alerts.filter((a) => a.kind === "device_silent").map((a) => a.device));
    const late = new Set(alerts.alerts.filter((a) => a.kind === "device_late").map((a) => a.device));
    // a meter's readings: silent, late (all there, some arrived late) or reporting (the alerts
    // of the page's date); other devices report only when used
    const readingsOf = (d) => (silent.has(d.device) ? "silent" : late.has(d.device) ? "late" : d.readings === null ? "" : "ok");
    const q = report.total.quality;
    const figures = el("dl", "figures");
    for (const [label, value, unit] of [
      [t("kpi_completeness_pct"), q.completeness_pct, "%"],
      [t("estimatedShare"), q.estimated_share_pct, "%"],
      [t("duplicateShare"), q.duplicate_share_pct, "%"],
      [t("scaleRejected"), q.scale_rejected_below_division + q.scale_rejected_above_max, "count"],
      [t("counterEvents"), q.resets + q.wraps + q.spikes + q.dips + q.gaps + q.exchanges, "count"],
    ]) {
      figures.append(el("dt", "", label), el("dd", "", withUnit(value, unit)));
    }
    // every device of the period's figures, then those known only by their status
    const statusOf = Object.fromEntries(presence.devices.map((d) => [d.device, d]));
    const figuresOf = Object.fromEntries(report.total.devices.map((d) => [d.device, d]));
    const devices = [
      ...report.total.devices,
      ...presence.devices.filter((d) => !figuresOf[d.device]).map((d) => ({ device: d.device, kind: d.kind, readings: null, expected: null, completeness_pct: null, duplicates_dropped: null, clock_skew_median_ms: null, counter_events: null })),
    ];
    const stateOf = (device) => statusOf[device]?.state ?? "unknown";
    const sinceOf = (device) => (statusOf[device]?.since ? statusOf[device].since.slice(0, 16).replace("T", " ") : "");
    const devBody = panel(root, {
      id: "devices",
      title: t("devices"),
      wide: true,
      csv: {
        filename: `devices-${site.id}-${report.start}.csv`,
        rows: () => [
          ["device", "kind", "state", "since", "status", "readings", "expected", "completeness [%]", "duplicates_dropped", "clock_skew_median [ms]", "counter_events"],
          devices.map((d) => [d.device, d.kind, stateOf(d.device), statusOf[d.device]?.since ?? "", { silent: "silent", late: "late", ok: "reporting" }[readingsOf(d)] ?? "", d.readings, d.expected, d.completeness_pct, d.duplicates_dropped, d.clock_skew_median_ms, d.counter_events ? Object.entries(d.counter_events).map(([k, v]) => `${k}=${v}`).join(" ") : ""]),
        ],
      },
    });
    devBody.append(figures);
    devBody.append(table(
      [t("device"), t("kind"), t("connection"), t("since"), t("status"), t("readings"), t("expected"), `${t("completeness")} [%]`, t("duplicates"), t("skew"), t("counterEvents")],
      devices.map((d) => {
        const state = stateOf(d.device);
        const readings = readingsOf(d);
        const tr = el("tr", readings === "silent" ? "silent" : readings === "late" ? "late" : "");
        tr.dataset.device = d.device;
        tr.dataset.state = state;
        tr.dataset.readings = readings;
        const events = d.counter_events ? Object.entries(d.counter_events).filter(([, v]) => v > 0).map(([k, v]) => `${tOr(`event_${k}`)} ${v}`).join(", ") || "0" : "";
        tr.append(
          el("td", "", d.device), el("td", "", tOr(`kind_${d.kind}`)),
          el("td", `state-${state}`, t(state)),
          el("td", "", sinceOf(d.device)),
          el("td", readings ? `readings-${readings}` : "", readings ? t(readings) : ""),
          el("td", "num", kpiElement("device.readings", d.device, { value: d.readings, unit: "readings" })),
          el("td", "num", formatNumber(d.expected, "readings")),
          el("td", "num", formatNumber(d.completeness_pct, "%")),
          el("td", "num", formatNumber(d.duplicates_dropped, "count")),
          el("td", "num", formatDuration(d.clock_skew_median_ms)),
          el("td", "", events),
        );
        return tr;
      }),
    ));

    // edge health: what each edge box dropped, refused or lost on the date, and its backlog
    const edgeBody = panel(root, {
      id: "edges",
      title: `${t("edges")} (${day})`,
      wide: true,
      csv: {
        filename: `edges-${site.id}-${day}.csv`,
        rows: () => [
          ["edge", "measured", "pending_readings", "oldest_pending_age [s]", "dropped_overflow", "dead_lettered", "broker_sessions_lost", "intake_pauses", "lost_readings"],
          edges.edges.map((e) => [e.edge, e.measured ?? "", e.pending_readings, e.oldest_pending_age_s, e.on_date.dropped_overflow, e.on_date.dead_lettered, e.on_date.broker_sessions_lost, e.on_date.intake_pauses, e.lost_readings]),
        ],
      },
    });
    if (!edges.edges.length) edgeBody.append(el("p", "empty", t("noEdges", { date: day })));
    else {
      const onDate = (label) => `${label} (${t("onDate", { date: day })})`;
      edgeBody.append(table(
        [t("edge"), t("measured"), t("pendingReadings"), `${t("oldestPendingAge")} [${unitLabel("s")}]`, onDate(t("droppedOverflow")), onDate(t("deadLettered")), onDate(t("sessionsLost")), onDate(t("intakePauses")), t("status")],
        edges.edges.map((e) => {
          const tr = el("tr", e.lost_readings ? "lost" : "");
          tr.dataset.edge = e.edge;
          tr.dataset.lost = String(e.lost_readings);
          tr.append(
            el("td", "", e.edge),
            el("td", "", e.measured ? e.measured.slice(0, 16).replace("T", " ") : ""),
            el("td", "num", formatNumber(e.pending_readings, "readings")),
            el("td", "num", formatNumber(e.oldest_pending_age_s, "s")),
            el("td", "num", formatNumber(e.on_date.dropped_overflow, "count")),
            el("td", "num", formatNumber(e.on_date.dead_lettered, "count")),
            el("td", "num", formatNumber(e.on_date.broker_sessions_lost, "count")),
            el("td", "num", formatNumber(e.on_date.intake_pauses, "count")),
            el("td", "", e.lost_readings ? t("edgeLost") : t("ok")),
          );
          return tr;
        }),
      ));
    }

    // open alerts
    const alertBody = panel(root, {
      id: "alerts",
      title: `${t("openAlerts")} (${day})`,
      wide: true,
      csv: { filename: `alerts-${site.id}-${day}.csv`, rows: () => [["site", "kind", "device", "value", "threshold", "unit", "message"], alerts.alerts.map((a) => [a.site, a.kind, a.device ?? a.edge, a.value, a.threshold, a.unit, a.message])] },
    });
    if (!alerts.alerts.length) alertBody.append(el("p", "empty", t("noAlerts", { date: day })));
    else {
      alertBody.append(table(
        [t("kind"), t("device"), t("value"), t("threshold"), t("message")],
        alerts.alerts.map((a) => {
          const tr = el("tr", "");
          tr.dataset.alert = a.kind;
          const message = el("td", "", alertText(a));
          message.title = a.message;
          tr.append(el("td", "", tOr(`alert_${a.kind}`)), el("td", "", a.device ?? a.edge ?? ""), el("td", "num", withUnit(a.value, a.unit)), el("td", "num", withUnit(a.threshold, a.unit)), message);
          return tr;
        }),
      ));
    }

    // alert history of the period, acknowledged with who and when
    drawHistory(root, site.id, history);
  };
}
