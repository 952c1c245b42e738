// Administration (admin.html, administrators only): users, the audit log, and the AI's usage, quota,
// prepaid balance and breakers.

import { api, ApiError } from "./api.js";
import { dailyColumns, formatNumber, stat } from "./charts.js";
import { $, announce, clear, h, setBusy, show } from "./dom.js";
import { formatDateTime, isoAttr, providerLabel, stageLabel } from "./format.js";
import { currentUser, showFatal, wireLogout } from "./layout.js";

const AUDIT_PAGE = 50;
const ROLE_LABELS = { admin: "Администратор", recruiter: "Рекрутер" };
export const ACTION_LABELS = {
  "auth.login": "Вход",
  "auth.login_failed": "Неудачный вход",
  "auth.logout": "Выход",
  "candidate.create": "Кандидат добавлен",
  "candidate.view": "Карточка открыта",
  "candidate.update": "Профиль изменён",
  "candidate.delete": "Кандидат удалён",
  "candidate.stage": "Смена этапа",
  "candidate.resume_upload": "Резюме загружено",
  "candidate.export": "Выгрузка данных",
  "candidate.erase": "Персональные данные удалены",
  "consent.add": "Согласие записано",
  "consent.withdraw": "Согласие отозвано",
  "ai.chat": "Ответ ИИ в чате",
  "ai.analysis": "Анализ ИИ",
  "vacancy.create": "Вакансия создана",
  "vacancy.update": "Вакансия изменена",
  "vacancy.close": "Вакансия закрыта",
  "vacancy.reopen": "Вакансия открыта снова",
  "vacancy.delete": "Вакансия удалена",
  "user.create": "Пользователь создан",
  "user.update": "Пользователь изменён",
};
const BREAKER_LABELS = {
  closed: ["Работает", "ok"],
  half_open: ["Пробный запрос", "warn"],
  open: ["Отключён после ошибок", "bad"],
};

let me = null;
let people = [];

// --- tabs --------------------------------------------------------------------------------------------

const TABS = ["users", "audit", "ai"];
const loaded = new Set();

function selectTab(name, { focus = false } = {}) {
  for (const tab of TABS) {
    const button = $(`#tab-${tab}`);
    const selected = tab === name;
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
    show($(`#panel-${tab}`), selected);
    if (selected && focus) button.focus();
  }
  history.replaceState(null, "", `#${name}`);
  if (!loaded.has(name)) {
    loaded.add(name);
    ({ users: loadUsers, audit: () => loadAudit(), ai: loadAi })[name]();
  }
}

function wireTabs() {
  TABS.forEach((tab, i) => {
    const button = $(`#tab-${tab}`);
    button.addEventListener("click", () => selectTab(tab));
    button.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      event.preventDefault();
      selectTab(TABS[(i + step + TABS.length) % TABS.length], { focus: true });
    });
  });
}

// --- users -------------------------------------------------------------------------------------------

function userRow(user) {
  const self = user.id === me.id;
  const role = h(
    "select",
    { "aria-label": `Роль: ${user.display_name}`, disabled: self },
    Object.entries(ROLE_LABELS).map(([value, label]) => h("option", { value, selected: value === user.role }, label)),
  );
  role.addEventListener("change", () => updateUser(user, { role: role.value }, role));
  const toggle = h(
    "button",
    { class: user.is_active ? "btn btn--danger-ghost btn--small" : "btn btn--ghost btn--small", type: "button", disabled: self },
    user.is_active ? "Отключить" : "Включить",
  );
  toggle.addEventListener("click", () => updateUser(user, { is_active: !user.is_active }, toggle));
  const reset = h("button", { class: "btn btn--ghost btn--small", type: "button" }, "Сбросить пароль");
  reset.addEventListener("click", () => openPassword(user));
  return h(
    "tr",
    { dataset: { user: user.email } },
    h("td", null, h("span", { class: "cell-person__name" }, user.display_name), self ? h("span", { class: "cell-person__sub" }, "это вы") : null),
    h("td", null, user.email),
    h("td", null, role),
    h("td", null, h("span", { class: user.is_active ? "badge badge--hired" : "badge badge--rejected" }, user.is_active ? "Активен" : "Отключён")),
    h("td", { class: "actions" }, toggle, reset),
  );
}

