// The candidate card (the guide's candidate-view.html): profile with inline edit, stage with its history,
// resume text and file, the AI analysis panel and the chat.

import { ApiError, api, requestFull } from "./api.js";
import { initAnalysis } from "./analysis.js";
import { initChat } from "./chat.js";
import { initConsents } from "./consents.js";
import { $, announce, clear, h, setBusy, show } from "./dom.js";
import { STAGES, formatDateTime, formatSize, initials, isoAttr, splitSkills, stageLabel } from "./format.js";
import { checkAi, currentUser, showFatal, wireLogout } from "./layout.js";

const candidateId = Number(new URLSearchParams(location.search).get("id"));
const RESUME_PREVIEW_CHARS = 1200;

let candidate = null;
let vacancies = new Map();
let team = new Map();

function stageBadge(stage) {
  return h("span", { class: `badge badge--${stage}` }, stageLabel(stage));
}

function vacancyTitle(id) {
  const vacancy = id ? vacancies.get(id) : null;
  return vacancy ? vacancy.title : null;
}

// --- head ------------------------------------------------------------------------------------------

function renderHead() {
  document.title = `${candidate.full_name} — Nexus AI`;
  $("#c-avatar").textContent = initials(candidate.full_name);
  $("#c-title").textContent = candidate.full_name;
  const meta = [candidate.position, candidate.city].filter(Boolean);
  $("#c-meta").textContent = meta.join(" · ") || "Должность не указана";
  const badges = clear($("#c-badges"));
  if (candidate.stage) badges.append(stageBadge(candidate.stage));
  const vacancy = vacancyTitle(candidate.vacancy_id);
  if (vacancy) badges.append(h("span", { class: "chip chip--vacancy", title: "Вакансия" }, vacancy));
}

// --- profile ---------------------------------------------------------------------------------------

function fact(label, value, wide = false) {
  const empty = value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length);
  return h(
    "div",
    { class: ["fact", wide && "fact--wide"] },
    h("dt", null, label),
    h("dd", { class: empty ? "muted" : null }, empty ? "не указано" : value),
  );
}

function renderProfile() {
  const dl = clear($("#profile-view"));
  const c = candidate;
  dl.append(fact("Желаемая должность", c.position));
  dl.append(fact("Вакансия", vacancyTitle(c.vacancy_id)));
  dl.append(fact("Email", c.email ? h("a", { href: `mailto:${c.email}` }, c.email) : null));
  dl.append(fact("Телефон", c.phone ? h("a", { href: `tel:${c.phone.replace(/[^\d+]/g, "")}` }, c.phone) : null));
  dl.append(fact("Город", c.city));
  dl.append(fact("Источник", c.source));
  dl.append(fact("Рекрутер", c.owner_id && team.has(c.owner_id) ? team.get(c.owner_id).display_name : null));
  const skills = c.skills.length ? h("span", { class: "chips" }, c.skills.map((s) => h("span", { class: "chip" }, s))) : null;
  dl.append(fact("Навыки", skills, true));
  dl.append(fact("Заметки", c.notes ? h("span", { class: "pre" }, c.notes) : null, true));
  dl.append(fact("Добавлен", h("time", { datetime: isoAttr(c.created_at) }, formatDateTime(c.created_at))));
}

function fillProfileForm() {
  const c = candidate;
  $("#p-full-name").value = c.full_name || "";
  $("#p-position").value = c.position || "";
  $("#p-email").value = c.email || "";
  $("#p-phone").value = c.phone || "";
  $("#p-city").value = c.city || "";
  $("#p-source").value = c.source || "";
  $("#p-skills").value = (c.skills || []).join(", ");
  $("#p-notes").value = c.notes || "";
  $("#p-resume-text").value = c.resume_text || "";
  $("#p-vacancy").value = c.vacancy_id ? String(c.vacancy_id) : "";
  $("#p-owner").value = c.owner_id ? String(c.owner_id) : "";
  show($("#p-vacancy").closest(".field"), vacancies.size > 0 || Boolean(c.vacancy_id));
}

