// The card's chat, as the guide describes it: history on open, every message with its time (and, for the
// assistant, the provider and model), new messages saved and answered token by token, stop, retry.

import { ApiError, api, requestFull, requestStream } from "./api.js";
import { $, announce, clear, h, show } from "./dom.js";
import { formatDateTime, formatMessageTime, isoAttr, providerLabel } from "./format.js";
import { renderMarkdown } from "./markdown.js";
import { readEvents } from "./sse.js";

const PAGE = 100;
const PENDING_POLL_MS = 1500;
const PENDING_POLL_LIMIT = 200; // × 1.5 s: longer than the server's total deadline for one answer
const SUGGESTIONS = [
  "Кратко опиши кандидата: опыт, сильные стороны, на что обратить внимание",
  "Составь 5 вопросов для интервью по пробелам в резюме",
  "Напиши вежливое приглашение на интервью",
];

let candidateId;
let log;
let input;
let sendButton;
let stopButton;
let errorBox;
let messages = [];
let hasOlder = false;
let controller = null;
let pollTimer = null;
let pollCount = 0;
let historyLoaded = Promise.resolve();
let queued = false;

// --- rendering -------------------------------------------------------------------------------------

function providerChip(message) {
  if (!message.provider) return null;
  const label = providerLabel(message.provider);
  return h(
    "span",
    { class: `provider provider--${message.provider}`, title: message.model ? `Модель: ${message.model}` : null },
    message.model ? `${label} · ${message.model}` : label,
  );
}

function fallbackNote(message) {
  const failed = (message.attempts || []).map((a) => providerLabel(a.provider)).filter(Boolean);
  if (!failed.length || message.role !== "assistant") return null;
  return h("p", { class: "msg__note" }, `${[...new Set(failed)].join(", ")} не ответил — ответ резервного провайдера.`);
}

function timeEl(value) {
  return h("time", { datetime: isoAttr(value), title: formatDateTime(value) }, formatMessageTime(value));
}

function messageBody(message) {
  const body = h("div", { class: "msg__body" });
  if (message.role === "assistant") body.append(renderMarkdown(message.content));
  else body.textContent = message.content;
  return body;
}

function renderMessage(message) {
  const assistant = message.role === "assistant";
  const failed = message.status === "failed";
  const pending = message.status === "pending" && !assistant;
  const el = h(
    "article",
    {
      class: ["msg", assistant ? "msg--assistant" : "msg--user", failed && "msg--failed"],
      dataset: { id: message.id ?? "", role: message.role, status: message.status || "" },
      "aria-label": assistant ? "Ответ ассистента" : "Сообщение рекрутера",
    },
    h(
      "header",
      { class: "msg__meta" },
      h("span", { class: "msg__author" }, assistant ? "ИИ-ассистент" : "Рекрутер"),
      message.created_at ? timeEl(message.created_at) : null,
      assistant ? providerChip(message) : null,
    ),
    messageBody(message),
    fallbackNote(message),
  );
  if (failed) el.append(failureFooter(message));
  if (pending) el.append(h("p", { class: "msg__status" }, h("span", { class: "dots", "aria-hidden": "true" }), "Ответ готовится…"));
  return el;
}

function failureFooter(message) {
  const retry = h("button", { class: "btn btn--small btn--danger-ghost", type: "button" }, "Повторить");
  retry.addEventListener("click", () => regenerate(message.id, retry));
  return h(
    "div",
    { class: "msg__failure" },
    h("p", { class: "msg__error" }, message.error || "Ответ не получен: все провайдеры ИИ недоступны."),
    retry,
  );
}

function emptyState() {
  return h(
    "div",
    { class: "chat__empty" },
    h("p", { class: "chat__empty-title" }, "Спросите ассистента о кандидате"),
    h("p", { class: "muted small" }, "Ассистент знает профиль и резюме. Ответы — подсказки, решение за вами."),
    h(
      "div",
      { class: "suggestions" },
      SUGGESTIONS.map((text) =>
        h("button", { type: "button", class: "suggestion", onclick: () => submit(text) }, text),
      ),
    ),
  );
}

function nearBottom() {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
}

function scrollToEnd(force = false) {
  if (force || nearBottom()) log.scrollTop = log.scrollHeight;
}

function renderAll() {
  clear(log);
  if (hasOlder) {
    log.append(h("button", { type: "button", class: "btn btn--link chat__older", onclick: loadOlder }, "Показать более ранние сообщения"));
  }
  if (!messages.length) log.append(emptyState());
  log.append(...messages.map(renderMessage));
}