async function loadUsers() {
  try {
    people = await api.get("/api/users/");
    clear($("#users")).append(...people.map(userRow));
    fillActorFilter();
  } catch (error) {
    announce($("#users-error"), `Не удалось загрузить пользователей: ${error.message}`, "error");
  }
}

async function updateUser(user, changes, control) {
  control.disabled = true;
  try {
    await api.patch(`/api/users/${user.id}`, changes);
    const what = "role" in changes ? `роль: ${ROLE_LABELS[changes.role]}` : changes.is_active ? "включён" : "отключён, его сеансы завершены";
    announce($("#users-error"), `${user.display_name} — ${what}.`, "success");
    await loadUsers();
  } catch (error) {
    control.disabled = false;
    announce($("#users-error"), `Не удалось изменить «${user.display_name}»: ${error.message}`, "error");
  }
}

function wireDialog(dialog) {
  for (const button of dialog.querySelectorAll("[data-close]")) button.addEventListener("click", () => dialog.close());
}

function wireUserForm() {
  const dialog = $("#user-dialog");
  wireDialog(dialog);
  $("#new-user").addEventListener("click", () => {
    $("#user-form").reset();
    announce($("#user-error"), "");
    dialog.showModal();
    $("#u-name").focus();
  });
  $("#user-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      display_name: $("#u-name").value.trim(),
      email: $("#u-email").value.trim(),
      role: $("#u-role").value,
      password: $("#u-password").value,
    };
    if (!body.display_name || !body.email) {
      announce($("#user-error"), "Укажите имя и email.", "error");
      return;
    }
    if (body.password.length < 10) {
      announce($("#user-error"), "Пароль должен быть не короче 10 символов.", "error");
      $("#u-password").focus();
      return;
    }
    const submit = $("#user-submit");
    setBusy(submit, true, "Создаём…");
    try {
      const created = await api.post("/api/users/", body);
      dialog.close();
      announce($("#users-error"), `Пользователь ${created.display_name} создан: он может войти со своим email и паролем.`, "success");
      await loadUsers();
    } catch (error) {
      announce($("#user-error"), error.message, "error");
    } finally {
      setBusy(submit, false);
    }
  });
}

let passwordUser = null;

function openPassword(user) {
  passwordUser = user;
  $("#password-form").reset();
  $("#password-for").textContent = `Пользователь: ${user.display_name} (${user.email})`;
  announce($("#password-error"), "");
  $("#password-dialog").showModal();
  $("#pw-new").focus();
}

function wirePasswordForm() {
  const dialog = $("#password-dialog");
  wireDialog(dialog);
  $("#password-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const password = $("#pw-new").value;
    if (password.length < 10) {
      announce($("#password-error"), "Пароль должен быть не короче 10 символов.", "error");
      return;
    }
    const submit = $("#password-submit");
    setBusy(submit, true, "Сохраняем…");
    try {
      await api.patch(`/api/users/${passwordUser.id}`, { password });
      dialog.close();
      announce($("#users-error"), `Пароль для ${passwordUser.display_name} изменён, его сеансы завершены.`, "success");
    } catch (error) {
      announce($("#password-error"), error.message, "error");
    } finally {
      setBusy(submit, false);
    }
  });
}

// --- audit -------------------------------------------------------------------------------------------

let auditOffset = 0;
let auditToken = 0;

function fillActorFilter() {
  const select = $("#a-actor");
  const chosen = select.value;
  clear(select).append(h("option", { value: "" }, "Все"), ...people.map((p) => h("option", { value: String(p.id) }, `${p.display_name} (${p.email})`)));
  select.value = chosen;
}

function auditQuery() {
  const q = new URLSearchParams({ limit: String(AUDIT_PAGE), offset: String(auditOffset) });
  if ($("#a-actor").value) q.set("actor_id", $("#a-actor").value);
  if ($("#a-action").value) q.set("action", $("#a-action").value);
  // Dates are the admin's local days.
  if ($("#a-since").value) q.set("since", new Date(`${$("#a-since").value}T00:00:00`).toISOString());
  if ($("#a-until").value) {
    const until = new Date(`${$("#a-until").value}T00:00:00`);
    until.setDate(until.getDate() + 1);
    q.set("until", until.toISOString());
  }
  return q;
}

