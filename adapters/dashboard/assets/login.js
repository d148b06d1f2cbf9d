// Sign-in page: fetches a sign-in CSRF token (double submit: the same
// value is in an HttpOnly cookie), then posts the credentials as JSON.
"use strict";
(function () {
  let strings = {}, csrf = "";
  const lang = () => localStorage.getItem("truc.lang") || "vi";
  const t = (k, ...a) => (strings[k] || k).replace(/\{(\d)\}/g, (_, i) => a[+i]);

  async function loadStrings() {
    const r = await fetch("/dashboard/assets/i18n/" + lang() + ".json");
    strings = await r.json();
    document.documentElement.lang = lang();
    document.querySelectorAll("[data-i18n]").forEach(el => { el.textContent = t(el.dataset.i18n); });
    document.title = t("login_title");
  }

  async function loadToken() {
    const r = await fetch("/dashboard/api/login", { credentials: "same-origin" });
    csrf = (await r.json()).csrf_token;
  }

  async function submit(ev) {
    ev.preventDefault();
    const err = document.getElementById("error");
    err.textContent = "";
    const body = JSON.stringify({ name: document.getElementById("name").value, password: document.getElementById("password").value });
    const r = await fetch("/dashboard/api/login", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body,
    });
    if (r.ok) { location.replace("/dashboard/"); return; }
    if (r.status === 429) err.textContent = t("login_throttled", r.headers.get("Retry-After") || "?");
    else if (r.status === 403) { err.textContent = t("login_expired"); await loadToken(); }
    else err.textContent = t("login_failed");
  }

  document.getElementById("login").addEventListener("submit", submit);
  document.getElementById("lang").addEventListener("click", async () => {
    localStorage.setItem("truc.lang", lang() === "vi" ? "en" : "vi");
    await loadStrings();
  });
  loadStrings();
  loadToken();
})();