// --- history ---------------------------------------------------------------------------------------

// `fromStream`: called by the turn in progress itself. Anything else that answers while a turn streams
// (a poll, a slow first load) must not redraw the log under it.
async function loadHistory({ keepScroll = false, fromStream = false } = {}) {
  const page = await api.get(`/api/chat/${candidateId}?limit=${PAGE}`);
  if (controller && !fromStream) return;
  hasOlder = page.length === PAGE;
  messages = page;
  const wasNearBottom = nearBottom();
  renderAll();
  if (!keepScroll || wasNearBottom) scrollToEnd(true);
  schedulePendingPoll();
}

async function loadOlder() {
  if (!messages.length || controller) return;
  const older = await api.get(`/api/chat/${candidateId}?limit=${PAGE}&before_id=${messages[0].id}`);
  hasOlder = older.length === PAGE;
  const height = log.scrollHeight;
  messages = [...older, ...messages];
  renderAll();
  log.scrollTop = log.scrollHeight - height;
}

// A question still being answered (after "stop", a lost connection or another tab) is re-read until its
// answer is stored, so the recruiter never has to reload the page to see it.
function schedulePendingPoll() {
  clearTimeout(pollTimer);
  const pending = messages.some((m) => m.role === "user" && m.status === "pending");
  if (!pending || controller) {
    pollCount = 0;
    return;
  }
  if (pollCount++ > PENDING_POLL_LIMIT) return;
  pollTimer = setTimeout(() => {
    loadHistory({ keepScroll: true }).catch(() => schedulePendingPoll());
  }, PENDING_POLL_MS);
}

// --- sending ---------------------------------------------------------------------------------------

function setStreaming(streaming) {
  show(stopButton, streaming);
  sendButton.disabled = streaming;
  sendButton.setAttribute("aria-disabled", String(streaming));
}

function streamingBubble() {
  const body = h("div", { class: "msg__body" }, h("span", { class: "dots", "aria-hidden": "true" }), h("span", { class: "visually-hidden" }, "Ассистент печатает…"));
  const meta = h("header", { class: "msg__meta" }, h("span", { class: "msg__author" }, "ИИ-ассистент"), h("span", { class: "muted" }, "печатает…"));
  const el = h("article", { class: "msg msg--assistant msg--streaming", "aria-busy": "true", "aria-label": "Ответ ассистента" }, meta, body);
  return { el, body, meta };
}

function replaceMessage(el, message) {
  const fresh = renderMessage(message);
  el.replaceWith(fresh);
  return fresh;
}

