// Charts for reports and AI usage: plain SVG and DOM, every number also written as text next to its bar,
// so the chart reads without colour and a screen reader hears the same numbers.

import { h, svg } from "./dom.js";

const number = new Intl.NumberFormat("ru-RU", { maximumFractionDigits: 1 });

export function formatNumber(value) {
  return value === null || value === undefined ? "—" : number.format(value);
}

/**
 * Horizontal bars: rows = [{label, value, note?, tone?}]; the longest bar is the largest value.
 * `unit` follows each value ("дн."), `note` is extra text (a conversion) after it.
 */
export function barList(rows, { label, unit = "", max } = {}) {
  const top = max ?? Math.max(0, ...rows.map((r) => Number(r.value) || 0));
  return h(
    "ul",
    { class: "hbars", "aria-label": label },
    rows.map((row) => {
      const value = Number(row.value) || 0;
      const share = top > 0 ? Math.max(value / top, value > 0 ? 0.02 : 0) : 0;
      return h(
        "li",
        { class: ["hbar", row.tone && `hbar--${row.tone}`], dataset: { key: row.key || row.label } },
        h("span", { class: "hbar__label" }, row.label),
        svg(
          "svg",
          { class: "hbar__bar", viewBox: "0 0 100 10", preserveAspectRatio: "none", "aria-hidden": "true", focusable: "false" },
          svg("rect", { class: "hbar__track", x: "0", y: "0", width: "100", height: "10", rx: "3" }),
          svg("rect", { class: "hbar__value", x: "0", y: "0", width: String((share * 100).toFixed(2)), height: "10", rx: "3" }),
        ),
        h(
          "span",
          { class: "hbar__value-text" },
          row.value === null || row.value === undefined ? "—" : `${formatNumber(row.value)}${unit ? ` ${unit}` : ""}`,
          row.note ? h("span", { class: "hbar__note" }, row.note) : null,
        ),
      );
    }),
  );
}

/**
 * Columns per day, stacked by series: days = ["2026-12-01", …] (oldest first),
 * series = [{key, label, values: {day: n}}]. Returns a figure with a legend and a data table.
 */
export function dailyColumns(title, days, series) {
  const width = 640;
  const height = 160;
  const gap = 2;
  const totals = days.map((d) => series.reduce((sum, s) => sum + (s.values[d] || 0), 0));
  const top = Math.max(1, ...totals);
  const slot = width / Math.max(days.length, 1);
  const bars = [];
  days.forEach((day, i) => {
    let y = height;
    for (const s of series) {
      const value = s.values[day] || 0;
      if (!value) continue;
      const barHeight = (value / top) * (height - 4);
      y -= barHeight;
      bars.push(
        svg("rect", {
          class: `col col--${s.key}`,
          x: String((i * slot + gap / 2).toFixed(2)),
          y: String(y.toFixed(2)),
          width: String(Math.max(slot - gap, 1).toFixed(2)),
          height: String(barHeight.toFixed(2)),
        }),
      );
    }
  });
  const total = totals.reduce((a, b) => a + b, 0);
  const summary = `${title}: всего ${formatNumber(total)} за ${days.length} дн.; ` +
    series.map((s) => `${s.label} — ${formatNumber(days.reduce((sum, d) => sum + (s.values[d] || 0), 0))}`).join(", ");
  const dateLabel = new Intl.DateTimeFormat("ru-RU", { day: "numeric", month: "short" });
  const label = (day) => dateLabel.format(new Date(`${day}T12:00:00`));
  return h(
    "figure",
    { class: "chart" },
    h("figcaption", { class: "chart__title" }, title, h("span", { class: "muted small" }, ` · всего ${formatNumber(total)}`)),
    svg("svg", { class: "chart__svg", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img", "aria-label": summary }, bars),
    h(
      "div",
      { class: "chart__axis", "aria-hidden": "true" },
      h("span", null, days.length ? label(days[0]) : ""),
      h("span", null, days.length ? label(days[days.length - 1]) : ""),
    ),
    h(
      "ul",
      { class: "legend", "aria-hidden": "true" },
      series.map((s) => h("li", { class: `legend__item legend__item--${s.key}` }, s.label)),
    ),
    h(
      "details",
      { class: "chart__table" },
      h("summary", null, "Таблица по дням"),
      h(
        "div",
        { class: "dtable-wrap", tabindex: "0", role: "region", "aria-label": `${title}: таблица по дням` },
        h(
          "table",
          { class: "dtable dtable--compact" },
          h("caption", { class: "visually-hidden" }, title),
          h("thead", null, h("tr", null, h("th", { scope: "col" }, "День"), series.map((s) => h("th", { scope: "col", class: "num" }, s.label)))),
          h(
            "tbody",
            null,
            [...days].reverse().map((d) =>
              h("tr", null, h("th", { scope: "row" }, label(d)), series.map((s) => h("td", { class: "num" }, formatNumber(s.values[d] || 0)))),
            ),
          ),
        ),
      ),
    ),
  );
}

/** A labelled figure: big number, caption under it. */
export function stat(label, value, hint) {
  return h("div", { class: "stat" }, h("span", { class: "stat__value" }, value), h("span", { class: "stat__label" }, label), hint ? h("span", { class: "stat__hint muted small" }, hint) : null);
}
