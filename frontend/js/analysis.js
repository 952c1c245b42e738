// The AI analysis panel: run one (with progress), show the fit score and criteria as charts, the claims with
// their evidence quotes, interview questions, the advisory label, provider and model; earlier runs selectable.

import { api, requestFull } from "./api.js";
import { criteriaChart, scoreRing, scoreTone } from "./chart.js";
import { $, announce, clear, h, setBusy, show } from "./dom.js";
import { formatDateTime, providerLabel } from "./format.js";

export const ADVISORY = "Рекомендация ИИ носит справочный характер — решение принимает рекрутер";

let ctx;
let analyses = [];

function claims(title, items, tone) {
  const list = (items || []).map((item) =>
    h(
      "li",
      { class: "claim" },
      h("p", { class: "claim__text" }, item.text),
      item.evidence_quote ? h("blockquote", { class: "claim__quote" }, h("span", { class: "visually-hidden" }, "Цитата из резюме: "), item.evidence_quote) : null,
    ),
  );
  return h(
    "section",
    { class: `claims claims--${tone}` },
    h("h3", null, title, h("span", { class: "claims__count" }, String(list.length))),
    list.length ? h("ul", null, list) : h("p", { class: "muted small" }, "Не выявлено."),
  );
}

function vacancyName(id) {
  const vacancy = id ? ctx.vacancies.get(id) : null;
  return vacancy ? vacancy.title : null;
}

function renderAnalysis(analysis) {
  const result = analysis.result;
  const meta = [
    `${providerLabel(analysis.provider)}${analysis.model ? ` · ${analysis.model}` : ""}`,
    formatDateTime(analysis.created_at),
    vacancyName(analysis.vacancy_id) ? `вакансия «${vacancyName(analysis.vacancy_id)}»` : "без вакансии",
  ];
  if (analysis.dropped_quotes) meta.push(`отброшено цитат, которых нет в резюме: ${analysis.dropped_quotes}`);
  return h(
    "article",
    { class: "analysis", dataset: { id: analysis.id } },
    h(
      "div",
      { class: "analysis__scores" },
      h("figure", { class: "analysis__ring" }, scoreRing(result.fit_score), h("figcaption", null, "Соответствие")),
      criteriaChart(result.criteria),
    ),
    h("p", { class: "analysis__summary" }, result.summary),
    h(
      "div",
      { class: `analysis__recommendation analysis__recommendation--${scoreTone(result.fit_score)}` },
      h("h3", null, "Рекомендация"),
      h("p", null, result.recommendation),
      h("p", { class: "advisory", role: "note" }, h("span", { "aria-hidden": "true", class: "advisory__icon" }, "i"), ADVISORY),
    ),
    h(
      "div",
      { class: "claims-grid" },
      claims("Сильные стороны", result.strengths, "good"),
      claims("Пробелы", result.gaps, "gap"),
      claims("Риски", result.risks, "risk"),
    ),
    h(
      "section",
      { class: "questions" },
      h("h3", null, "Вопросы для интервью"),
      (result.interview_questions || []).length
        ? h(
            "ol",
            null,
            result.interview_questions.map((q) =>
              h("li", null, h("p", null, q.question), q.gap ? h("p", { class: "muted small" }, `Проверяет: ${q.gap}`) : null),
            ),
          )
        : h("p", { class: "muted small" }, "Вопросов нет."),
    ),
    h("p", { class: "analysis__meta" }, meta.join(" · ")),
  );
}

function renderHistory(selectedId) {
  const select = clear($("#analysis-history"));
  for (const analysis of analyses) {
    const vacancy = vacancyName(analysis.vacancy_id);
    select.append(
      h(
        "option",
        { value: String(analysis.id) },
        `${formatDateTime(analysis.created_at)} — ${analysis.result.fit_score}/100${vacancy ? ` · ${vacancy}` : ""}`,
      ),
    );
  }
  if (selectedId) select.value = String(selectedId);
  show($("#analysis-history-field"), analyses.length > 1);
}

function showAnalysis(id) {
  const analysis = analyses.find((a) => a.id === id) || analyses[0];
  const box = clear($("#analysis-result"));
  if (!analysis) {
    box.append(
      h(
        "div",
        { class: "empty empty--compact" },
        h("p", { class: "empty__title" }, "Анализа ещё не было"),
        h("p", { class: "muted" }, "ИИ сравнит резюме с вакансией: оценка соответствия, сильные стороны, пробелы с цитатами из резюме и вопросы для интервью."),
      ),
    );
    return;
  }
  box.append(renderAnalysis(analysis));
}

function progress(running) {
  const box = $("#analysis-progress");
  const text = $("#analysis-progress-text");
  clearInterval(progress.timer);
  show(box, running);
  if (!running) return;
  const started = Date.now();
  text.replaceChildren("Анализируем резюме — обычно это занимает 10–40 секунд. ", h("span", { class: "muted", "aria-hidden": "true" }, "0 с"));
  progress.timer = setInterval(() => {
    text.lastChild.textContent = `${Math.round((Date.now() - started) / 1000)} с`;
  }, 1000);
}

async function run(event) {
  event.preventDefault();
  const button = $("#analysis-run");
  const error = $("#analysis-error");
  const vacancy = $("#analysis-vacancy").value;
  announce(error, "");
  setBusy(button, true, "Анализ идёт…");
  progress(true);
  $("#analysis").setAttribute("aria-busy", "true");
  try {
    const result = await requestFull(`/api/candidates/${ctx.candidateId}/analyses`, {
      method: "POST",
      json: vacancy ? { vacancy_id: Number(vacancy) } : {},
    });
    if (!result.ok) {
      announce(error, result.message, "error");
      return;
    }
    analyses = [result.data, ...analyses];
    renderHistory(result.data.id);
    showAnalysis(result.data.id);
    announce(error, `Анализ готов: соответствие ${result.data.result.fit_score} из 100.`, "success");
  } catch (failure) {
    announce(error, failure.message, "error");
  } finally {
    progress(false);
    $("#analysis").removeAttribute("aria-busy");
    setBusy(button, false);
  }
}

export async function initAnalysis(context) {
  ctx = context;
  $("#analysis-form").addEventListener("submit", run);
  $("#analysis-history").addEventListener("change", (event) => showAnalysis(Number(event.target.value)));
  const candidate = ctx.getCandidate();
  const select = $("#analysis-vacancy");
  const own = candidate.vacancy_id ? vacancyName(candidate.vacancy_id) : null;
  select.options[0].textContent = own ? `Вакансия кандидата: ${own}` : "Без вакансии (по желаемой должности)";
  if (own) {
    // The candidate's own vacancy is the default entry already; do not list it twice.
    const duplicate = select.querySelector(`option[value="${candidate.vacancy_id}"]`);
    if (duplicate) duplicate.remove();
  }
  show(select.closest(".field"), ctx.vacancies.size > 0);
  try {
    analyses = await api.get(`/api/candidates/${ctx.candidateId}/analyses`);
  } catch (error) {
    announce($("#analysis-error"), error.message, "error");
    analyses = [];
  }
  renderHistory(analyses[0]?.id);
  showAnalysis(analyses[0]?.id);
  const status = ctx.ai ? await ctx.ai : { configured: true };
  if (!status.configured) {
    $("#analysis-run").disabled = true;
    announce($("#analysis-error"), "Анализ недоступен: ИИ не настроен (нужен GIGACHAT_API_KEY или OPENROUTER_API_KEY).", "warning");
  }
}
