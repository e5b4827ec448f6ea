// The alert history of a canteen over the period in view (at most its last 31 days): each alert
// with its date, and who acknowledged it when, or a button to acknowledge it (POST /alerts/ack).

import { getJson, postJson } from "./api.js";
import { panel } from "./charts.js";
import { addDays, focusDate, span } from "./dates.js";
import { formatNumber } from "./format.js";
import { t, tOr, unitLabel } from "./i18n.js";

export const HISTORY_DAYS = 31;

/** The dates of the history: the period in view, cut to its last HISTORY_DAYS days up to today. */
export function historyRange(state) {
  const [first] = span(state.period, state.date, state.start, state.end);
  const last = focusDate(state);
  const earliest = addDays(last, -(HISTORY_DAYS - 1));
  return { start: first > earliest ? first : earliest, end: last };
}

export async function loadHistory(site, state) {
  return getJson("/alerts/history", { site, ...historyRange(state) });
}

function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children);
  return node;
}

function when(at) {
  return at.slice(0, 16).replace("T", " ");
}

function ackCell(alert) {
  const cell = el("td", "ack");
  const show = (ack) => {
    cell.replaceChildren(`${t("ackedBy", { by: ack.by, at: when(ack.at) })}`);
    cell.dataset.ackedBy = ack.by;
  };
  if (alert.ack) {
    show(alert.ack);
    return cell;
  }
  const button = el("button", "ack-button", t("acknowledge"));
  button.type = "button";
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const done = await postJson("/alerts/ack", { site: alert.site, date: alert.date, kind: alert.kind, device: alert.device ?? alert.edge ?? "" });
      show(done.ack);
      cell.closest("tr").classList.remove("open");
    } catch (error) {
      button.disabled = false;
      button.title = String(error.detail || error);
    }
  });
  cell.append(button);
  return cell;
}

/** Draw the history panel into `root` now, and its rows when `pending` (loadHistory) is done;
 * the panel's `data-state` is loading, ready or error. */
export function drawHistory(root, site, pending) {
  const holder = document.createElement("div");
  holder.dataset.history = "loading";
  holder.append(el("p", "loading", t("loading")));
  root.append(holder);
  pending.then(
    (history) => {
      holder.replaceChildren();
      fill(holder, site, history);
      holder.dataset.history = "ready";
    },
    (error) => {
      holder.replaceChildren(el("p", "error", `${t("alertHistory")}: ${error.detail || error}`));
      holder.dataset.history = "error";
    },
  );
}

function fill(root, site, history) {
  const body = panel(root, {
    id: "alert-history",
    title: `${t("alertHistory")} (${history.start} – ${history.end})`,
    wide: true,
    subtitle: t("alertHistoryOpen", { open: history.open, total: history.alerts.length }),
    csv: {
      filename: `alert-history-${site}-${history.start}-${history.end}.csv`,
      rows: () => [
        ["date", "site", "kind", "device", "value", "threshold", "unit", "message", "acknowledged_by", "acknowledged_at"],
        history.alerts.map((a) => [a.date, a.site, a.kind, a.device ?? a.edge, a.value, a.threshold, a.unit, a.message, a.ack?.by, a.ack?.at]),
      ],
    },
  });
  if (!history.alerts.length) {
    body.append(el("p", "empty", t("noAlertsInRange")));
    return;
  }
  const table = el("table", "data");
  table.append(el("thead", "", el("tr", "", ...[t("date"), t("kind"), t("device"), t("value"), t("threshold"), t("message"), t("acknowledged")].map((h) => el("th", "", h)))));
  const rows = el("tbody", "");
  for (const a of [...history.alerts].reverse()) {
    const tr = el("tr", a.ack ? "" : "open");
    tr.dataset.alertId = a.id;
    tr.append(
      el("td", "", a.date),
      el("td", "", tOr(`alert_${a.kind}`)),
      el("td", "", a.device ?? a.edge ?? ""),
      el("td", "num", `${formatNumber(a.value, a.unit)} ${unitLabel(a.unit)}`),
      el("td", "num", `${formatNumber(a.threshold, a.unit)} ${unitLabel(a.unit)}`),
      messageCell(a),
      ackCell(a),
    );
    rows.append(tr);
  }
  table.append(rows);
  body.append(table);
}

/** Alert text in the page's language from its kind and figures; the server's text is the
 * tooltip (English, with every detail). */
export function alertText(a) {
  const vars = { device: a.device ?? "", edge: a.edge ?? "", value: formatNumber(a.value, a.unit), threshold: formatNumber(a.threshold, a.unit) };
  const key = a.kind === "device_silent" && a.value === null ? "alertText_device_silent_none" : `alertText_${a.kind}`;
  const text = t(key, vars);
  return text === key ? a.message : text;
}

function messageCell(a) {
  const cell = el("td", "", alertText(a));
  cell.title = a.message;
  return cell;
}
