// Kitchen panels of the site view: the top wasted dishes of the period with their value (CNY) and
// CO2e, of the whole day or of one meal service (a selector; the state's `dishService`), and for
// the coming day the diners to expect per service and how much to cook.

import { getJson } from "./api.js";
import { panel } from "./charts.js";
import { periodParams } from "./dates.js";
import { formatNumber } from "./format.js";
import { language, noteText, reasonText, t, tOr, unitLabel } from "./i18n.js";

const TOP = 10;

function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children);
  return node;
}

function table(header, rows) {
  const node = el("table", "data");
  node.append(el("thead", "", el("tr", "", ...header.map((h) => el("th", "", h)))));
  node.append(el("tbody", "", ...rows));
  return node;
}

function dishName(row) {
  if (row.key === "") return t("untagged");
  const name = language() === "zh" ? row.name_zh : row.name_en;
  return row.known ? name : `${name} (${t("unknownItem")})`;
}

/** The dishes panel's service selector: the whole day, or one of the site's meal services. */
function servicePicker(site, service, app) {
  const picker = el("label", "dish-service", `${t("service")} `);
  const select = el("select", "");
  select.id = "dish-service-picker";
  for (const name of ["", ...site.services.map((s) => s.name)]) {
    const o = el("option", "", name ? tOr(name) : t("wholeDay"));
    o.value = name;
    o.selected = name === service;
    select.append(o);
  }
  select.addEventListener("change", () => app.navigate({ dishService: select.value }));
  picker.append(select);
  return picker;
}

/** Fetch what the kitchen panels show; returns a function that draws them into a parent. */
export async function loadKitchen(site, state, app) {
  const params = periodParams(state);
  // a service of another site (the link was made there) shows the whole day
  const service = site.services.some((s) => s.name === state.dishService) ? state.dishService : "";
  const dishParams = { site: site.id, group: "item", top: TOP, ...params, ...(service ? { service } : {}) };
  const [dishes, plan] = await Promise.all([
    getJson("/dishes", dishParams),
    getJson("/production", { site: site.id }),
  ]);
  return (parent) => {
    const dishBody = panel(parent, {
      id: "top-dishes",
      title: t("topWastedDishes"),
      unit: [unitLabel("kg"), unitLabel("CNY"), unitLabel("kgCO2e")].join(", "),
      subtitle: t("taggedShare", { tagged: formatNumber(dishes.tagged_g / 1000, "kg"), total: formatNumber(dishes.total_g / 1000, "kg") }),
      csv: { filename: `dishes-${site.id}${service ? `-${service}` : ""}-${dishes.start}.csv`, api: ["/dishes", dishParams] },
    });
    dishBody.append(servicePicker(site, service, app));
    if (!dishes.rows.length) dishBody.append(el("p", "empty", t("noData")));
    else {
      dishBody.append(table(
        [t("dish"), `${t("wasteMass")} [${unitLabel("kg")}]`, `${t("share")} [%]`, `${t("valueCny")} [${unitLabel("CNY")}]`, `${t("co2e")} [${unitLabel("kgCO2e")}]`],
        dishes.rows.map((r) => {
          const tr = el("tr", r.known ? "" : "unknown");
          tr.dataset.item = r.key;
          tr.append(
            el("td", "", dishName(r)),
            el("td", "num", formatNumber(r.mass_g / 1000, "kg")),
            el("td", "num", formatNumber(r.share_pct, "%")),
            el("td", "num", formatNumber(r.value_cny, "CNY")),
            el("td", "num", formatNumber(r.co2e_kg, "kg")),
          );
          return tr;
        }),
      ));
    }

    const planBody = panel(parent, {
      id: "production",
      title: t("cookTomorrow", { date: plan.date }),
      unit: [unitLabel("persons"), unitLabel("kg")].join(", "),
      csv: {
        filename: `production-${site.id}-${plan.date}.csv`,
        rows: () => [["service", "diners", "low", "high", "source", "portion [g]", "recommended [kg]", "reason"], plan.services.map((s) => [s.service, s.forecast.diners, s.forecast.low, s.forecast.high, sourceName(s.forecast.source), s.portion_g, s.recommended_kg, planNote(s, true)])],
      },
    });
    planBody.append(table(
      [t("service"), t("expectedDiners"), t("interval80"), `${t("portion")} [${unitLabel("g")}]`, `${t("recommendedCook")} [${unitLabel("kg")}]`, t("note")],
      plan.services.map((s) => {
        const f = s.forecast;
        const tr = el("tr", "");
        tr.dataset.service = s.service;
        tr.append(
          el("td", "", tOr(s.service)),
          el("td", "num", formatNumber(f.diners, "persons")),
          el("td", "num", f.low === null ? "—" : `${formatNumber(f.low, "persons")} – ${formatNumber(f.high, "persons")}`),
          el("td", "num", formatNumber(s.portion_g, "g")),
          el("td", "num", formatNumber(s.recommended_kg, "kg")),
          noteCell(planNote(s)) ?? el("td", "", f.holiday ? holidayName(f.holiday) : t(`day_${f.kind}`)),
        );
        return tr;
      }),
    ));
    // the dates that follow the plain week because their year's holiday schedule is not known
    if (plan.calendar_note) {
      const warning = reasonText({ reason: plan.calendar_note, reason_code: plan.calendar_note_code, reason_params: plan.calendar_note_params });
      planBody.append(el("p", "calendar-unknown", warning));
    }
  };
}

// Why a service has no recommendation, else its forecast's note, in the page's language ("" for
// none). A model forecast's note only says that its year's calendar is unknown (the warning
// below the table), unless `all` (the CSV).
function planNote(s, all = false) {
  if (s.reason) return reasonText(s);
  return s.forecast.source === "model" && !all ? "" : noteText(s.forecast);
}

// The note, in full, with the same text as its tooltip for a narrow column.
function noteCell(text) {
  if (!text) return null;
  const cell = el("td", "note", text);
  cell.title = text;
  return cell;
}

// Where a forecast comes from, in the page's language (the API's code when no label exists).
function sourceName(source) {
  const label = tOr(`forecastSource_${source}`);
  return label === `forecastSource_${source}` ? source : label;
}

// A holiday's name in the page's language: the package's names have labels; a name entered in the
// registry's [calendar.YYYY] is shown as written.
function holidayName(name) {
  const label = tOr(`holiday_${name}`);
  return label === `holiday_${name}` ? name : label;
}
