// A partner's frontend on its own origin, calling clever-login's JSON API (docs/integrate.md).
// Plain JS, no build. The backend's address: `?backend=` on this page's URL (for the tests and a
// first try), else the local dev stack's.
"use strict";

const BACKEND = new URLSearchParams(location.search).get("backend") || "http://127.0.0.1:8000";
// Any value: the backend refuses a POST that carries its cookie without this header (CSRF).
const CSRF = { "X-Requested-With": "fetch" };

const byId = (id) => document.getElementById(id);

function api(path, options = {}) {
  // credentials: "include", or the browser sends no session cookie to another origin.
  return fetch(BACKEND + path, { credentials: "include", ...options });
}

function showLoggedOut(message) {
  byId("status").textContent = message;
  const login = byId("login");
  // A plain link, not fetch: the login is a navigation to Clever and back to this very page.
  login.href = `${BACKEND}/auth/login?return_to=${encodeURIComponent(location.href)}`;
  login.hidden = false;
  byId("logout").hidden = true;
  byId("roles").hidden = true;
}

function showLoggedIn(principal) {
  const name = principal.user.name || {};
  const full = [name.first, name.middle, name.last].filter(Boolean).join(" ") || principal.user.id;
  byId("status").textContent = `Signed in as ${full}.`;
  byId("roles").textContent = `Roles: ${principal.user.roles.join(", ")}`;
  byId("roles").hidden = false;
  byId("login").hidden = true;
  byId("logout").hidden = false;
}

async function load() {
  let answer;
  try {
    answer = await api("/auth/session");
  } catch {
    return showLoggedOut("The login service cannot be reached; try again soon.");
  }
  if (answer.status === 401) return showLoggedOut("Not signed in.");
  if (!answer.ok) return showLoggedOut("Cannot check who you are right now; try again soon.");
  return showLoggedIn(await answer.json());
}

byId("logout").addEventListener("click", async () => {
  const answer = await api("/auth/logout", { method: "POST", headers: CSRF });
  if (answer.status === 204) showLoggedOut("Not signed in.");
  else byId("status").textContent = "Logging out did not work; try again.";
});

load();
