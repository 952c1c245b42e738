// The pipeline board: a column per stage, cards moved by drag and drop or from the keyboard (focus a name,
// ← / → to the neighbouring stage). Every move goes through POST /api/candidates/{id}/stage, so the history
// records who moved whom; moving to «Отказ» asks for the reason first.

import { api, ApiError } from "./api.js";
import { $, announce, clear, h, show } from "./dom.js";
import { plural, stageLabel } from "./format.js";

const ORDER = ["new", "screening", "interview", "offer", "hired", "rejected"];
const DRAG_TYPE = "application/x-nexus-candidate";

function daysText(days) {
  if (days <= 0) return "сегодня на этапе";
  return `${days} ${plural(days, ["день", "дня", "дней"])} на этапе`;
}

function scoreTone(score) {
  if (score >= 75) return "good";
  if (score >= 50) return "fair";
  return "weak";
}

let reasonDialog = null;

function askReason(name) {
  if (!reasonDialog) {
    reasonDialog = h(
      "dialog",
      { class: "dialog", id: "reason-dialog", "aria-labelledby": "reason-title" },
      h(
        "form",
        { class: "dialog__body", id: "reason-form", novalidate: true },
        h("div", { class: "dialog__head" }, h("h2", { id: "reason-title" }, "Причина отказа")),
        h("p", { class: "muted", id: "reason-for" }),
        h(
          "div",
          { class: "field" },
          h("label", { for: "reason-text" }, "Причина"),
          h("textarea", { id: "reason-text", rows: "3", maxlength: "2000", required: true, "aria-describedby": "reason-hint" }),
          h("p", { class: "hint", id: "reason-hint" }, "Сохранится в истории кандидата и попадёт в отчёт о причинах отказа."),
        ),
        h("div", { class: "notice", id: "reason-error", role: "alert", hidden: true }),
        h(
          "div",
          { class: "dialog__actions" },
          h("button", { class: "btn btn--ghost", type: "button", id: "reason-cancel" }, "Отмена"),
          h("button", { class: "btn btn--primary", type: "submit" }, "Отказать"),
        ),
      ),
    );
    document.body.append(reasonDialog);
    $("#reason-cancel").addEventListener("click", () => reasonDialog.close(""));
  }
  $("#reason-for").textContent = `Кандидат: ${name}`;
  $("#reason-text").value = "";
  announce($("#reason-error"), "");
  return new Promise((resolve) => {
    const form = $("#reason-form");
    const onSubmit = (event) => {
      event.preventDefault();
      const reason = $("#reason-text").value.trim();
      if (!reason) {
        announce($("#reason-error"), "Укажите причину отказа.", "error");
        $("#reason-text").focus();
        return;
      }
      reasonDialog.close(reason);
    };
    form.addEventListener("submit", onSubmit);
    reasonDialog.addEventListener(
      "close",
      () => {
        form.removeEventListener("submit", onSubmit);
        resolve(reasonDialog.returnValue || null);
      },
      { once: true },
    );
    reasonDialog.returnValue = "";
    reasonDialog.showModal();
    $("#reason-text").focus();
  });
}

/**
 * Mount a board into `root`. `vacancyId` fixes the vacancy (the vacancy page); otherwise a vacancy filter is shown.
 * `onMoved()` runs after each successful move (the vacancy page refreshes its counts).
 */
