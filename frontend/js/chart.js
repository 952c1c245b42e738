// Charts for the analysis panel, drawn with plain SVG and DOM (no library, nothing from a CDN).

import { h, svg } from "./dom.js";

export const CRITERIA = [
  { key: "skills", label: "Навыки" },
  { key: "experience", label: "Опыт" },
  { key: "domain", label: "Предметная область" },
  { key: "communication", label: "Коммуникация" },
];

export function scoreTone(score) {
  if (score >= 75) return "good";
  if (score >= 50) return "fair";
  return "weak";
}

function clamp(score) {
  const n = Number(score);
  return Number.isFinite(n) ? Math.min(100, Math.max(0, Math.round(n))) : 0;
}

/** The overall fit score as a ring with the number in the middle. */
export function scoreRing(score) {
  const value = clamp(score);
  const radius = 52;
  const circumference = 2 * Math.PI * radius;
  const filled = (value / 100) * circumference;
  return svg(
    "svg",
    {
      class: `score-ring score-ring--${scoreTone(value)}`,
      viewBox: "0 0 128 128",
      width: "128",
      height: "128",
      role: "img",
      "aria-label": `Соответствие вакансии: ${value} из 100`,
    },
    svg("circle", { class: "score-ring__track", cx: "64", cy: "64", r: String(radius), fill: "none", "stroke-width": "12" }),
    svg("circle", {
      class: "score-ring__value",
      cx: "64",
      cy: "64",
      r: String(radius),
      fill: "none",
      "stroke-width": "12",
      "stroke-linecap": "round",
      "stroke-dasharray": `${filled.toFixed(2)} ${circumference.toFixed(2)}`,
      transform: "rotate(-90 64 64)",
    }),
    svg("text", { class: "score-ring__number", x: "64", y: "62", "text-anchor": "middle", "dominant-baseline": "middle" }, String(value)),
    svg("text", { class: "score-ring__unit", x: "64", y: "88", "text-anchor": "middle" }, "из 100"),
  );
}

/** One horizontal bar per criterion, with the model's comment under it. */
export function criteriaChart(criteria) {
  const rows = CRITERIA.filter((c) => criteria && criteria[c.key]).map((c) => {
    const item = criteria[c.key];
    const value = clamp(item.score);
    return h(
      "li",
      { class: `criterion criterion--${scoreTone(value)}`, dataset: { criterion: c.key } },
      h("div", { class: "criterion__head" }, h("span", { class: "criterion__label" }, c.label), h("span", { class: "criterion__value" }, `${value}`)),
      svg(
        "svg",
        { class: "bar", viewBox: "0 0 100 8", preserveAspectRatio: "none", "aria-hidden": "true", focusable: "false" },
        svg("rect", { class: "bar__track", x: "0", y: "0", width: "100", height: "8", rx: "4" }),
        svg("rect", { class: "bar__value", x: "0", y: "0", width: String(Math.max(value, 1)), height: "8", rx: "4" }),
      ),
      item.comment ? h("p", { class: "criterion__comment" }, item.comment) : null,
    );
  });
  return h("ul", { class: "criteria", "aria-label": "Оценки по критериям (из 100)" }, rows);
}