async function submit(text) {
  const content = text.trim();
  if (!content || controller || queued) return;
  // A message typed before the history arrived goes after it, not under a log about to be redrawn.
  queued = true;
  try {
    await historyLoaded;
  } finally {
    queued = false;
  }
  if (controller) return;
  announce(errorBox, "");
  clearTimeout(pollTimer);
  const empty = log.querySelector(".chat__empty");
  if (empty) empty.remove();

  const optimistic = { id: null, role: "user", content, created_at: new Date().toISOString(), status: "pending" };
  let userEl = renderMessage({ ...optimistic, status: "sending" });
  const bubble = streamingBubble();
  log.append(userEl, bubble.el);
  scrollToEnd(true);
  input.value = "";

  controller = new AbortController();
  setStreaming(true);
  let text_ = "";
  let frame = 0;
  let finished = false;
  let restartNote = null;
  const paint = () => {
    frame = 0;
    bubble.body.replaceChildren(renderMarkdown(text_));
    scrollToEnd();
  };

  try {
    const response = await requestStream("/api/chat/stream", {
      method: "POST",
      json: { candidate_id: candidateId, role: "user", content },
      signal: controller.signal,
    });
    for await (const { event, data } of readEvents(response, controller.signal)) {
      if (event === "start") {
        optimistic.id = data.user_message.id;
        messages.push(data.user_message);
        userEl = replaceMessage(userEl, { ...data.user_message, status: "ok" });
      } else if (event === "delta") {
        text_ += data.text;
        if (!frame) frame = requestAnimationFrame(paint);
      } else if (event === "restart") {
        // The provider failed mid-answer: what was shown is not the answer. Start over, visibly.
        text_ = "";
        if (frame) cancelAnimationFrame(frame);
        frame = 0;
        bubble.body.replaceChildren(h("span", { class: "dots", "aria-hidden": "true" }));
        if (!restartNote) {
          restartNote = h("p", { class: "msg__note" });
          bubble.el.append(restartNote);
        }
        restartNote.textContent = `${providerLabel(data.failed_provider)} прервался — ответ пишет резервный провайдер.`;
      } else if (event === "done") {
        if (frame) cancelAnimationFrame(frame);
        finished = true;
        const reply = data.assistant_message;
        messages.push(reply);
        const stored = messages.find((m) => m.id === reply.reply_to_id);
        if (stored) stored.status = "ok";
        replaceMessage(bubble.el, reply);
        scrollToEnd();
      } else if (event === "error") {
        if (frame) cancelAnimationFrame(frame);
        finished = true;
        bubble.el.remove();
        const failed = { ...optimistic, ...(messages.find((m) => m.id === data.user_message_id) || {}), status: "failed", error: data.detail };
        messages = messages.filter((m) => m.id !== failed.id).concat(failed);
        userEl = replaceMessage(userEl, failed);
        scrollToEnd();
      }
    }
    if (!finished) {
      // The connection closed without an outcome: the server still finishes and stores the answer.
      bubble.el.remove();
      announce(errorBox, "Соединение прервалось. Ответ сохранится — он появится здесь, как только будет готов.", "warning");
      await loadHistory({ fromStream: true });
    }
  } catch (error) {
    if (frame) cancelAnimationFrame(frame);
    bubble.el.remove();
    if (error.name === "AbortError") {
      announce(errorBox, "Остановлено. Ответ всё равно будет сохранён в истории — он появится здесь.", "info");
      await loadHistory({ fromStream: true }).catch(() => {});
    } else if (error instanceof ApiError && optimistic.id === null && error.status !== 0) {
      // Rejected before it was stored (too long, empty, unknown candidate): give the text back to edit.
      userEl.remove();
      input.value = content;
      announce(errorBox, error.message, "error");
    } else {
      announce(errorBox, error.message, "error");
      await loadHistory({ fromStream: true }).catch(() => {});
    }
  } finally {
    controller = null;
    setStreaming(false);
    schedulePendingPoll();
    if (!messages.length && !log.querySelector(".msg")) renderAll();
  }
}

async function regenerate(messageId, button) {
  button.disabled = true;
  button.textContent = "Повторяем…";
  const el = button.closest(".msg");
  const bubble = streamingBubble();
  el.after(bubble.el);
  scrollToEnd();
  try {
    const result = await requestFull(`/api/chat/${candidateId}/messages/${messageId}/regenerate`, { method: "POST" });
    if (!result.ok) {
      bubble.el.remove();
      const message = messages.find((m) => m.id === messageId);
      const updated = { ...message, status: "failed", error: result.message };
      messages = messages.map((m) => (m.id === messageId ? updated : m));
      replaceMessage(el, updated).querySelector("button")?.focus();
      return;
    }
    await loadHistory({ keepScroll: true });
    input.focus();
  } catch (error) {
    bubble.el.remove();
    button.disabled = false;
    button.textContent = "Повторить";
    announce(errorBox, error.message, "error");
  }
}

// --- wiring ----------------------------------------------------------------------------------------

export async function initChat({ candidateId: id, ai }) {
  candidateId = id;
  log = $("#chat-log");
  input = $("#chat-input");
  sendButton = $("#chat-send");
  stopButton = $("#chat-stop");
  errorBox = $("#chat-error");

  $("#chat-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submit(input.value);
  });
  input.addEventListener("keydown", (event) => {
    // Enter sends; Shift+Enter is a new line; never send in the middle of an IME composition.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.ctrlKey && !event.altKey) {
      event.preventDefault();
      submit(input.value);
    }
  });
  stopButton.addEventListener("click", () => {
    if (controller) controller.abort();
    input.focus();
  });

  log.append(h("p", { class: "muted chat__loading" }, "Загружаем историю…"));
  historyLoaded = loadHistory().catch((error) => {
    clear(log);
    announce(errorBox, `Не удалось загрузить историю: ${error.message}`, "error");
  });
  await historyLoaded;

  if (ai) {
    const status = await ai;
    const chain = (status.providers || []).map((p) => providerLabel(p.name));
    $("#chat-provider").textContent = chain.length ? chain.join(" → ") : "";
    if (!status.configured) {
      announce($("#chat-notice"), "ИИ не настроен: сообщения сохранятся, но ответа не будет, пока администратор не укажет GIGACHAT_API_KEY или OPENROUTER_API_KEY.", "warning");
    }
  }
}
