// Consents on the card (152-FZ): record, list active and withdrawn, withdraw; the retention date with its reason;
// for administrators the data export (JSON download) and the erasure, confirmed by the candidate's name.

import { api, requestBlob, saveBlob } from "./api.js";
import { $, announce, clear, h, setBusy, show } from "./dom.js";
import { formatDate, formatDateTime, isoAttr } from "./format.js";

const CHANNELS = {
  paper: "подписано на бумаге",
  email: "по электронной почте",
  web_form: "веб-форма",
  job_board: "сайт вакансий",
};
const RETENTION_REASONS = {
  consent_withdrawn: "кандидат отозвал все согласия",
  rejected: "кандидату отказано, согласия на кадровый резерв нет",
};

function today() {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

/** ctx: {candidateId, vacancies: Map, getCandidate(), reloadCandidate(), onErased()} */
export function initConsents(ctx) {
  const error = $("#consents-error");
  const vacancySelect = $("#cs-vacancy");
  for (const v of ctx.vacancies.values()) vacancySelect.append(h("option", { value: String(v.id) }, v.title));

  function scopeText(consent) {
    if (consent.scope === "talent_pool") return "Кадровый резерв";
    const vacancy = consent.vacancy_id ? ctx.vacancies.get(consent.vacancy_id) : null;
    return vacancy ? `Подбор на вакансию «${vacancy.title}»` : "Подбор на вакансию";
  }

  function renderRetention() {
    const c = ctx.getCandidate();
    const box = clear($("#retention"));
    if (c.retention_until) {
      box.className = "retention retention--due";
      box.append(
        h("strong", null, "Хранить до "),
        h("time", { datetime: isoAttr(c.retention_until) }, formatDate(c.retention_until)),
        `: ${RETENTION_REASONS[c.retention_reason] || "срок установлен"}. После этой даты данные будут удалены автоматически.`,
      );
    } else {
      box.className = "retention";
      box.append("Срок хранения не установлен: кандидат в работе или есть действующее согласие на кадровый резерв.");
    }
  }

  function item(consent) {
    const meta = [
      `версия ${consent.text_version}`,
      CHANNELS[consent.channel] || consent.channel,
      `дано ${formatDate(consent.given_at)}`,
      consent.recorded_by ? `записал ${consent.recorded_by}` : "",
    ].filter(Boolean);
    const li = h(
      "li",
      { class: ["consent", consent.withdrawn_at && "consent--withdrawn"], dataset: { consent: String(consent.id) } },
      h("span", { class: "consent__scope" }, scopeText(consent)),
      h("span", { class: "consent__meta muted small" }, meta.join(" · ")),
      consent.withdrawn_at
        ? h("span", { class: "consent__meta small" }, `Отозвано ${formatDateTime(consent.withdrawn_at)}${consent.withdrawn_by ? ` · ${consent.withdrawn_by}` : ""}`)
        : null,
    );
    if (!consent.withdrawn_at) {
      const button = h("button", { class: "btn btn--ghost btn--small", type: "button", "aria-label": `Отозвать: ${scopeText(consent)}` }, "Отозвать");
      button.addEventListener("click", async () => {
        setBusy(button, true, "Отзываем…");
        try {
          await api.post(`/api/candidates/${ctx.candidateId}/consents/${consent.id}/withdraw`);
          await ctx.reloadCandidate();
          await load();
          announce(error, "Согласие отозвано.", "success");
          $("#consents-title").focus({ preventScroll: true });
        } catch (failure) {
          setBusy(button, false);
          announce(error, `Не удалось отозвать согласие: ${failure.message}`, "error");
        }
      });
      li.append(button);
    }
    return li;
  }

  async function load() {
    const consents = await api.get(`/api/candidates/${ctx.candidateId}/consents`);
    const active = consents.filter((c) => !c.withdrawn_at);
    const withdrawn = consents.filter((c) => c.withdrawn_at);
    clear($("#consents-active")).append(...(active.length ? active.map(item) : [h("li", { class: "muted" }, "Действующих согласий нет.")]));
    clear($("#consents-withdrawn")).append(...(withdrawn.length ? withdrawn.map(item) : [h("li", { class: "muted" }, "Нет.")]));
    renderRetention();
  }

  const scope = $("#cs-scope");
  const syncScope = () => show($("#cs-vacancy-field"), scope.value === "vacancy");
  scope.addEventListener("change", syncScope);
  const c = ctx.getCandidate();
  if (c.vacancy_id) vacancySelect.value = String(c.vacancy_id);
  $("#cs-date").value = today();
  $("#cs-date").max = today();
  syncScope();

  $("#consent-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const version = $("#cs-version").value.trim();
    const date = $("#cs-date").value;
    if (!version || !date) {
      announce(error, "Укажите версию текста согласия и дату.", "error");
      return;
    }
    const body = {
      scope: scope.value,
      vacancy_id: scope.value === "vacancy" && vacancySelect.value ? Number(vacancySelect.value) : null,
      text_version: version,
      channel: $("#cs-channel").value,
      // Noon local time: the day the candidate signed stays that day in every zone.
      given_at: new Date(`${date}T12:00:00`).toISOString(),
    };
    const submit = $("#consent-submit");
    setBusy(submit, true, "Сохраняем…");
    try {
      await api.post(`/api/candidates/${ctx.candidateId}/consents`, body);
      await ctx.reloadCandidate();
      await load();
      announce(error, "Согласие записано.", "success");
    } catch (failure) {
      announce(error, `Не удалось записать согласие: ${failure.message}`, "error");
    } finally {
      setBusy(submit, false);
    }
  });

  // --- administrator: export and erasure -----------------------------------------------------------
  const privacyError = $("#privacy-error");
  $("#export-data").addEventListener("click", async () => {
    const button = $("#export-data");
    setBusy(button, true, "Готовим файл…");
    try {
      const file = await requestBlob(`/api/candidates/${ctx.candidateId}/export`, `candidate-${ctx.candidateId}.json`);
      saveBlob({ blob: file.blob, filename: `candidate-${ctx.candidateId}-export.json` });
      announce(privacyError, "Выгрузка сохранена в файл.", "success");
    } catch (failure) {
      announce(privacyError, `Не удалось выгрузить данные: ${failure.message}`, "error");
    } finally {
      setBusy(button, false);
    }
  });
  const dialog = $("#erase-dialog");
  $("#erase-cancel").addEventListener("click", () => dialog.close());
  $("#erase-data").addEventListener("click", () => {
    const name = ctx.getCandidate().full_name;
    $("#erase-question").textContent = `Удалить персональные данные кандидата «${name}»?`;
    $("#erase-confirm").textContent = `Удалить данные: ${name}`;
    announce($("#erase-error"), "");
    dialog.showModal();
    $("#erase-cancel").focus();
  });
  $("#erase-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $("#erase-confirm");
    setBusy(button, true, "Удаляем…");
    try {
      await api.post(`/api/privacy/candidates/${ctx.candidateId}/erase`);
      dialog.close();
      ctx.onErased();
    } catch (failure) {
      announce($("#erase-error"), `Не удалось удалить данные: ${failure.message}`, "error");
    } finally {
      setBusy(button, false);
    }
  });

  return load();
}
