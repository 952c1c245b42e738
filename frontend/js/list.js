// The candidate list: search, stage and vacancy filters, paging, a pipeline overview and the "new candidate" form.

import { ApiError, api, requestFull } from "./api.js";
import { $, announce, clear, h, setBusy, show } from "./dom.js";
import { STAGES, formatDate, formatSize, initials, isoAttr, plural, splitSkills, stageLabel } from "./format.js";
import { initIntake } from "./intake.js";
import { checkAi, currentUser, showFatal, wireLogout } from "./layout.js";

const PAGE_SIZE = 20;
const SEARCH_DELAY_MS = 250;

const state = { q: "", stage: "", vacancy: "", page: 1, count: 0 };
let vacancies = new Map();
let loadToken = 0;

function readUrl() {
  const params = new URLSearchParams(location.search);
  state.q = params.get("q") || "";
  state.stage = params.get("stage") || "";
  state.vacancy = params.get("vacancy") || "";
  state.page = Math.max(1, Number.parseInt(params.get("page") || "1", 10) || 1);
}

// The filters live in the address, so "back" from a card and a reload keep them.
function writeUrl() {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  if (state.stage) params.set("stage", state.stage);
  if (state.vacancy) params.set("vacancy", state.vacancy);
  if (state.page > 1) params.set("page", String(state.page));
  const query = params.toString();
  const url = query ? `/?${query}` : "/";
  history.replaceState(null, "", url);
  sessionStorage.setItem("nexus:list", url);
}

function query(extra = {}) {
  const params = new URLSearchParams();
  const q = extra.q ?? state.q;
  const stage = extra.stage ?? state.stage;
  const vacancy = extra.vacancy ?? state.vacancy;
  if (q) params.set("q", q);
  if (stage) params.set("stage", stage);
  if (vacancy) params.set("vacancy_id", vacancy);
  params.set("offset", String(extra.offset ?? (state.page - 1) * PAGE_SIZE));
  params.set("limit", String(extra.limit ?? PAGE_SIZE));
  return `/api/candidates/?${params}`;
}

export function stageBadge(stage) {
  return h("span", { class: `badge badge--${stage}` }, stageLabel(stage));
}

function cell(label, value) {
  const empty = value === null || value === undefined || value === "";
  return h("td", { "data-label": label, class: empty ? "is-empty" : null }, empty ? h("span", { class: "muted" }, "—") : value);
}

function row(candidate) {
  const href = `/candidate-view.html?id=${candidate.id}`;
  const vacancy = candidate.vacancy_id ? vacancies.get(candidate.vacancy_id) : null;
  return h(
    "tr",
    { class: "table__row", dataset: { href } },
    h(
      "td",
      { class: "cell-person", "data-label": "Кандидат" },
      h(
        "div",
        { class: "cell-person__inner" },
        h("span", { class: "avatar", "aria-hidden": "true" }, initials(candidate.full_name)),
        h(
          "span",
          { class: "cell-person__text" },
          h("a", { href, class: "cell-person__name" }, candidate.full_name),
          h("span", { class: "cell-person__sub" }, candidate.position || candidate.email || ""),
        ),
      ),
    ),
    cell("Этап", stageBadge(candidate.stage)),
    cell("Вакансия", vacancy ? vacancy.title : null),
    cell("Город", candidate.city),
    cell("Добавлен", h("time", { datetime: isoAttr(candidate.created_at) }, formatDate(candidate.created_at))),
  );
}

async function loadPipeline() {
  const nav = $("#pipeline");
  const counts = await Promise.all(
    STAGES.map((s) => api.get(query({ stage: s.value, offset: 0, limit: 1 })).then((r) => r.count)),
  );
  clear(nav);
  STAGES.forEach((s, i) => {
    const active = state.stage === s.value;
    nav.append(
      h(
        "button",
        {
          type: "button",
          class: ["pipeline__stage", `pipeline__stage--${s.value}`, active && "is-active"],
          "aria-pressed": active ? "true" : "false",
          "aria-label": `${s.label}: ${counts[i]}`,
          onclick: () => {
            state.stage = active ? "" : s.value;
            $("#stage-filter").value = state.stage;
            state.page = 1;
            refresh();
          },
        },
        h("span", { class: "pipeline__count" }, String(counts[i])),
        h("span", { class: "pipeline__label" }, s.label),
      ),
    );
  });
  show(nav, true);
}

