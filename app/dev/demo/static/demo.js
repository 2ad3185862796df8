// The demo partner page. Everything from the backend is rendered with textContent, never as HTML.
"use strict";

const ROLE_LABELS = {
  district_admin: "District admin",
  staff: "Staff",
  teacher: "Teacher",
  student: "Student",
  contact: "Contact (parent or guardian)",
};

const byId = (id) => document.getElementById(id);

// Builds an element; string and number children become text nodes.
function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function text(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (Array.isArray(value)) return value.length ? value.map(text).join(", ") : "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function roleLabel(role) {
  return ROLE_LABELS[role] || role;
}

function setStatus(message, isError) {
  const status = byId("status");
  status.textContent = message;
  status.classList.toggle("error", Boolean(isError));
}

function section(title, ...content) {
  return el("section", {}, el("h2", {}, title), ...content);
}

function table(caption, headings, rows) {
  if (!rows.length) return el("p", { class: "empty" }, `No ${caption.toLowerCase()}.`);
  return el(
    "table",
    {},
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, headings.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((row) => el("tr", {}, row.map((cell) => el("td", {}, text(cell)))))),
  );
}

function fields(entries) {
  if (!entries.length) return el("p", { class: "empty" }, "Nothing.");
  return el("dl", { class: "fields" }, entries.map(([name, value]) => [el("dt", {}, name), el("dd", {}, text(value))]));
}

function fullName(name) {
  return [name?.first, name?.middle, name?.last].filter(Boolean).join(" ") || "(no name)";
}

function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return el("time", { datetime: iso }, Number.isNaN(date.getTime()) ? iso : date.toLocaleString());
}

function renderRoles(principal) {
  const user = principal.user || {};
  const details = principal.roles || {};
  const items = (user.roles || []).map((role) => {
    const primary = role === user.primary_role ? el("span", { class: "badge" }, "primary") : null;
    const info = details[role] || {};
    const extra = [];
    if (info.title) extra.push(`title: ${info.title}`);
    if (info.schools && info.schools.length) extra.push(`schools: ${info.schools.join(", ")}`);
    if (info.roles && info.roles.length) extra.push(`staff roles: ${info.roles.join(", ")}`);
    return el("li", {}, roleLabel(role), primary, extra.length ? ` (${extra.join("; ")})` : null);
  });
  return section("Roles", items.length ? el("ul", {}, items) : el("p", { class: "empty" }, "No roles."));
}

function renderLegacyIds(user) {
  const rows = Object.entries(user.legacy_ids || {}).map(([role, id]) => [roleLabel(role), id]);
  return section("Legacy ids", table("Legacy ids", ["Role", "Legacy id"], rows));
}

function renderSections(sections) {
  const rows = sections.map((s) => [s.name, s.subject, s.grade, s.period, s.role ? roleLabel(s.role) : ""]);
  return section("Sections", table("Sections", ["Name", "Subject", "Grade", "Period", "Your role"], rows));
}

function renderResources(resources) {
  const rows = resources.map((r) => [r.title, r.resource_id, (r.roles || []).map(roleLabel)]);
  return section("Resources", table("Resources", ["Title", "Resource id", "For"], rows));
}

function renderStudent(student) {
  // The v3.1 student fields, as the backend passes them through (STUDENT_FIELDS decides which).
  const entries = Object.entries(student).filter(([name]) => name !== "schools");
  return section(
    "Student record",
    fields([["schools", student.schools], ...entries]),
  );
}

function renderContact(contact) {
  const students = new Map((contact.students || []).map((s) => [s.id, s]));
  const rows = (contact.student_relationships || []).map((link) => {
    const student = students.get(link.student);
    return [student ? fullName(student.name) : link.student, student?.grade, link.relationship, link.type];
  });
  return section("Linked students", table("Linked students", ["Student", "Grade", "Relationship", "Type"], rows));
}