function entityCell(event) {
  if (event.entity_type === "candidate" && event.entity_id) {
    return h("a", { href: `/candidate-view.html?id=${event.entity_id}` }, `Кандидат #${event.entity_id}`);
  }
  if (event.entity_type === "vacancy" && event.entity_id) {
    return h("a", { href: `/vacancy.html?id=${event.entity_id}` }, `Вакансия #${event.entity_id}`);
  }
  if (event.entity_type === "user" && event.entity_id) {
    const person = people.find((p) => p.id === event.entity_id);
    return person ? `Пользователь ${person.display_name}` : `Пользователь #${event.entity_id}`;
  }
  return "—";
}

function detailText(event) {
  const d = event.details || {};
  const parts = [];
  if (d.from_stage || d.to_stage) parts.push(`${d.from_stage ? stageLabel(d.from_stage) : "—"} → ${stageLabel(d.to_stage)}`);
  if (d.fields && d.fields.length) parts.push(`поля: ${d.fields.join(", ")}`);
  if (d.provider) parts.push(providerLabel(d.provider));
  if (d.reason) parts.push(d.reason === "retention" ? "истёк срок хранения" : "по запросу");
  if (d.scope) parts.push(d.scope === "talent_pool" ? "кадровый резерв" : "вакансия");
  return parts.join(" · ");
}

async function loadAudit({ append = false } = {}) {
  if (!append) auditOffset = 0;
  const token = ++auditToken;
  const body = $("#audit");
  $("#audit-table").setAttribute("aria-busy", "true");
  try {
    const page = await api.get(`/api/audit/?${auditQuery()}`);
    if (token !== auditToken) return; // a newer filter's answer wins
    if (!append) clear(body);
    for (const event of page.data) {
      const detail = detailText(event);
      body.append(
        h(
          "tr",
          { dataset: { action: event.action } },
          h("td", null, h("time", { datetime: isoAttr(event.at) }, formatDateTime(event.at))),
          h("td", null, event.actor_email || "—"),
          h("td", null, ACTION_LABELS[event.action] || event.action, detail ? h("span", { class: "cell-person__sub" }, detail) : null),
          h("td", null, entityCell(event)),
          h("td", { class: "muted" }, event.ip || "—"),
        ),
      );
    }
    auditOffset += page.data.length;
    $("#audit-count").textContent = `Записей: ${page.count}`;
    show($("#audit-more"), auditOffset < page.count);
    show($("#audit-empty"), page.count === 0);
    announce($("#audit-error"), "");
  } catch (error) {
    announce($("#audit-error"), `Не удалось загрузить журнал: ${error.message}`, "error");
  } finally {
    if (token === auditToken) $("#audit-table").removeAttribute("aria-busy");
  }
}

function wireAudit() {
  const actions = $("#a-action");
  for (const [value, label] of Object.entries(ACTION_LABELS)) actions.append(h("option", { value }, label));
  for (const id of ["#a-actor", "#a-action", "#a-since", "#a-until"]) $(id).addEventListener("change", () => loadAudit());
  $("#audit-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    loadAudit();
  });
  $("#audit-more").addEventListener("click", () => loadAudit({ append: true }));
}

// --- AI ----------------------------------------------------------------------------------------------

function dayList(days) {
  const list = [];
  const today = new Date();
  for (let i = days - 1; i >= 0; i -= 1) {
    const d = new Date(today);
    d.setDate(today.getDate() - i);
    list.push(`${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`);
  }
  return list;
}

function series(rows, providers, pick, labelSuffix = "") {
  return providers.map((provider) => {
    const values = {};
    for (const row of rows) if (row.provider === provider) values[row.day] = pick(row);
    return { key: provider, label: `${providerLabel(provider)}${labelSuffix}`, values };
  });
}

