// The one way the pages talk to the backend: same-origin cookie session, CSRF header on writes,
// Russian error messages, and a trip to the login page when the session has ended.

const CSRF_COOKIE = "nexus_csrf";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

export function readCookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

export function goToLogin() {
  const next = location.pathname + location.search;
  location.assign(`/login?next=${encodeURIComponent(next)}`);
}

const FIELD_NAMES = {
  full_name: "ФИО",
  email: "Email",
  phone: "Телефон",
  position: "Должность",
  city: "Город",
  source: "Источник",
  skills: "Навыки",
  notes: "Заметки",
  resume_text: "Текст резюме",
  reason: "Причина",
  content: "Сообщение",
  file: "Файл",
  title: "Название",
  password: "Пароль",
  display_name: "Имя",
  text_version: "Версия текста",
  channel: "Канал",
  given_at: "Дата",
  description: "Описание",
  requirements: "Требования",
};

// FastAPI answers either {"detail": "text"} or {"detail": [{loc, msg}, …]} for validation errors.
export function describeError(body, status) {
  const detail = body && body.detail;
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail
      .map((item) => {
        const field = Array.isArray(item.loc) ? item.loc[item.loc.length - 1] : "";
        const label = FIELD_NAMES[field];
        return label ? `${label}: ${item.msg}` : String(item.msg || "");
      })
      .join("; ");
  }
  if (status === 0) return "Нет связи с сервером. Проверьте подключение и попробуйте ещё раз.";
  if (status >= 500) return "Сервер временно не отвечает. Попробуйте ещё раз через минуту.";
  if (status === 404) return "Не найдено.";
  if (status === 403) return "Недостаточно прав.";
  return `Ошибка ${status}`;
}

async function send(path, { method = "GET", json, form, signal } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form; // FormData or URLSearchParams: the browser sets the content type
  }
  if (!SAFE_METHODS.has(method)) {
    const csrf = readCookie(CSRF_COOKIE);
    if (csrf) headers["X-CSRF-Token"] = csrf;
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, signal, credentials: "same-origin" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, describeError(null, 0), null);
  }
  if (response.status === 401 && !path.startsWith("/api/auth/login")) {
    goToLogin();
    throw new ApiError(401, "Сессия истекла. Войдите снова.", null);
  }
  return response;
}

async function readBody(response) {
  const text = response.status === 204 ? "" : await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 300) };
  }
}

/** The parsed JSON body (null for 204); any other status than 2xx throws an ApiError with a Russian message. */
export async function request(path, options = {}) {
  const response = await send(path, options);
  const data = await readBody(response);
  if (!response.ok) throw new ApiError(response.status, describeError(data, response.status), data);
  return data;
}

/** For answers whose error bodies matter (a 409 duplicate, a 503 with the kept message): never throws on status. */
export async function requestFull(path, options = {}) {
  const response = await send(path, options);
  const data = await readBody(response);
  return { status: response.status, ok: response.ok, data, message: response.ok ? "" : describeError(data, response.status) };
}

/** The Response itself, for streams; non-2xx throws like `request`. */
export async function requestStream(path, options = {}) {
  const response = await send(path, options);
  if (!response.ok) {
    const data = await readBody(response);
    throw new ApiError(response.status, describeError(data, response.status), data);
  }
  return response;
}

/** A file download (report, data export): {blob, filename}; non-2xx throws like `request`. */
export async function requestBlob(path, fallbackName, options = {}) {
  const response = await send(path, { ...options, method: "GET" });
  if (!response.ok) {
    const data = await readBody(response);
    throw new ApiError(response.status, describeError(data, response.status), data);
  }
  const disposition = response.headers.get("content-disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  return { blob: await response.blob(), filename: match ? match[1] : fallbackName };
}

/** Hand a blob to the browser as a download with its name. */
export function saveBlob({ blob, filename }) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export const api = {
  get: (path, options) => request(path, { ...options, method: "GET" }),
  post: (path, json, options) => request(path, { ...options, method: "POST", json }),
  patch: (path, json, options) => request(path, { ...options, method: "PATCH", json }),
  delete: (path, options) => request(path, { ...options, method: "DELETE" }),
  upload: (path, form, options) => request(path, { ...options, method: "POST", form }),
};
