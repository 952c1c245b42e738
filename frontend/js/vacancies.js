// Vacancies (vacancies.html): a searchable list with status and candidate counts, and the form to add one.

import { api, ApiError } from "./api.js";
import { $, announce, clear, h, show } from "./dom.js";
import { formatDate, isoAttr, plural } from "./format.js";
import { currentUser, showFatal, wireLogout } from "./layout.js";
import { openVacancyForm, statusBadge } from "./vacancy-form.js";

const SEARCH_DELAY_MS = 250;
let loadToken = 0;

function row(v) {
  const href = `/vacancy.html?id=${v.id}`;
  const num = (label, value) => h("td", { class: "num", "data-label": label }, String(value));
  return h(
    "tr",
    { class: "table__row", dataset: { href } },
    h(
      "td",
      { class: "cell-title" },
      h("a", { class: "cell-person__name", href }, v.title),
      v.key_skills.length ? h("span", { class: "cell-person__sub" }, v.key_skills.slice(0, 5).join(", ")) : null,
    ),
    h("td", { "data-label": "Статус" }, statusBadge(v.status)),
    num("Кандидатов", v.counts.candidates),
    num("В работе", v.counts.in_progress),
    num("Приняты", v.counts.hired),
    num("Отказ", v.counts.rejected),
    h("td", { "data-label": "Создана" }, h("time", { datetime: isoAttr(v.created_at) }, formatDate(v.created_at))),
  );
}

async function load() {
  const token = ++loadToken;
  const table = $("#vacancies-table");
  table.setAttribute("aria-busy", "true");
  const q = new URLSearchParams({ limit: "200" });
  if ($("#vq").value.trim()) q.set("q", $("#vq").value.trim());
  if ($("#vstatus").value) q.set("status", $("#vstatus").value);
  try {
    const page = await api.get(`/api/vacancies/?${q}`);
    if (token !== loadToken) return;
    clear($("#vacancies")).append(...page.data.map(row));
    show($("#vacancies-loading"), false);
    const filtered = q.has("q") || q.has("status");
    const empty = $("#vacancies-empty");
    show(empty, page.data.length === 0);
    show(table, page.data.length > 0);
    clear(empty).append(
      h("p", { class: "empty__title" }, filtered ? "Ничего не нашлось" : "Вакансий пока нет"),
      h("p", { class: "muted" }, filtered ? "Измените поиск или статус." : "Создайте первую — кнопка «Новая вакансия»."),
    );
    $("#vacancies-summary").textContent = `${page.count} ${plural(page.count, ["вакансия", "вакансии", "вакансий"])}`;
    announce($("#page-error"), "");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    show($("#vacancies-loading"), false);
    showFatal(`Не удалось загрузить вакансии: ${error.message}`);
  } finally {
    if (token === loadToken) table.removeAttribute("aria-busy");
  }
}

async function init() {
  wireLogout();
  try {
    await currentUser();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    showFatal(error);
    return;
  }
  let timer;
  $("#vq").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(load, SEARCH_DELAY_MS);
  });
  $("#vstatus").addEventListener("change", load);
  $("#vacancy-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  $("#vacancies").addEventListener("click", (event) => {
    if (event.target.closest("a, button")) return;
    const tr = event.target.closest("tr[data-href]");
    if (tr && !window.getSelection().toString()) location.assign(tr.dataset.href);
  });
  $("#new-vacancy").addEventListener("click", async () => {
    const saved = await openVacancyForm();
    if (saved) location.assign(`/vacancy.html?id=${saved.id}`);
    else $("#new-vacancy").focus();
  });
  await load();
}

init();
