// A vacancy's shortlist (shortlist.html?vacancy=N): the whole pool ranked by embeddings, the best analysed.

import { ApiError, api } from "./api.js";
import { $, announce, clear, h, setBusy, show } from "./dom.js";
import { currentUser, showFatal, wireLogout } from "./layout.js";

const LOCAL_MODEL = "local-stems-v1";

function vacancyId() {
  return new URLSearchParams(location.search).get("vacancy") || "";
}

function skills(list) {
  return list.length ? list.join(", ") : h("span", { class: "muted" }, "—");
}

function render(shortlist) {
  const body = clear($("#entries"));
  show($("#empty"), shortlist.entries.length === 0);
  for (const entry of shortlist.entries) {
    const analysis = entry.analysis
      ? h("div", {}, h("strong", {}, `${entry.analysis.fit_score}/100. `), entry.analysis.summary)
      : h("span", { class: "muted" }, "—");
    body.append(
      h(
        "tr",
        { "data-candidate": String(entry.candidate_id) },
        h("td", { "data-label": "#" }, String(entry.rank)),
        h(
          "td",
          { "data-label": "Кандидат" },
          h("a", { href: `/candidate-view.html?id=${entry.candidate_id}` }, entry.full_name),
          entry.position ? h("div", { class: "muted" }, entry.position) : "",
        ),
        h("td", { "data-label": "Близость" }, `${Math.round(entry.score * 100)} %`),
        h("td", { "data-label": "Есть навыки" }, skills(entry.matched_skills)),
        h("td", { "data-label": "Нет навыков" }, skills(entry.missing_skills)),
        h("td", { "data-label": "Анализ" }, analysis),
      ),
    );
  }
  const notes = [];
  if (shortlist.model === LOCAL_MODEL) {
    notes.push("Эмбеддинги GigaChat недоступны: ранжирование по совпадению слов и навыков (локальный запасной способ).");
  }
  if (shortlist.fallback_reason) notes.push(`Причина: ${shortlist.fallback_reason}.`);
  announce($("#shortlist-status"), notes.join(" "), notes.length ? "warning" : "");
}

async function load() {
  const id = vacancyId();
  if (!id) {
    show($("#empty"), false);
    return;
  }
  try {
    render(await api.get(`/api/vacancies/${id}/shortlist`));
  } catch (error) {
    showFatal(error);
  }
}

async function build(event) {
  event.preventDefault();
  const id = $("#vacancy").value;
  if (!id) return;
  history.replaceState(null, "", `/shortlist.html?vacancy=${id}`);
  const button = $("#build");
  setBusy(button, true, "Ранжируем и анализируем…");
  announce($("#shortlist-status"), "Ранжируем весь пул и анализируем лучших — это может занять минуту.", "info");
  try {
    const topN = Number.parseInt($("#top-n").value, 10) || 5;
    render(await api.post(`/api/vacancies/${id}/shortlist`, { top_n: topN }));
  } catch (error) {
    announce($("#shortlist-status"), error.message, "error");
  } finally {
    setBusy(button, false);
  }
}

async function init() {
  wireLogout();
  try {
    await currentUser();
    const vacancies = await api.get("/api/vacancies/?limit=200");
    const select = $("#vacancy");
    for (const vacancy of vacancies.data) select.append(h("option", { value: String(vacancy.id) }, vacancy.title));
    select.value = vacancyId();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    showFatal(error);
    return;
  }
  $("#shortlist-form").addEventListener("submit", build);
  $("#vacancy").addEventListener("change", () => {
    history.replaceState(null, "", `/shortlist.html?vacancy=${$("#vacancy").value}`);
    load();
  });
  await load();
}

init();
