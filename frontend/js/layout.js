// What every signed-in page shares: who is logged in, the logout button, and the "AI not configured" notice.

import { api, ApiError } from "./api.js";
import { announce } from "./dom.js";

export async function currentUser() {
  const user = await api.get("/api/auth/me");
  const name = document.getElementById("user-name");
  if (name) {
    name.textContent = user.display_name || user.email;
    name.title = user.email;
  }
  // What only administrators may use stays hidden for everyone else (the API refuses it anyway).
  for (const el of document.querySelectorAll("[data-admin-only]")) el.hidden = user.role !== "admin";
  return user;
}

export function wireLogout() {
  const button = document.getElementById("logout");
  if (!button) return;
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api.post("/api/auth/logout");
    } catch (error) {
      // The session may already be gone; the login page is the right place either way.
      if (!(error instanceof ApiError)) throw error;
    }
    location.assign("/login");
  });
}

/** Reads the public /ready report; returns {configured, degraded, providers} and fills #ai-notice when the AI cannot answer. */
export async function checkAi() {
  const notice = document.getElementById("ai-notice");
  let report;
  try {
    const response = await fetch("/ready", { headers: { Accept: "application/json" } });
    report = await response.json();
  } catch {
    return { configured: true, degraded: false, providers: [] };
  }
  const providers = report.providers || [];
  const configured = providers.some((p) => p.configured);
  const degraded = configured && report.status === "degraded";
  if (notice) {
    if (!configured) {
      announce(
        notice,
        "ИИ не настроен: ответы в чате и анализ резюме недоступны. Администратору нужно указать ключ " +
          "GIGACHAT_API_KEY (GigaChat) или OPENROUTER_API_KEY (OpenRouter) в файле .env и перезапустить сервер. " +
          "Сообщения при этом сохраняются.",
        "warning",
      );
    } else if (degraded) {
      announce(notice, "Провайдеры ИИ временно не отвечают после серии ошибок. Попробуйте через минуту.", "warning");
    }
  }
  return { configured, degraded, providers: providers.filter((p) => p.configured) };
}

/** Show a fatal load error in place of the page content. */
export function showFatal(error) {
  const box = document.getElementById("page-error");
  if (box) announce(box, error instanceof Error ? error.message : String(error), "error");
}

