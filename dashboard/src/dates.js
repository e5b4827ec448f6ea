// Local dates as YYYY-MM-DD strings, and the period arithmetic the pickers need (ISO weeks).

function parse(text) {
  const [y, m, d] = text.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d));
}

function iso(date) {
  return date.toISOString().slice(0, 10);
}

export function addDays(text, days) {
  const date = parse(text);
  date.setUTCDate(date.getUTCDate() + days);
  return iso(date);
}

export function daysBetween(first, last) {
  return Math.round((parse(last) - parse(first)) / 86400000);
}

/** The viewer's local date `offset` days from today. */
export function today(offset = 0) {
  const now = new Date();
  const local = new Date(Date.UTC(now.getFullYear(), now.getMonth(), now.getDate()));
  local.setUTCDate(local.getUTCDate() + offset);
  return iso(local);
}

/** First and last date of a period kind around `date` (or start..end for custom). */
export function span(kind, date, start, end) {
  const d = parse(date);
  if (kind === "day") return [date, date];
  if (kind === "week") {
    const monday = addDays(date, -((d.getUTCDay() + 6) % 7));
    return [monday, addDays(monday, 6)];
  }
  if (kind === "month") {
    const first = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
    const last = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0));
    return [iso(first), iso(last)];
  }
  if (kind === "year") return [`${d.getUTCFullYear()}-01-01`, `${d.getUTCFullYear()}-12-31`];
  return [start, end];
}

/** Query parameters of /kpis and /ranking for a period. */
export function periodParams(state) {
  if (state.period === "custom") return { period: "custom", start: state.start, end: state.end };
  return { period: state.period, date: state.date };
}

/** The same kind of period just before the chosen one. */
export function previousParams(state) {
  const [first, last] = span(state.period, state.date, state.start, state.end);
  if (state.period === "custom") {
    const length = daysBetween(first, last) + 1;
    return { period: "custom", start: addDays(first, -length), end: addDays(first, -1) };
  }
  return { period: state.period, date: addDays(first, -1) };
}

/** The date the day figures (alerts, load curve) are shown for: the period's last date, but
 * not after today. */
export function focusDate(state) {
  const [, last] = span(state.period, state.date, state.start, state.end);
  const now = today();
  return last > now ? now : last;
}

/** The same date one year earlier (29 February becomes 28 February). */
export function yearBefore(text) {
  const [y, m, d] = text.split("-").map(Number);
  const day = m === 2 && d === 29 ? 28 : d;
  return `${String(y - 1).padStart(4, "0")}-${String(m).padStart(2, "0")}-${String(day).padStart(2, "0")}`;
}

/** The same period a year earlier (同比): the same day, month or year; for a week the week 52
 * weeks before (same weekdays); a custom range shifted by a year. */
export function lastYearParams(state) {
  if (state.period === "custom") return { period: "custom", start: yearBefore(state.start), end: yearBefore(state.end) };
  if (state.period === "week") return { period: "week", date: addDays(state.date, -364) };
  return { period: state.period, date: yearBefore(state.date) };
}

/** A custom range of dates first..last moved to the previous range of the same length (环比)
 * or to a year earlier (同比), for day-by-day overlays. */
export function shiftedRange(first, last, how) {
  if (how === "lastYear") return { period: "custom", start: yearBefore(first), end: yearBefore(last) };
  const length = daysBetween(first, last) + 1;
  return { period: "custom", start: addDays(first, -length), end: addDays(first, -1) };
}

/** The month YYYY-MM a report button offers: the month of the date the view focuses on. */
export function monthOf(state) {
  return focusDate(state).slice(0, 7);
}