function profileChanges() {
  const text = (id) => $(id).value.trim();
  const changes = {};
  const compare = (key, value) => {
    const before = candidate[key] ?? null;
    if (JSON.stringify(before) !== JSON.stringify(value)) changes[key] = value;
  };
  compare("full_name", text("#p-full-name"));
  compare("position", text("#p-position") || null);
  compare("email", text("#p-email") || null);
  compare("phone", text("#p-phone") || null);
  // A resume keeps its line breaks; only blank-only text counts as empty.
  compare("resume_text", $("#p-resume-text").value.trim() ? $("#p-resume-text").value : null);
  compare("city", text("#p-city") || null);
  compare("source", text("#p-source") || null);
  // Notes keep their line breaks, like the resume.
  compare("notes", $("#p-notes").value.trim() ? $("#p-notes").value : null);
  compare("skills", splitSkills(text("#p-skills")));
  compare("vacancy_id", text("#p-vacancy") ? Number(text("#p-vacancy")) : null);
  compare("owner_id", text("#p-owner") ? Number(text("#p-owner")) : null);
  return changes;
}

function setEditing(editing) {
  show($("#profile-view"), !editing);
  show($("#profile-form"), editing);
  show($("#profile-edit"), !editing);
  if (editing) {
    fillProfileForm();
    announce($("#profile-error"), "");
    $("#p-full-name").focus();
  } else {
    $("#profile-edit").focus();
  }
}

function wireProfile() {
  const form = $("#profile-form");
  const error = $("#profile-error");
  const save = $("#profile-save");
  let allowDuplicate = false;
  $("#profile-edit").addEventListener("click", () => {
    allowDuplicate = false;
    setEditing(true);
  });
  $("#profile-cancel").addEventListener("click", () => setEditing(false));
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") setEditing(false);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const changes = profileChanges();
    if (!changes.full_name && "full_name" in changes) {
      announce(error, "ФИО не может быть пустым.", "error");
      $("#p-full-name").focus();
      return;
    }
    if (!Object.keys(changes).length) {
      setEditing(false);
      return;
    }
    setBusy(save, true, "Сохраняем…");
    try {
      const url = `/api/candidates/${candidateId}${allowDuplicate ? "?allow_duplicate=true" : ""}`;
      const result = await requestFull(url, { method: "PATCH", json: changes });
      if (result.status === 409 && result.data && result.data.existing_candidate_id) {
        clear(error).append(
          h("span", null, "Такой email или телефон уже есть у другого кандидата. "),
          h("a", { href: `/candidate-view.html?id=${result.data.existing_candidate_id}` }, "Открыть его карточку"),
          h("span", null, " или нажмите «Сохранить» ещё раз, чтобы сохранить всё равно."),
        );
        error.className = "notice notice--warning";
        error.hidden = false;
        allowDuplicate = true;
        return;
      }
      if (!result.ok) {
        announce(error, result.message, "error");
        return;
      }
      candidate = result.data;
      renderCandidate();
      setEditing(false);
    } catch (failure) {
      announce(error, failure.message, "error");
    } finally {
      setBusy(save, false);
    }
  });
}

// --- stage -----------------------------------------------------------------------------------------

const PIPELINE = STAGES.filter((s) => s.value !== "rejected");

function renderStepper() {
  const stepper = clear($("#stepper"));
  const rejected = candidate.stage === "rejected";
  const current = PIPELINE.findIndex((s) => s.value === candidate.stage);
  PIPELINE.forEach((s, i) => {
    const state = rejected ? "upcoming" : i < current ? "done" : i === current ? "current" : "upcoming";
    stepper.append(
      h(
        "li",
        { class: ["stepper__step", `is-${state}`], "aria-current": state === "current" ? "step" : null },
        h("span", { class: "stepper__dot", "aria-hidden": "true" }, state === "done" ? "✓" : String(i + 1)),
        h("span", { class: "stepper__label" }, s.label),
        state === "done" ? h("span", { class: "visually-hidden" }, " (пройден)") : null,
      ),
    );
  });
  if (rejected) {
    stepper.append(
      h(
        "li",
        { class: "stepper__step is-rejected", "aria-current": "step" },
        h("span", { class: "stepper__dot", "aria-hidden": "true" }, "×"),
        h("span", { class: "stepper__label" }, candidate.rejection_reason ? `Отказ: ${candidate.rejection_reason}` : "Отказ"),
      ),
    );
  }
  const select = clear($("#stage-select"));
  for (const s of STAGES) {
    if (s.value !== candidate.stage) select.append(h("option", { value: s.value }, s.label));
  }
  const next = PIPELINE[current + 1];
  if (next) select.value = next.value;
  updateReasonHint();
}

