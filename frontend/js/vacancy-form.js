// The vacancy form in a dialog, for creating (the list) and editing (the vacancy page).

import { api } from "./api.js";
import { $, announce, h, setBusy } from "./dom.js";
import { splitSkills } from "./format.js";

let dialog = null;

export function statusBadge(status) {
  return status === "closed"
    ? h("span", { class: "badge badge--closed" }, "Закрыта")
    : h("span", { class: "badge badge--open" }, "Открыта");
}

function build() {
  const field = (id, label, control, wide = true) =>
    h("div", { class: ["field", wide && "field--wide"] }, h("label", { for: id }, label), control);
  dialog = h(
    "dialog",
    { class: "dialog", id: "vacancy-dialog", "aria-labelledby": "vacancy-dialog-title" },
    h(
      "form",
      { class: "dialog__body", id: "vacancy-form", novalidate: true },
      h(
        "div",
        { class: "dialog__head" },
        h("h2", { id: "vacancy-dialog-title" }, "Новая вакансия"),
        h("button", { class: "btn btn--icon", type: "button", "aria-label": "Закрыть", onclick: () => dialog.close() }, "×"),
      ),
      h(
        "div",
        { class: "form-grid" },
        field("vf-title", "Название", h("input", { id: "vf-title", required: true, maxlength: "200", autocomplete: "off" })),
        field("vf-skills", "Ключевые навыки", h("input", { id: "vf-skills", placeholder: "Python, SQL, английский" })),
        field("vf-requirements", "Требования", h("textarea", { id: "vf-requirements", rows: "4" })),
        field("vf-description", "Описание", h("textarea", { id: "vf-description", rows: "4" })),
      ),
      h("div", { class: "notice", id: "vacancy-error", role: "alert", hidden: true }),
      h(
        "div",
        { class: "dialog__actions" },
        h("button", { class: "btn btn--ghost", type: "button", onclick: () => dialog.close() }, "Отмена"),
        h("button", { class: "btn btn--primary", type: "submit", id: "vacancy-submit" }, "Создать"),
      ),
    ),
  );
  document.body.append(dialog);
}

/** Open the form; resolves with the saved vacancy, or null if the dialog was closed without saving. */
export function openVacancyForm(vacancy = null) {
  if (!dialog) build();
  const form = $("#vacancy-form");
  const error = $("#vacancy-error");
  const submit = $("#vacancy-submit");
  $("#vacancy-dialog-title").textContent = vacancy ? "Изменить вакансию" : "Новая вакансия";
  submit.textContent = vacancy ? "Сохранить" : "Создать";
  $("#vf-title").value = vacancy ? vacancy.title : "";
  $("#vf-skills").value = vacancy ? (vacancy.key_skills || []).join(", ") : "";
  $("#vf-requirements").value = vacancy ? vacancy.requirements || "" : "";
  $("#vf-description").value = vacancy ? vacancy.description || "" : "";
  announce(error, "");
  return new Promise((resolve) => {
    let saved = null;
    const onSubmit = async (event) => {
      event.preventDefault();
      const title = $("#vf-title").value.trim();
      if (!title) {
        announce(error, "Укажите название вакансии.", "error");
        $("#vf-title").focus();
        return;
      }
      const body = {
        title,
        key_skills: splitSkills($("#vf-skills").value),
        requirements: $("#vf-requirements").value.trim() || null,
        description: $("#vf-description").value.trim() || null,
      };
      setBusy(submit, true, "Сохраняем…");
      try {
        saved = vacancy ? await api.patch(`/api/vacancies/${vacancy.id}`, body) : await api.post("/api/vacancies/", body);
        dialog.close();
      } catch (failure) {
        announce(error, failure.message, "error");
      } finally {
        setBusy(submit, false);
      }
    };
    form.addEventListener("submit", onSubmit);
    dialog.addEventListener(
      "close",
      () => {
        form.removeEventListener("submit", onSubmit);
        resolve(saved);
      },
      { once: true },
    );
    dialog.showModal();
    $("#vf-title").focus();
  });
}
