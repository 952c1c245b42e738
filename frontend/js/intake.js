// Bulk resume intake on the list page: drop files (or a zip), watch the progress bar and the ETA, review each draft,
// correct it and save it as a candidate (or merge it into the existing one with the same contacts).

import { ApiError, api, requestFull } from "./api.js";
import { $, announce, clear, h, setBusy, show } from "./dom.js";
import { plural, splitSkills } from "./format.js";

const POLL_MS = 1000;
const BATCH_KEY = "nexus:intake-batch";
const STATE_LABELS = {
  queued: "в очереди",
  parsing: "разбирается",
  ready: "черновик готов",
  saved: "сохранён",
  failed: "ошибка",
};
const FIELDS = ["full_name", "position", "city", "email", "phone", "skills", "notes", "resume_text"];

let pollTimer = null;
let currentJob = null;
let onSaved = () => {};

function formatEta(seconds) {
  if (seconds === null || seconds === undefined) return "оцениваем время…";
  if (seconds < 1) return "почти готово";
  if (seconds < 90) return `осталось ~${Math.ceil(seconds)} с`;
  return `осталось ~${Math.ceil(seconds / 60)} мин`;
}

function renderBatch(batch) {
  show($("#intake-progress"));
  const bar = $("#intake-bar");
  bar.max = Math.max(1, batch.total);
  bar.value = batch.done;
  const failed = batch.counts.failed;
  const parts = [`Обработано ${batch.done} из ${batch.total} ${plural(batch.total, ["файла", "файлов", "файлов"])}`];
  if (batch.done < batch.total) parts.push(formatEta(batch.eta_seconds));
  if (failed) parts.push(`с ошибкой: ${failed}`);
  $("#intake-status").textContent = parts.join(" · ");
  const list = clear($("#intake-jobs"));
  for (const job of batch.jobs) {
    const item = h(
      "li",
      { class: `intake__job intake__job--${job.state}`, "data-job": String(job.id) },
      h("span", { class: "intake__name" }, job.filename),
      h("span", { class: `badge intake__state` }, STATE_LABELS[job.state] || job.state),
    );
    if (job.error) item.append(h("span", { class: "intake__error" }, job.error));
    if (job.state === "ready") {
      const button = h("button", { class: "btn btn--small btn--primary", type: "button" }, "Проверить");
      button.addEventListener("click", () => openReview(job.id));
      item.append(button);
    } else if (job.state === "saved" && job.candidate_id) {
      item.append(h("a", { href: `/candidate-view.html?id=${job.candidate_id}` }, "Открыть карточку"));
    }
    list.append(item);
  }
}

async function poll(batchId) {
  clearTimeout(pollTimer);
  try {
    const batch = await api.get(`/api/intake/batches/${batchId}`);
    renderBatch(batch);
    if (batch.done < batch.total) pollTimer = setTimeout(() => poll(batchId), POLL_MS);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      sessionStorage.removeItem(BATCH_KEY);
      return;
    }
    announce($("#intake-error"), error.message, "error");
    pollTimer = setTimeout(() => poll(batchId), POLL_MS * 5);
  }
}

async function upload(files) {
  if (!files.length) return;
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  announce($("#intake-error"), "");
  const label = $("#intake-files-label");
  label.setAttribute("aria-busy", "true");
  try {
    const batch = await api.upload("/api/intake/batches", form);
    sessionStorage.setItem(BATCH_KEY, String(batch.id));
    renderBatch(batch);
    poll(batch.id);
  } catch (error) {
    announce($("#intake-error"), error.message, "error");
  } finally {
    label.removeAttribute("aria-busy");
    $("#intake-files").value = "";
  }
}

function fill(card) {
  for (const name of FIELDS) {
    const value = card[name];
    $(`#r-${name}`).value = Array.isArray(value) ? value.join(", ") : value ?? "";
  }
}

function card() {
  const out = {};
  for (const name of FIELDS) {
    const value = $(`#r-${name}`).value.trim();
    out[name] = name === "skills" ? splitSkills(value) : value || null;
  }
  out.source = currentJob.proposed?.source ?? null;
  return out;
}

function renderDuplicates(job) {
  const box = clear($("#review-duplicates"));
  show(box, job.duplicates.length > 0);
  if (!job.duplicates.length) return;
  box.append(h("p", {}, "Такой кандидат, похоже, уже есть (совпадают контакты). Обновите его карточку вместо новой:"));
  for (const dup of job.duplicates) {
    const how = dup.matched.map((m) => (m === "email" ? "email" : "телефон")).join(" и ");
    const button = h("button", { class: "btn btn--small", type: "button" }, `Объединить с «${dup.full_name}» (${how})`);
    button.addEventListener("click", () => save(dup.id));
    box.append(h("p", {}, button));
  }
}

async function openReview(jobId) {
  try {
    currentJob = await api.get(`/api/intake/jobs/${jobId}`);
  } catch (error) {
    announce($("#intake-error"), error.message, "error");
    return;
  }
  fill(currentJob.proposed || {});
  announce($("#review-note"), currentJob.note || "", "info");
  announce($("#review-error"), "");
  renderDuplicates(currentJob);
  $("#review-dialog").showModal();
  $("#r-full_name").focus();
}

async function save(mergeInto = null) {
  const button = $("#review-save");
  setBusy(button, true, "Сохраняем…");
  const body = { candidate: card(), merge_into: mergeInto };
  const result = await requestFull(`/api/intake/jobs/${currentJob.id}/save`, { method: "POST", json: body });
  setBusy(button, false);
  if (!result.ok) {
    announce($("#review-error"), result.message, "error");
    return;
  }
  $("#review-dialog").close();
  onSaved(result.data);
  const batchId = sessionStorage.getItem(BATCH_KEY);
  if (batchId) poll(batchId);
}

async function discard() {
  try {
    await api.delete(`/api/intake/jobs/${currentJob.id}`);
  } catch (error) {
    announce($("#review-error"), error.message, "error");
    return;
  }
  $("#review-dialog").close();
  const batchId = sessionStorage.getItem(BATCH_KEY);
  if (batchId) poll(batchId);
}

export function initIntake(options = {}) {
  onSaved = options.onSaved || onSaved;
  const section = $("#intake");
  const toggle = $("#intake-open");
  toggle.addEventListener("click", () => {
    show(section, section.hidden);
    toggle.setAttribute("aria-expanded", String(!section.hidden));
  });
  toggle.disabled = false; // disabled in the HTML until it works
  const input = $("#intake-files");
  input.addEventListener("change", () => upload([...input.files]));
  const zone = $("#intake-dropzone");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("is-over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("is-over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("is-over");
    upload([...event.dataTransfer.files]);
  });
  $("#review-form").addEventListener("submit", (event) => {
    event.preventDefault();
    save();
  });
  $("#review-close").addEventListener("click", () => $("#review-dialog").close());
  $("#review-discard").addEventListener("click", discard);
  const batchId = sessionStorage.getItem(BATCH_KEY);
  if (batchId) {
    show(section);
    toggle.setAttribute("aria-expanded", "true");
    poll(batchId);
  }
}