function updateReasonHint() {
  const rejecting = $("#stage-select").value === "rejected";
  show($("#stage-reason-required"), rejecting);
  $("#stage-reason").required = rejecting;
}

async function loadStageHistory() {
  const list = clear($("#stage-history"));
  const changes = await api.get(`/api/candidates/${candidateId}/stages`);
  if (!changes.length) {
    list.append(h("li", { class: "muted" }, "Этап ещё не менялся."));
    return;
  }
  for (const change of [...changes].reverse()) {
    const move = change.from_stage
      ? [stageBadge(change.from_stage), h("span", { class: "timeline__arrow", "aria-label": "на этап" }, "→"), stageBadge(change.to_stage)]
      : [h("span", null, "Добавлен на этапе "), stageBadge(change.to_stage)];
    list.append(
      h(
        "li",
        { class: "timeline__item" },
        h("div", { class: "timeline__move" }, move),
        h(
          "div",
          { class: "timeline__meta" },
          h("time", { datetime: isoAttr(change.changed_at) }, formatDateTime(change.changed_at)),
          change.changed_by ? ` · ${change.changed_by}` : "",
        ),
        change.reason ? h("p", { class: "timeline__reason" }, change.reason) : null,
      ),
    );
  }
}

function wireStage() {
  const form = $("#stage-form");
  const error = $("#stage-error");
  const submit = $("#stage-submit");
  $("#stage-select").addEventListener("change", updateReasonHint);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const stage = $("#stage-select").value;
    const reason = $("#stage-reason").value.trim();
    if (stage === "rejected" && !reason) {
      announce(error, "Для отказа укажите причину — она сохранится в истории.", "error");
      $("#stage-reason").focus();
      return;
    }
    setBusy(submit, true, "Сохраняем…");
    try {
      await api.post(`/api/candidates/${candidateId}/stage`, { stage, reason: reason || null });
      candidate = await api.get(`/api/candidates/${candidateId}`);
      $("#stage-reason").value = "";
      announce(error, "");
      renderCandidate();
      await loadStageHistory();
      $("#stage-select").focus();
    } catch (failure) {
      announce(error, failure.message, "error");
    } finally {
      setBusy(submit, false);
    }
  });
}

// --- resume ----------------------------------------------------------------------------------------

function renderResume() {
  const text = candidate.resume_text || "";
  const box = $("#resume-text");
  const toggle = $("#resume-toggle");
  box.textContent = text || "Текст резюме не добавлен.";
  box.classList.toggle("muted", !text);
  const long = text.length > RESUME_PREVIEW_CHARS;
  box.classList.toggle("is-collapsed", long && toggle.getAttribute("aria-expanded") !== "true");
  show(toggle, long);

  const file = clear($("#resume-file"));
  if (candidate.resume_filename) {
    file.append(
      h(
        "span",
        { class: ["file-icon", /\.pdf$/i.test(candidate.resume_filename) && "file-icon--pdf"], "aria-hidden": "true" },
        (candidate.resume_filename.split(".").pop() || "").toUpperCase(),
      ),
      h(
        "span",
        { class: "file-row__text" },
        h("a", { href: `/api/candidates/${candidateId}/resume`, download: candidate.resume_filename }, candidate.resume_filename),
        h(
          "span",
          { class: "muted small" },
          [formatSize(candidate.resume_size), candidate.resume_uploaded_at ? `загружен ${formatDateTime(candidate.resume_uploaded_at)}` : ""]
            .filter(Boolean)
            .join(" · "),
        ),
      ),
    );
    $("#resume-input-label").textContent = "Заменить файл";
  } else {
    file.append(h("span", { class: "muted" }, "Файл резюме не загружен."));
    $("#resume-input-label").textContent = "Загрузить PDF или DOCX";
  }
}