async function loadList() {
  const token = ++loadToken;
  const tbody = $("#candidates");
  const table = $("#candidates-table");
  table.setAttribute("aria-busy", "true");
  try {
    const page = await api.get(query());
    if (token !== loadToken) return; // a newer search already answered
    state.count = page.count;
    const lastPage = Math.max(1, Math.ceil(page.count / PAGE_SIZE));
    if (state.page > lastPage && page.count > 0) {
      state.page = lastPage;
      return loadList();
    }
    clear(tbody);
    tbody.append(...page.data.map(row));
    const filtered = Boolean(state.q || state.stage || state.vacancy);
    const empty = $("#empty");
    if (!page.data.length) {
      clear(empty).append(
        h("p", { class: "empty__title" }, filtered ? "Никого не нашли" : "Кандидатов пока нет"),
        h(
          "p",
          { class: "muted" },
          filtered ? "Измените запрос или сбросьте фильтры." : "Добавьте первого — кнопка «Новый кандидат» справа вверху.",
        ),
      );
    }
    show(empty, !page.data.length);
    show(table, page.data.length > 0);
    $("#list-summary").textContent = `${page.count} ${plural(page.count, ["кандидат", "кандидата", "кандидатов"])}${
      filtered ? " по фильтрам" : ""
    }`;
    const from = page.count ? (state.page - 1) * PAGE_SIZE + 1 : 0;
    const to = Math.min(page.count, state.page * PAGE_SIZE);
    $("#page-info").textContent = page.count ? `${from}–${to} из ${page.count}` : "";
    $("#prev-page").disabled = state.page <= 1;
    $("#next-page").disabled = state.page >= lastPage;
    show($(".pager"), page.count > PAGE_SIZE);
    show($("#reset-filters"), filtered);
  } finally {
    if (token === loadToken) table.removeAttribute("aria-busy");
  }
}

async function refresh({ pipeline = true } = {}) {
  writeUrl();
  try {
    await Promise.all([loadList(), pipeline ? loadPipeline() : null]);
    announce($("#page-error"), "");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    showFatal(error);
  }
}

async function loadVacancies() {
  const page = await api.get("/api/vacancies/?limit=200");
  vacancies = new Map(page.data.map((v) => [v.id, v]));
  for (const select of [$("#vacancy-filter"), $("#c-vacancy")]) {
    for (const vacancy of vacancies.values()) {
      const closed = vacancy.status === "closed" ? " (закрыта)" : "";
      select.append(h("option", { value: String(vacancy.id) }, vacancy.title + closed));
    }
  }
  show($("#vacancy-filter-field"), vacancies.size > 0);
  show($("#c-vacancy-field"), vacancies.size > 0);
}

function wireFilters() {
  const q = $("#q");
  const stage = $("#stage-filter");
  const vacancy = $("#vacancy-filter");
  for (const s of STAGES) stage.append(h("option", { value: s.value }, s.label));
  q.value = state.q;
  stage.value = state.stage;
  vacancy.value = state.vacancy;
  let timer;
  q.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      state.q = q.value.trim();
      state.page = 1;
      refresh();
    }, SEARCH_DELAY_MS);
  });
  stage.addEventListener("change", () => {
    state.stage = stage.value;
    state.page = 1;
    refresh();
  });
  vacancy.addEventListener("change", () => {
    state.vacancy = vacancy.value;
    state.page = 1;
    refresh();
  });
  $("#filters").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(timer);
    state.q = q.value.trim();
    state.page = 1;
    refresh();
  });
  $("#filters").addEventListener("reset", () => {
    clearTimeout(timer);
    Object.assign(state, { q: "", stage: "", vacancy: "", page: 1 });
    // The reset event fires before the fields are cleared; read nothing from them here.
    refresh();
  });
  $("#prev-page").addEventListener("click", () => {
    state.page = Math.max(1, state.page - 1);
    refresh({ pipeline: false });
  });
  $("#next-page").addEventListener("click", () => {
    state.page += 1;
    refresh({ pipeline: false });
  });
  // The whole row opens the card for mouse users; keyboard users have the name link in the row.
  $("#candidates").addEventListener("click", (event) => {
    if (event.target.closest("a, button")) return;
    const tr = event.target.closest("tr[data-href]");
    if (tr && !window.getSelection().toString()) location.assign(tr.dataset.href);
  });
}

// --- new candidate ---------------------------------------------------------------------------------

