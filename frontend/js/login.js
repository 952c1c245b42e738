import { requestFull } from "./api.js";
import { $, announce, setBusy } from "./dom.js";
import { safeNext } from "./next.js";

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
        location.assign(safeNext(new URLSearchParams(location.search).get("next")));
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