function wireResume() {
  const toggle = $("#resume-toggle");
  toggle.addEventListener("click", () => {
    const expanded = toggle.getAttribute("aria-expanded") === "true";
    toggle.setAttribute("aria-expanded", String(!expanded));
    toggle.textContent = expanded ? "Показать полностью" : "Свернуть";
    $("#resume-text").classList.toggle("is-collapsed", expanded);
  });
  const input = $("#resume-input");
  const error = $("#resume-error");
  input.addEventListener("change", async () => {
    const file = input.files[0];
    if (!file) return;
    if (!/\.(pdf|docx)$/i.test(file.name)) {
      announce(error, "Резюме должно быть в формате PDF или DOCX.", "error");
      input.value = "";
      return;
    }
    const label = $("#resume-input-label");
    const before = label.textContent;
    label.textContent = "Загружаем…";
    input.disabled = true;
    try {
      const form = new FormData();
      form.append("file", file);
      candidate = await api.upload(`/api/candidates/${candidateId}/resume`, form);
      announce(error, "Резюме загружено, текст обновлён.", "success");
      renderCandidate();
    } catch (failure) {
      label.textContent = before;
      announce(error, failure.message, "error");
    } finally {
      input.disabled = false;
      input.value = "";
    }
  });
}

// --- everything ------------------------------------------------------------------------------------

function renderCandidate() {
  renderHead();
  renderProfile();
  renderResume();
  renderStepper();
}

async function loadVacancies() {
  const [page, members] = await Promise.all([api.get("/api/vacancies/?limit=200"), api.get("/api/team/")]);
  team = new Map(members.map((m) => [m.id, m]));
  for (const member of team.values()) $("#p-owner").append(h("option", { value: String(member.id) }, member.display_name));
  vacancies = new Map(page.data.map((v) => [v.id, v]));
  for (const select of [$("#p-vacancy"), $("#analysis-vacancy")]) {
    for (const vacancy of vacancies.values()) select.append(h("option", { value: String(vacancy.id) }, vacancy.title));
  }
}

// On a narrow screen the chat sits below everything else: a floating shortcut leads there while it is out of view.
// The skip link does the same from the keyboard: a fragment link alone would scroll but not put the caret there.
function wireChatJump() {
  const jump = $("#chat-jump");
  const chat = $("#chat");
  const goToChat = (event) => {
    event.preventDefault();
    chat.scrollIntoView({ behavior: "smooth", block: "start" });
    $("#chat-input").focus({ preventScroll: true });
  };
  jump.addEventListener("click", goToChat);
  $("#skip-to-chat").addEventListener("click", goToChat);
  if ("IntersectionObserver" in window) {
    new IntersectionObserver(([entry]) => show(jump, !entry.isIntersecting)).observe(chat);
  }
}

function backLink() {
  // The list keeps its filters in its address; return to exactly that list.
  const saved = sessionStorage.getItem("nexus:list");
  if (saved && saved.startsWith("/") && !saved.startsWith("//")) $("#back-link").href = saved;
}

async function init() {
  wireLogout();
  backLink();
  if (!Number.isInteger(candidateId) || candidateId <= 0) {
    showFatal("Не указан кандидат. Откройте карточку из списка кандидатов.");
    return;
  }
  let ai;
  try {
    await currentUser();
    ai = checkAi();
    candidate = await api.get(`/api/candidates/${candidateId}`);
    await loadVacancies();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    showFatal(error instanceof ApiError && error.status === 404 ? "Кандидат не найден: возможно, его удалили." : error);
    return;
  }
  renderCandidate();
  wireProfile();
  wireResume();
  show($("#card"), true);
  wireStage();
  loadStageHistory().catch((error) => announce($("#stage-error"), error.message, "error"));
  initConsents({
    candidateId,
    vacancies,
    getCandidate: () => candidate,
    reloadCandidate: async () => {
      candidate = await api.get(`/api/candidates/${candidateId}`);
      renderCandidate();
    },
    onErased: () => {
      show($("#card"), false);
      announce($("#page-error"), "Персональные данные кандидата удалены. Осталась обезличенная запись и строка в журнале.", "success");
      $("#back-link").focus();
    },
  }).catch((error) => announce($("#consents-error"), `Не удалось загрузить согласия: ${error.message}`, "error"));
  initAnalysis({ candidateId, vacancies, ai, getCandidate: () => candidate });
  wireChatJump();
  initChat({ candidateId, ai });
}

init();