export function mountBoard(root, { vacancyId = null, vacancies = [], team = [], onMoved = null } = {}) {
  const prefix = vacancyId ? "vb" : "b";
  const filters = h("form", { class: "filters board-filters", "aria-label": "Фильтры доски" });
  const vacancySelect = h("select", { id: `${prefix}-vacancy` }, h("option", { value: "" }, "Все вакансии"));
  for (const v of vacancies) vacancySelect.append(h("option", { value: String(v.id) }, v.status === "closed" ? `${v.title} (закрыта)` : v.title));
  const sourceSelect = h("select", { id: `${prefix}-source` }, h("option", { value: "" }, "Все источники"));
  const ownerSelect = h("select", { id: `${prefix}-owner` }, h("option", { value: "" }, "Все рекрутеры"));
  for (const member of team) ownerSelect.append(h("option", { value: String(member.id) }, member.display_name));
  if (!vacancyId) filters.append(h("div", { class: "field" }, h("label", { for: vacancySelect.id }, "Вакансия"), vacancySelect));
  filters.append(h("div", { class: "field" }, h("label", { for: sourceSelect.id }, "Источник"), sourceSelect));
  filters.append(h("div", { class: "field" }, h("label", { for: ownerSelect.id }, "Рекрутер"), ownerSelect));
  const help = h("p", { class: "visually-hidden", id: `${prefix}-help` }, "Стрелки влево и вправо переносят кандидата на соседний этап.");
  const status = h("div", { class: "visually-hidden", role: "status", "aria-live": "polite" });
  const error = h("div", { class: "notice", role: "alert", hidden: true });
  const loading = h("p", { class: "muted", role: "status" }, "Загружаем доску…");
  const columns = h("div", { class: "board", "aria-label": "Доска подбора" });
  const empty = h("div", { class: "empty empty--compact", hidden: true });
  clear(root).append(filters, help, status, error, loading, empty, columns);

  const params = new URLSearchParams(location.search);
  if (!vacancyId && params.get("vacancy")) vacancySelect.value = params.get("vacancy");
  let cards = new Map();
  let busy = false;
  let sourcesFilled = false;

  function query() {
    const q = new URLSearchParams();
    const vacancy = vacancyId || vacancySelect.value;
    if (vacancy) q.set("vacancy_id", String(vacancy));
    if (sourceSelect.value) q.set("source", sourceSelect.value);
    if (ownerSelect.value) q.set("owner_id", ownerSelect.value);
    return q.toString();
  }

  function cardNode(card) {
    const link = h(
      "a",
      {
        class: "board-card__name",
        href: `/candidate-view.html?id=${card.id}`,
        draggable: "false",
        "aria-describedby": help.id,
        dataset: { candidate: String(card.id) },
      },
      card.full_name,
    );
    link.addEventListener("keydown", (event) => {
      if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
      event.preventDefault();
      const index = ORDER.indexOf(card.stage) + (event.key === "ArrowRight" ? 1 : -1);
      if (index >= 0 && index < ORDER.length) move(card.id, ORDER[index]);
    });
    const facts = [
      h("span", { class: "board-card__days" }, daysText(card.days_in_stage)),
      card.fit_score !== null && card.fit_score !== undefined
        ? h("span", { class: `score-chip score-chip--${scoreTone(card.fit_score)}`, title: "Соответствие по последнему анализу ИИ" }, `ИИ: ${card.fit_score}`)
        : null,
    ];
    // Touch screens have neither a mouse to drag with nor arrow keys: they get a stage picker on the card.
    const picker = h(
      "select",
      { class: "board-card__move", "aria-label": `Перенести «${card.full_name}» на этап` },
      ORDER.map((stage) => h("option", { value: stage, selected: stage === card.stage }, stageLabel(stage))),
    );
    picker.addEventListener("change", () => {
      const target = picker.value;
      picker.value = card.stage;
      move(card.id, target);
    });
    const li = h(
      "li",
      { class: "board-card", draggable: "true", dataset: { id: String(card.id) } },
      link,
      card.position ? h("span", { class: "board-card__sub" }, card.position) : null,
      !vacancyId && card.vacancy_title ? h("span", { class: "board-card__sub board-card__vacancy" }, card.vacancy_title) : null,
      card.stage === "rejected" && card.rejection_reason ? h("span", { class: "board-card__reason" }, card.rejection_reason) : null,
      h("span", { class: "board-card__facts" }, facts),
      picker,
    );
    li.addEventListener("dragstart", (event) => {
      event.dataTransfer.setData(DRAG_TYPE, String(card.id));
      event.dataTransfer.effectAllowed = "move";
      li.classList.add("is-dragging");
    });
    li.addEventListener("dragend", () => li.classList.remove("is-dragging"));
    return li;
  }

  function render(board) {
    cards = new Map();
    const nodes = board.columns.map((column) => {
      const titleId = `${prefix}-col-${column.stage}`;
      const list = h("ul", { class: "board-col__cards", "aria-labelledby": titleId });
      for (const card of column.cards) {
        cards.set(card.id, card);
        list.append(cardNode(card));
      }
      if (!column.cards.length) list.append(h("li", { class: "board-col__empty muted" }, "Пусто"));
      const section = h(
        "section",
        { class: `board-col board-col--${column.stage}`, dataset: { stage: column.stage } },
        h("h3", { class: "board-col__title", id: titleId }, column.title, h("span", { class: "board-col__count" }, String(column.count))),
        list,
      );
      section.addEventListener("dragover", (event) => {
        if (!event.dataTransfer.types.includes(DRAG_TYPE)) return;
        event.preventDefault();
        section.classList.add("is-over");
      });
      section.addEventListener("dragleave", (event) => {
        if (!section.contains(event.relatedTarget)) section.classList.remove("is-over");
      });
      section.addEventListener("drop", (event) => {
        event.preventDefault();
        section.classList.remove("is-over");
        const id = Number(event.dataTransfer.getData(DRAG_TYPE));
        if (id) move(id, column.stage);
      });
      return section;
    });
    clear(columns).append(...nodes);
    const total = board.columns.reduce((sum, c) => sum + c.count, 0);
    show(empty, total === 0);
    if (total === 0) {
      clear(empty).append(
        h("p", { class: "empty__title" }, "На доске пока никого"),
        h("p", { class: "muted" }, vacancyId || vacancySelect.value || sourceSelect.value || ownerSelect.value
          ? "С такими фильтрами кандидатов нет."
          : "Добавьте кандидатов на странице «Кандидаты»."),
      );
    }
    if (board.truncated) announce(error, "Показаны не все кандидаты: сузьте фильтры.", "warning");
    if (!sourcesFilled) {
      sourcesFilled = true;
      for (const source of board.sources) sourceSelect.append(h("option", { value: source }, source));
    }
  }

  let loadToken = 0;

  async function load() {
    const token = ++loadToken;
    columns.setAttribute("aria-busy", "true");
    try {
      const board = await api.get(`/api/board/?${query()}`);
      if (token !== loadToken) return; // a newer filter's answer wins
      render(board);
      show(loading, false);
    } catch (failure) {
      if (failure instanceof ApiError && failure.status === 401) return;
      show(loading, false);
      announce(error, `Не удалось загрузить доску: ${failure.message}`, "error");
    } finally {
      if (token === loadToken) columns.removeAttribute("aria-busy");
    }
  }

  async function move(id, stage) {
    const card = cards.get(id);
    if (!card || card.stage === stage || busy) return;
    let reason = null;
    if (stage === "rejected") {
      reason = await askReason(card.full_name);
      if (!reason) {
        focusCard(id);
        return;
      }
    }
    busy = true;
    announce(error, "");
    try {
      await api.post(`/api/candidates/${id}/stage`, { stage, reason });
      await load();
      status.textContent = `${card.full_name}: этап «${stageLabel(stage)}»`;
      focusCard(id);
      if (onMoved) onMoved();
    } catch (failure) {
      announce(error, `Не удалось перенести «${card.full_name}»: ${failure.message}`, "error");
      focusCard(id);
    } finally {
      busy = false;
    }
  }

  function focusCard(id) {
    const link = columns.querySelector(`a[data-candidate="${id}"]`);
    if (link) link.focus();
  }

  for (const select of [vacancySelect, sourceSelect, ownerSelect]) {
    select.addEventListener("change", () => {
      if (!vacancyId) {
        const url = new URL(location.href);
        if (vacancySelect.value) url.searchParams.set("vacancy", vacancySelect.value);
        else url.searchParams.delete("vacancy");
        history.replaceState(null, "", url);
      }
      load();
    });
  }
  filters.addEventListener("submit", (event) => event.preventDefault());
  return { reload: load, ready: load() };
}