function quotaStat(quota) {
  if (!quota.limit) return stat("запросов GigaChat сегодня", formatNumber(quota.used), "дневной лимит не задан (GIGACHAT_DAILY_LIMIT=0)");
  const share = Math.min(1, quota.used / quota.limit);
  return h(
    "div",
    { class: ["stat", share >= 0.8 && "stat--warning"] },
    h("span", { class: "stat__value" }, `${formatNumber(quota.used)} из ${formatNumber(quota.limit)}`),
    h("span", { class: "stat__label" }, "запросов GigaChat сегодня (GIGACHAT_DAILY_LIMIT)"),
    h("meter", { class: "meter", min: "0", max: String(quota.limit), value: String(quota.used), high: String(quota.limit * 0.8), optimum: "0", "aria-label": "Использование дневного лимита GigaChat" }),
  );
}

function balanceStat(balance) {
  if (!balance.available) return stat("остаток пакета GigaChat", "—", balance.detail || "нет данных");
  return h(
    "div",
    { class: "stat", id: "ai-balance" },
    h("span", { class: "stat__label" }, "остаток пакета GigaChat"),
    h("ul", { class: "balance" }, balance.items.map((item) => h("li", null, h("span", { class: "balance__value" }, formatNumber(item.value)), ` ${item.usage}`))),
    h("span", { class: "stat__hint muted small" }, "токенов, по данным GigaChat"),
  );
}

function breakersStat(breakers) {
  return h(
    "div",
    { class: "stat", id: "ai-breakers" },
    h("span", { class: "stat__label" }, "провайдеры"),
    breakers.length
      ? h("ul", { class: "breakers" }, breakers.map((b) => {
          const [label, tone] = BREAKER_LABELS[b.state] || [b.state, "warn"];
          return h("li", null, h("span", { class: "breaker__name" }, providerLabel(b.provider)), h("span", { class: `pill pill--${tone}` }, label));
        }))
      : h("span", { class: "muted" }, "ни один провайдер не настроен"),
  );
}

async function loadAi() {
  const days = Number($("#ai-days").value);
  const charts = $("#ai-charts");
  charts.setAttribute("aria-busy", "true");
  try {
    const overview = await api.get(`/api/usage/overview?days=${days}`);
    clear($("#ai-stats")).append(quotaStat(overview.quota), balanceStat(overview.balance), breakersStat(overview.breakers));
    const providers = [...new Set(overview.usage.map((r) => r.provider))].sort();
    const list = dayList(days);
    clear(charts);
    if (!overview.usage.length) {
      charts.append(h("p", { class: "empty empty--compact muted" }, "За этот период обращений к ИИ не было."));
    } else {
      charts.append(
        h(
          "div",
          { class: "charts" },
          dailyColumns("Запросы", list, series(overview.usage, providers, (r) => r.requests)),
          dailyColumns("Токены", list, series(overview.usage, providers, (r) => r.prompt_tokens + r.completion_tokens)),
          dailyColumns("Сбои и переходы на резервного провайдера", list, series(overview.usage, providers, (r) => r.failures)),
        ),
      );
    }
    announce($("#ai-error"), "");
  } catch (error) {
    announce($("#ai-error"), `Не удалось загрузить данные об ИИ: ${error.message}`, "error");
  } finally {
    charts.removeAttribute("aria-busy");
  }
}

// --- start -------------------------------------------------------------------------------------------

async function init() {
  wireLogout();
  try {
    me = await currentUser();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    show($("#admin-loading"), false);
    showFatal(error);
    return;
  }
  show($("#admin-loading"), false);
  if (me.role !== "admin") {
    showFatal("Раздел доступен только администратору.");
    return;
  }
  show($("#admin"), true);
  wireTabs();
  wireUserForm();
  wirePasswordForm();
  wireAudit();
  $("#ai-days").addEventListener("change", loadAi);
  const wanted = location.hash.slice(1);
  const tab = TABS.includes(wanted) ? wanted : "users";
  if (tab !== "users") {
    // The audit filter names people: the user list is needed on every tab.
    loaded.add("users");
    loadUsers();
  }
  selectTab(tab);
  window.addEventListener("hashchange", () => {
    const next = location.hash.slice(1);
    if (TABS.includes(next)) selectTab(next);
  });
}

init();
