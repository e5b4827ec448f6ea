// The monthly report buttons: the month of the date in view, for the canteen or region in view,
// in the page's language, as an XLSX workbook or a printable HTML page (GET /reports/monthly).

import { getBlob } from "./api.js";
import { saveBlob } from "./csv.js";
import { monthOf } from "./dates.js";
import { language, t } from "./i18n.js";

function button(format, label, scope, month) {
  const node = document.createElement("button");
  node.type = "button";
  node.className = "report";
  node.dataset.report = format;
  node.textContent = label;
  node.title = t("reportHint", { month });
  node.addEventListener("click", async () => {
    node.disabled = true;
    const lang = language();
    try {
      const blob = await getBlob("/reports/monthly", { ...scope, month, lang, format });
      const name = (scope.site || scope.region).replace(/[^\w.-]+/g, "-");
      saveBlob(blob, `report-${name}-${month}-${lang}.${format}`);
      node.dataset.done = String(Number(node.dataset.done || 0) + 1);
    } catch (error) {
      node.title = String(error.detail || error);
      node.classList.add("failed");
    } finally {
      node.disabled = false;
    }
  });
  return node;
}

/** The report buttons for the state of the page. */
export function reportButtons(state) {
  const scope = state.view === "site" ? { site: state.site } : { region: state.region };
  const month = monthOf(state);
  const box = document.createElement("span");
  box.className = "report-buttons";
  box.append(`${t("monthlyReport", { month })}: `, button("xlsx", "XLSX", scope, month), button("html", t("printable"), scope, month));
  return box;
}
