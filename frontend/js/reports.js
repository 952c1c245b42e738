// Reports (reports.html): the funnel with conversion, time to hire, time in stage, sources with outcomes and
// rejection reasons, per vacancy and period; the same numbers as CSV or XLSX.

import { api, ApiError, requestBlob, saveBlob } from "./api.js";
import { barList, formatNumber, stat } from "./charts.js";
import { $, announce, clear, h, setBusy, show } from "./dom.js";
import { plural } from "./format.js";
import { currentUser, showFatal, wireLogout } from "./layout.js";

let loadToken = 0;

function filters() {
  const q = new URLSearchParams();
  if ($("#r-vacancy").value) q.set("vacancy_id", $("#r-vacancy").value);
  if ($("#r-since").value) q.set("since", $("#r-since").value);
  if ($("#r-until").value) q.set("until", $("#r-until").value);
  return q;
}

function percent(value) {
  return value === null || value === undefined ? "" : `${formatNumber(Math.round(value * 1000) / 10)} %`;
}

function emptyNote(text) {
  return h("p", { class: "empty empty--compact muted" }, text);
}

function render(report) {
  const hired = report.time_to_hire;
  clear($("#report-stats")).append(
    stat("кандидатов за период", formatNumber(report.candidates)),
    stat("принято", formatNumber(hired.hired)),
    stat("дней до найма в среднем", formatNumber(hired.average_days), hired.median_days !== null ? `медиана ${formatNumber(hired.median_days)}` : "нет нанятых"),
  );
  $("#report-summary").textContent = `${report.candidates} ${plural(report.candidates, ["кандидат", "кандидата", "кандидатов"])} в отчёте`;

  const funnel = clear($("#funnel"));
  if (!report.candidates) funnel.append(emptyNote("За этот период кандидатов нет."));
  else
    funnel.append(
      barList(
        report.funnel.map((step) => ({
          key: step.stage,
          label: step.title,
          value: step.reached,
          tone: step.stage,
          note: step.conversion === null ? "" : ` · ${percent(step.conversion)} от предыдущего`,
        })),
        { label: "Воронка: сколько кандидатов дошли до этапа" },
      ),
    );

  const stages = clear($("#stage-time"));
  if (!report.time_in_stage.some((s) => s.stays)) stages.append(emptyNote("Переходов между этапами пока нет."));
  else
    stages.append(
      barList(
        report.time_in_stage.map((s) => ({ key: s.stage, label: s.title, value: s.average_days, unit: "дн.", tone: s.stage, note: s.stays ? ` · ${s.stays} ${plural(s.stays, ["переход", "перехода", "переходов"])}` : "" })),
        { label: "Среднее время на этапе, дней" },
      ),
    );

  const sources = clear($("#sources"));
  if (!report.sources.length) sources.append(emptyNote("Нет данных об источниках."));
  else
    sources.append(
      h(
        "div",
        { class: "dtable-wrap", tabindex: "0", role: "region", "aria-label": "Источники и исходы" },
        h(
          "table",
          { class: "dtable dtable--compact", id: "sources-table" },
          h("caption", { class: "visually-hidden" }, "Кандидаты по источникам и исходам"),
          h("thead", null, h("tr", null, ["Источник", "Всего", "В работе", "Приняты", "Отказ"].map((t, i) => h("th", { scope: "col", class: i ? "num" : null }, t)))),
          h(
            "tbody",
            null,
            report.sources.map((r) =>
              h("tr", null, h("th", { scope: "row" }, r.source), [r.candidates, r.in_progress, r.hired, r.rejected].map((n) => h("td", { class: "num" }, String(n)))),
            ),
          ),
        ),
      ),
    );

  const reasons = clear($("#reasons"));
  if (!report.rejection_reasons.length) reasons.append(emptyNote("Отказов за период нет."));
  else
    reasons.append(
      barList(
        report.rejection_reasons.map((r) => ({ label: r.reason, value: r.count, tone: "rejected" })),
        { label: "Причины отказа: число кандидатов" },
      ),
    );
}

async function load() {
  const token = ++loadToken;
  show($("#report-loading"), true);
  $("#report").setAttribute("aria-busy", "true");
  try {
    const report = await api.get(`/api/reports/?${filters()}`);
    if (token !== loadToken) return;
    render(report);
    show($("#report"), true);
    announce($("#page-error"), "");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    showFatal(`Не удалось построить отчёт: ${error.message}`);
  } finally {
    if (token === loadToken) {
      show($("#report-loading"), false);
      $("#report").removeAttribute("aria-busy");
    }
  }
}

function wireExport(button, format) {
  button.addEventListener("click", async () => {
    const q = filters();
    q.set("format", format);
    setBusy(button, true, "Готовим файл…");
    try {
      saveBlob(await requestBlob(`/api/reports/export?${q}`, `report.${format}`));
      announce($("#export-error"), "");
    } catch (failure) {
      announce($("#export-error"), `Не удалось выгрузить отчёт: ${failure.message}`, "error");
    } finally {
      setBusy(button, false);
    }
  });
}

async function init() {
  wireLogout();
  try {
    await currentUser();
    const vacancies = await api.get("/api/vacancies/?limit=200");
    for (const v of vacancies.data) $("#r-vacancy").append(h("option", { value: String(v.id) }, v.status === "closed" ? `${v.title} (закрыта)` : v.title));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    showFatal(error);
    return;
  }
  for (const id of ["#r-vacancy", "#r-since", "#r-until"]) $(id).addEventListener("change", load);
  $("#report-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  wireExport($("#export-csv"), "csv");
  wireExport($("#export-xlsx"), "xlsx");
  await load();
}

init();