function wireCreate() {
  const dialog = $("#create-dialog");
  const form = $("#create-form");
  const error = $("#create-error");
  const submit = $("#create-submit");
  let created = null; // a candidate saved whose file upload failed: retry the upload, never create twice
  let allowDuplicate = false;

  const close = () => dialog.close();
  const fileInput = $("#c-resume-file");
  const fileName = $("#c-resume-name");
  const dropzone = $("#c-dropzone");
  const showFile = () => {
    const file = fileInput.files[0];
    fileName.textContent = file ? `${file.name} · ${formatSize(file.size)}` : "или перетащите его сюда";
    fileName.classList.toggle("is-chosen", Boolean(file));
  };
  fileInput.addEventListener("change", showFile);
  dropzone.addEventListener("dragover", (event) => {
    event.preventDefault();
    dropzone.classList.add("is-over");
  });
  dropzone.addEventListener("dragleave", () => dropzone.classList.remove("is-over"));
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropzone.classList.remove("is-over");
    if (event.dataTransfer.files.length) {
      fileInput.files = event.dataTransfer.files;
      showFile();
    }
  });
  $("#new-candidate").addEventListener("click", () => {
    form.reset();
    showFile();
    created = null;
    allowDuplicate = false;
    announce(error, "");
    submit.textContent = "Создать";
    dialog.showModal();
    $("#c-full-name").focus();
  });
  $("#create-close").addEventListener("click", close);
  $("#create-cancel").addEventListener("click", close);
  // Disabled in the HTML until now: a click before the script ran would have done nothing.
  $("#new-candidate").disabled = false;

  function payload() {
    const value = (id) => $(id).value.trim();
    const body = { full_name: value("#c-full-name") };
    for (const [key, id] of [
      ["position", "#c-position"],
      ["email", "#c-email"],
      ["phone", "#c-phone"],
      ["city", "#c-city"],
      ["source", "#c-source"],
      ["resume_text", "#c-resume-text"],
    ]) {
      if (value(id)) body[key] = value(id);
    }
    const skills = splitSkills(value("#c-skills"));
    if (skills.length) body.skills = skills;
    if (value("#c-vacancy")) body.vacancy_id = Number(value("#c-vacancy"));
    return body;
  }

  function checkFile(file) {
    if (!file) return "";
    if (!/\.(pdf|docx)$/i.test(file.name)) return "Резюме должно быть в формате PDF или DOCX.";
    if (file.size === 0) return "Файл резюме пустой.";
    return "";
  }

  function duplicateNotice(data) {
    const matched = (data.matched || []).map((m) => (m === "email" ? "email" : "телефон")).join(" и ");
    clear(error).append(
      h("span", null, `Кандидат с таким ${matched || "контактом"} уже есть. `),
      h("a", { href: `/candidate-view.html?id=${data.existing_candidate_id}` }, "Открыть его карточку"),
      h("span", null, " или нажмите «Всё равно создать»."),
    );
    error.className = "notice notice--warning";
    error.hidden = false;
    allowDuplicate = true;
    submit.textContent = "Всё равно создать";
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = payload();
    const file = $("#c-resume-file").files[0];
    if (!body.full_name) {
      announce(error, "Укажите ФИО кандидата.", "error");
      $("#c-full-name").focus();
      return;
    }
    const fileProblem = checkFile(file);
    if (fileProblem) {
      announce(error, fileProblem, "error");
      $("#c-resume-file").focus();
      return;
    }
    setBusy(submit, true, "Сохраняем…");
    try {
      if (!created) {
        const url = allowDuplicate ? "/api/candidates/?allow_duplicate=true" : "/api/candidates/";
        const result = await requestFull(url, { method: "POST", json: body });
        if (result.status === 409 && result.data && result.data.existing_candidate_id) {
          setBusy(submit, false);
          duplicateNotice(result.data);
          return;
        }
        if (!result.ok) {
          setBusy(submit, false);
          announce(error, result.message, "error");
          return;
        }
        created = result.data;
      }
      if (file) {
        submit.textContent = "Загружаем резюме…";
        const form = new FormData();
        form.append("file", file);
        const upload = await requestFull(`/api/candidates/${created.id}/resume`, { method: "POST", form });
        if (!upload.ok) {
          setBusy(submit, false);
          submit.textContent = "Загрузить снова";
          clear(error).append(
            h("span", null, `Кандидат сохранён, но резюме не загрузилось: ${upload.message} `),
            h("a", { href: `/candidate-view.html?id=${created.id}` }, "Открыть карточку"),
          );
          error.className = "notice notice--error";
          error.hidden = false;
          return;
        }
      }
      location.assign(`/candidate-view.html?id=${created.id}`);
    } catch (failure) {
      setBusy(submit, false);
      announce(error, failure.message, "error");
    }
  });
}

async function init() {
  readUrl();
  wireLogout();
  wireFilters();
  wireCreate();
  try {
    await currentUser();
    await loadVacancies();
    $("#vacancy-filter").value = state.vacancy;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    showFatal(error);
    return;
  }
  checkAi();
  initIntake({ onSaved: () => refresh() });
  await refresh();
}

init();
