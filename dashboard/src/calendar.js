// Dates a forecast took from the plain week because the holiday schedule of their year is not
// known (the API's calendar_known: false), said in the page's language with the fix.

import { t } from "./i18n.js";

/** The warning for forecast points ({date, calendar_known}), or "" when every date is known. */
export function calendarWarning(points) {
  const unknown = [...new Set(points.filter((p) => p.calendar_known === false).map((p) => p.date))].sort();
  if (!unknown.length) return "";
  const years = [...new Set(unknown.map((date) => date.slice(0, 4)))];
  return t("calendarUnknown", {
    dates: unknown.length === 1 ? unknown[0] : `${unknown[0]} – ${unknown.at(-1)}`,
    years: years.join(", "),
    tables: years.map((year) => `[calendar.${year}]`).join(" "),
  });
}
