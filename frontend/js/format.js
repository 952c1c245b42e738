// Everything the recruiter reads is Russian: labels for stages and providers, dates in ru-RU.

export const STAGES = [
  { value: "new", label: "Новый" },
  { value: "screening", label: "Скрининг" },
  { value: "interview", label: "Интервью" },
  { value: "offer", label: "Оффер" },
  { value: "hired", label: "Принят" },
  { value: "rejected", label: "Отказ" },
];
const STAGE_LABELS = Object.fromEntries(STAGES.map((s) => [s.value, s.label]));

export function stageLabel(stage) {
  return STAGE_LABELS[stage] || stage || "—";
}

const PROVIDER_LABELS = { gigachat: "GigaChat", openrouter: "OpenRouter" };

export function providerLabel(provider) {
  return PROVIDER_LABELS[provider] || provider || "";
}

const dateTime = new Intl.DateTimeFormat("ru-RU", {
  day: "numeric",
  month: "long",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});
const dateOnly = new Intl.DateTimeFormat("ru-RU", { day: "numeric", month: "short", year: "numeric" });
const timeOnly = new Intl.DateTimeFormat("ru-RU", { hour: "2-digit", minute: "2-digit" });
const dayMonth = new Intl.DateTimeFormat("ru-RU", { day: "numeric", month: "long" });

export function formatDateTime(value) {
  return value ? dateTime.format(new Date(value)) : "";
}

export function formatDate(value) {
  return value ? dateOnly.format(new Date(value)) : "";
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** Chat time: "14:05" today, "вчера, 14:05", "3 марта, 14:05", or the full date in another year. */
export function formatMessageTime(value) {
  if (!value) return "";
  const date = new Date(value);
  const now = new Date();
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (sameDay(date, now)) return timeOnly.format(date);
  if (sameDay(date, yesterday)) return `вчера, ${timeOnly.format(date)}`;
  if (date.getFullYear() === now.getFullYear()) return `${dayMonth.format(date)}, ${timeOnly.format(date)}`;
  return dateTime.format(date);
}

export function isoAttr(value) {
  return value ? new Date(value).toISOString() : "";
}

export function formatSize(bytes) {
  if (bytes === null || bytes === undefined) return "";
  if (bytes < 1024) return `${bytes} Б`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toLocaleString("ru-RU", { maximumFractionDigits: 0 })} КБ`;
  return `${(bytes / 1024 / 1024).toLocaleString("ru-RU", { maximumFractionDigits: 1 })} МБ`;
}

/** Russian plural: plural(5, ["кандидат", "кандидата", "кандидатов"]) → "кандидатов". */
export function plural(n, forms) {
  const rule = new Intl.PluralRules("ru-RU").select(n);
  return { one: forms[0], few: forms[1], many: forms[2] }[rule] || forms[2];
}

export function initials(name) {
  const parts = String(name || "").trim().split(/\s+/).filter(Boolean);
  return parts.slice(0, 2).map((p) => p[0].toUpperCase()).join("") || "?";
}

/** "Python, SQL; английский" → ["Python", "SQL", "английский"]. */
export function splitSkills(text) {
  return String(text || "")
    .split(/[,;\n]/)
    .map((s) => s.trim())
    .filter(Boolean);
}