function renderSession(session) {
  return section(
    "Session",
    el(
      "dl",
      { class: "fields" },
      el("dt", {}, "Login method"),
      el("dd", {}, session.login_method === "clever_portal" ? "Clever Portal launch" : "Log in with Clever"),
      el("dt", {}, "Started"),
      el("dd", {}, when(session.created_at)),
      el("dt", {}, "Ends when idle at"),
      el("dd", {}, when(session.idle_expires_at)),
      el("dt", {}, "Ends at the latest"),
      el("dd", {}, when(session.expires_at)),
    ),
  );
}

function renderPrincipal(principal) {
  const user = principal.user || {};
  const roles = principal.roles || {};
  const parts = [
    section("Who", fields([["Name", fullName(user.name)], ["Email", user.email], ["Clever id", user.id], ["District", user.district]])),
    renderRoles(principal),
    renderLegacyIds(user),
    renderSections(principal.sections || []),
    renderResources(principal.resources || []),
  ];
  if (roles.student) parts.push(renderStudent(roles.student));
  if (roles.contact) parts.push(renderContact(roles.contact));
  if (principal.session) parts.push(renderSession(principal.session));
  const raw = el("pre", {}, JSON.stringify(principal, null, 2));
  parts.push(section("Everything /auth/session answered", el("details", {}, el("summary", {}, "Show the JSON"), raw)));
  byId("principal").replaceChildren(...parts);
}

function show(signedIn) {
  byId("signed-in").hidden = !signedIn;
  byId("signed-out").hidden = signedIn;
}

async function problem(response) {
  try {
    const body = await response.json();
    return body.message || body.error || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

class Demo {
  constructor(config) {
    this.backend = config.backend_url;
    this.sandbox = config.sandbox_url;
    this.clientId = config.client_id;
  }

  setUpLinks() {
    byId("backend-url").textContent = this.backend;
    const here = window.location.origin + window.location.pathname;
    byId("login-link").href = `${this.backend}/auth/login?return_to=${encodeURIComponent(here)}`;
    if (this.sandbox) {
      const query = new URLSearchParams({ client_id: this.clientId });
      byId("portal-link").href = `${this.sandbox}/oauth/instant-login?${query}`;
      byId("portal").hidden = false;
    }
    byId("logout").addEventListener("click", () => this.act("/auth/logout", "Logged out."));
    byId("refresh").addEventListener("click", () => this.act("/auth/session/refresh", "Roster refreshed."));
  }

  async call(path, method) {
    const init = { method, credentials: "include", headers: { Accept: "application/json" } };
    // Required by the backend on every state-changing call from a browser (CSRF defence).
    if (method !== "GET") init.headers["X-Requested-With"] = "fetch";
    return fetch(this.backend + path, init);
  }

  async load(focus) {
    let response;
    try {
      response = await this.call("/auth/session", "GET");
    } catch {
      setStatus(`The login backend at ${this.backend} does not answer.`, true);
      return;
    }
    if (response.status === 401) {
      show(false);
      setStatus("Not signed in.");
      if (focus) byId("signed-out-title").focus();
      return;
    }
    if (!response.ok) {
      setStatus(`Could not read the session: ${await problem(response)}`, true);
      return;
    }
    this.render(await response.json(), "Signed in.", focus);
  }

  render(principal, message, focus) {
    const user = principal.user || {};
    byId("greeting").textContent = `Hello, ${fullName(user.name)}`;
    renderPrincipal(principal);
    show(true);
    setStatus(message);
    if (focus) byId("greeting").focus();
  }

  async act(path, done) {
    const buttons = [byId("logout"), byId("refresh")];
    buttons.forEach((b) => { b.disabled = true; });
    setStatus("Working…");
    try {
      const response = await this.call(path, "POST");
      if (response.status === 401) {
        await this.load(true);
      } else if (!response.ok) {
        setStatus(`${done.replace(/\.$/, "")} failed: ${await problem(response)}`, true);
      } else if (response.status === 204) {
        await this.load(true);
        setStatus(done);
      } else {
        this.render(await response.json(), done, false);
      }
    } catch {
      setStatus(`The login backend at ${this.backend} does not answer.`, true);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }
}

async function start() {
  let config;
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    config = await response.json();
  } catch {
    setStatus("Could not load config.json from this page's server.", true);
    return;
  }
  const demo = new Demo(config);
  demo.setUpLinks();
  await demo.load(false);
}

start();
