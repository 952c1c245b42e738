import { requestFull } from "./api.js";
import { $, announce, setBusy } from "./dom.js";

// Only a path on this site: "?next=https://evil.example" or "//evil.example" must not send anyone away.
function safeNext() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

function init() {
  const form = $("#login-form");
  const error = $("#login-error");
  const submit = $("#login-submit");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const email = $("#email").value.trim();
    const password = $("#password").value;
    if (!email || !password) {
      announce(error, "Введите email и пароль.", "error");
      (email ? $("#password") : $("#email")).focus();
      return;
    }
    announce(error, "");
    setBusy(submit, true, "Входим…");
    try {
      const result = await requestFull("/api/auth/login", {
        method: "POST",
        form: new URLSearchParams({ username: email, password }),
      });
      if (result.ok) {
        location.assign(safeNext());
        return;
      }
      announce(error, result.message, "error");
      $("#password").select();
    } catch (failure) {
      announce(error, failure.message, "error");
    } finally {
      setBusy(submit, false);
    }
  });
}

init();
