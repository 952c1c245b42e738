// One vacancy (vacancy.html?id=N): its board, its candidates, what it asks for; edit, close and reopen.

import { api, ApiError } from "./api.js";
import { mountBoard } from "./board-view.js";
import { $, announce, clear, h, setBusy, show } from "./dom.js";
import { formatDate, formatDateTime, isoAttr, plural, stageLabel } from "./format.js";
import { currentUser, showFatal, wireLogout } from "./layout.js";
import { openVacancyForm, statusBadge } from "./vacancy-form.js";

const vacancyId = Number(new URLSearchParams(location.search).get("id"));
let vacancy = null;

function fact(label, value) {
  const empty = value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length);
  return h("div", { class: "fact fact--wide" }, h("dt", null, label), h("dd", { class: empty ? "muted" : "pre" }, empty ? "не указано" : value));
}

function renderHead() {
  document.title = `${vacancy.title} — Nexus AI`;
  $("#v-title").textContent = vacancy.title;
  const c = vacancy.counts;
  clear($("#v-meta")).append(
    statusBadge(vacancy.status),
    ` · ${c.candidates} ${plural(c.candidates, ["кандидат", "кандидата", "кандидатов"])}: в работе ${c.in_progress}, приняты ${c.hired}, отказ ${c.rejected}`,
  );
  $("#v-toggle").textContent = vacancy.status === "closed" ? "Открыть снова" : "Закрыть вакансию";
  $("#v-shortlist").href = `/shortlist.html?vacancy=${vacancy.id}`;
  $("#v-list-link").href = `/?vacancy=${vacancy.id}`;
  const facts = clear($("#v-facts"));
  facts.append(
    fact("Ключевые навыки", vacancy.key_skills.length ? h("span", { class: "chips" }, vacancy.key_skills.map((s) => h("span", { class: "chip" }, s))) : null),
    fact("Требования", vacancy.requirements),
    fact("Описание", vacancy.description),
    fact("Создана", h("time", { datetime: isoAttr(vacancy.created_at) }, formatDateTime(vacancy.created_at))),
  );
}

async function reloadVacancy() {
  vacancy = await api.get(`/api/vacancies/${vacancyId}`);
  renderHead();
}

async function loadCandidates() {
  const page = await api.get(`/api/candidates/?vacancy_id=${vacancyId}&limit=200`);
  const body = clear($("#v-candidates"));
  for (const c of page.data) {
    body.append(
      h(
        "tr",
        null,
        h("td", null, h("a", { class: "cell-person__name", href: `/candidate-view.html?id=${c.id}` }, c.full_name), c.position ? h("span", { class: "cell-person__sub" }, c.position) : null),
        h("td", null, h("span", { class: `badge badge--${c.stage}` }, stageLabel(c.stage))),
        h("td", { class: c.source ? null : "muted" }, c.source || "—"),
        h("td", null, h("time", { datetime: isoAttr(c.created_at) }, formatDate(c.created_at))),
      ),
    );
  }
  show($("#v-candidates-table"), page.data.length > 0);
  show($("#v-candidates-empty"), page.data.length === 0);
}

function wireActions() {
  $("#v-edit").addEventListener("click", async () => {
    const saved = await openVacancyForm(vacancy);
    if (saved) await reloadVacancy();
    $("#v-edit").focus();
  });
  const toggle = $("#v-toggle");
  toggle.addEventListener("click", async () => {
    const next = vacancy.status === "closed" ? "open" : "closed";
    setBusy(toggle, true, "Сохраняем…");
    try {
      await api.patch(`/api/vacancies/${vacancyId}`, { status: next });
      setBusy(toggle, false);
      await reloadVacancy();
      announce($("#v-status-error"), next === "closed" ? "Вакансия закрыта." : "Вакансия снова открыта.", "success");
    } catch (failure) {
      setBusy(toggle, false);
      announce($("#v-status-error"), `Не удалось изменить статус: ${failure.message}`, "error");
    }
    toggle.focus();
  });
}

async function init() {
  wireLogout();
  if (!Number.isInteger(vacancyId) || vacancyId <= 0) {
    show($("#vacancy-loading"), false);
    showFatal("Не указана вакансия. Откройте её из списка вакансий.");
    return;
  }
  let team;
  try {
    await currentUser();
    [vacancy, team] = await Promise.all([api.get(`/api/vacancies/${vacancyId}`), api.get("/api/team/")]);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    show($("#vacancy-loading"), false);
    showFatal(error instanceof ApiError && error.status === 404 ? "Вакансия не найдена: возможно, её удалили." : error);
    return;
  }
  renderHead();
  show($("#vacancy-loading"), false);
  show($("#vacancy"), true);
  wireActions();
  const refresh = () => Promise.all([reloadVacancy(), loadCandidates()]).catch((error) => showFatal(error));
  mountBoard($("#v-board"), { vacancyId, team, onMoved: refresh });
  loadCandidates().catch((error) => showFatal(error));
}

init();
