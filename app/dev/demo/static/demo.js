// The demo partner page. Everything from the backend is rendered with textContent, never as HTML.
"use strict";

const ROLE_LABELS = {
  district_admin: "District admin",
  staff: "Staff",
  teacher: "Teacher",
  student: "Student",
  contact: "Contact (parent or guardian)",
};

// The v3.1 student fields (STUDENT_FIELDS decides which reach the session), as a person reads them.
const STUDENT_LABELS = {
  school: "School",
  schools: "Schools",
  grade: "Grade",
  graduation_year: "Graduation year",
  preferred_name: "Preferred name",
  dob: "Date of birth",
  gender: "Gender",
  race: "Race",
  hispanic_ethnicity: "Hispanic or Latino",
  ell_status: "English language learner",
  gifted_status: "Gifted",
  section_504_status: "Section 504 plan",
  frl_status: "Free or reduced-price lunch",
  iep_status: "IEP",
  disability: "Disability",
  home_language: "Home language",
  home_language_code: "Home language code",
  student_number: "Student number",
  sis_id: "SIS id",
  state_id: "State id",
  legacy_id: "Legacy id",
  credentials: "District username",
  enrollments: "Enrollments",
  location: "Home address",
  created: "Record created",
  last_modified: "Record last changed",
  ext: "Extension fields",
};
// The fields Clever fills with Y, N or "".
const YES_NO_FIELDS = new Set(["hispanic_ethnicity", "ell_status", "gifted_status", "section_504_status", "iep_status"]);
const GENDERS = { M: "Male", F: "Female", X: "Non-binary" };
// Where the page keeps, across the sandbox's log-out round trip, what to say or do next.
const NEXT_KEY = "demo-next";
// The district's Clever Portal, kept across the log-out round trip to offer the way back there.
const PORTAL_KEY = "demo-portal";
// School id to name, from the session's `district.schools` (ids shown where it names none).
let schoolNames = {};

function schoolName(id) {
  return schoolNames[id] || id;
}

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

// "graduation_year" -> "Graduation year", for fields this page has no label of its own for.
function fieldLabel(name) {
  if (STUDENT_LABELS[name]) return STUDENT_LABELS[name];
  const words = name.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function gradeLabel(grade) {
  if (grade === null || grade === undefined || grade === "") return "—";
  return /^\d+$/.test(grade) ? `Grade ${grade}` : String(grade);
}

function studentValue(name, value) {
  if (value === null || value === undefined || value === "") return "—";
  if (YES_NO_FIELDS.has(name)) return { Y: "Yes", N: "No" }[value] || value;
  switch (name) {
    case "grade":
      return gradeLabel(value);
    case "gender":
      return GENDERS[value] || value;
    case "preferred_name":
      return fullName(value);
    case "credentials":
      return value.district_username || "—";
    case "disability":
      if (value.disability_status !== "Y") return { N: "No" }[value.disability_status] || "—";
      return `Yes: ${value.disability_type || "type not given"}${value.disability_code ? ` (${value.disability_code})` : ""}`;
    case "location":
      return [value.address, value.city, [value.state, value.zip].filter(Boolean).join(" ")].filter(Boolean).join(", ") || "—";
    case "school":
      return schoolName(value);
    case "schools":
      return value.map(schoolName).join(", ") || "—";
    case "enrollments":
      return value.map((e) => `${schoolName(e.school)} (${[e.start_date, e.end_date].map((d) => (d || "").slice(0, 10)).join(" to ")})`);
    case "created":
    case "last_modified":
      return when(value);
    case "ext":
      return Object.keys(value).length ? JSON.stringify(value) : "—";
    default:
      return value;
  }
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
  // data-label: on a narrow screen each row becomes a card, its cells labelled (demo.css).
  return el(
    "table",
    { class: "cards" },
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, headings.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((row) => el("tr", {}, row.map((cell, i) => el("td", { "data-label": headings[i] }, cell instanceof Node ? cell : text(cell)))))),
  );
}

function idCode(value) {
  return el("code", { class: "id" }, text(value));
}

function fields(entries) {
  if (!entries.length) return el("p", { class: "empty" }, "Nothing.");
  return el(
    "dl",
    { class: "fields" },
    entries.map(([name, value]) => [el("dt", {}, name), el("dd", {}, value instanceof Node ? value : text(value))]),
  );
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
    if (info.schools && info.schools.length) extra.push(`schools: ${info.schools.map(schoolName).join(", ")}`);
    if (info.roles && info.roles.length) extra.push(`staff roles: ${info.roles.join(", ")}`);
    return el("li", {}, roleLabel(role), primary, extra.length ? ` (${extra.join("; ")})` : null);
  });
  return section("Roles", items.length ? el("ul", {}, items) : el("p", { class: "empty" }, "No roles."));
}

function renderLegacyIds(user) {
  const rows = Object.entries(user.legacy_ids || {}).map(([role, id]) => [roleLabel(role), idCode(id)]);
  return section("Legacy ids", table("Legacy ids", ["Role", "Legacy id"], rows));
}

function renderSections(sections) {
  const rows = sections.map((s) => [s.name, s.subject, gradeLabel(s.grade), s.period, s.role ? roleLabel(s.role) : ""]);
  return section("Sections", table("Sections", ["Name", "Subject", "Grade", "Period", "Your role"], rows));
}

function renderResources(resources) {
  const rows = resources.map((r) => [r.title, idCode(r.resource_id), (r.roles || []).map(roleLabel)]);
  return section("Resources", table("Resources", ["Title", "Resource id", "For"], rows));
}

function renderStudent(student) {
  // The v3.1 student fields, as the backend passes them through (STUDENT_FIELDS decides which),
  // the ones this page knows first, in its order.
  const known = Object.keys(STUDENT_LABELS).filter((name) => name in student);
  const others = Object.keys(student).filter((name) => !(name in STUDENT_LABELS)).sort();
  return section(
    "Student record",
    fields([...known, ...others].map((name) => [fieldLabel(name), studentValue(name, student[name])])),
  );
}

function renderContact(contact) {
  const students = new Map((contact.students || []).map((s) => [s.id, s]));
  const rows = (contact.student_relationships || []).map((link) => {
    const student = students.get(link.student);
    return [student ? fullName(student.name) : link.student, student ? gradeLabel(student.grade) : "", link.relationship, link.type];
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

// Where the roster came from: the district's copy (kept by the events worker) or Clever's Data
// API at login, how fresh it is, and what Clever could not give.
function renderRoster(roster) {
  const source = roster.source === "store" ? "The district's roster copy (no call to Clever)" : "Clever's Data API, at login";
  const entries = [["Read from", source]];
  if (roster.synced_at) entries.push(["Copy synced", when(roster.synced_at)]);
  entries.push(["Holds every change up to", when(roster.fetched_at)]);
  const missing = roster.unavailable || [];
  entries.push(["Missing", missing.length ? `${missing.join(", ")} (Clever could not give them; a refresh tries again)` : "nothing"]);
  return section("Roster", fields(entries));
}

function renderPrincipal(principal) {
  const user = principal.user || {};
  const roles = principal.roles || {};
  // `district` names the district and the session's schools (the backend's district directory);
  // absent for a Clever Library login, or when the directory could not be had: ids then.
  const district = principal.district;
  schoolNames = district?.schools || {};
  const districtField = district
    ? ["District", district.name || district.id]
    : ["District id", user.district ? idCode(user.district) : "none (Clever Library)"];
  const parts = [
    section(
      "Who",
      fields([["Name", fullName(user.name)], ["Email", user.email], ["Clever id", idCode(user.id)], districtField]),
    ),
    renderRoles(principal),
    renderLegacyIds(user),
    renderSections(principal.sections || []),
    renderResources(principal.resources || []),
  ];
  if (roles.student) parts.push(renderStudent(roles.student));
  if (roles.contact) parts.push(renderContact(roles.contact));
  if (principal.session) parts.push(renderSession(principal.session));
  if (principal.roster) parts.push(renderRoster(principal.roster));
  const raw = el("pre", {}, JSON.stringify(principal, null, 2));
  parts.push(section("Everything /auth/session answered", el("details", {}, el("summary", {}, "Show the JSON"), raw)));
  byId("principal").replaceChildren(...parts);
}

function show(signedIn) {
  byId("signed-in").hidden = !signedIn;
  byId("signed-out").hidden = signedIn;
}

// The backend's error answer as a sentence with its stable code, e.g. "... (refresh_too_soon)".
async function problem(response) {
  try {
    const body = await response.json();
    if (body.message && body.error) return `${body.message} (${body.error})`;
    return body.message || body.error || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

function takePortal() {
  const portal = sessionStorage.getItem(PORTAL_KEY);
  sessionStorage.removeItem(PORTAL_KEY);
  return portal;
}

// After a log-out: the way back to the district's Clever Portal, when the session named one.
function offerPortal(portal) {
  if (!portal || !/^https:\/\//.test(portal)) return;
  byId("back-to-portal-link").href = portal;
  byId("back-to-portal").hidden = false;
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
    byId("logout").addEventListener("click", () => this.logOut(null));
    byId("switch-user").addEventListener("click", () => this.logOut("login"));
    byId("refresh").addEventListener("click", () =>
      this.act("/auth/session/refresh", "Roster refreshed.", "The roster could not be refreshed"),
    );
  }

  // Ends the backend's session, then has the sandbox forget who signed in there (else the next
  // "Log in with Clever" would sign the same person straight back in). The sandbox sends the
  // browser back here; `next` ("login") goes on to the sandbox's picker.
  async logOut(next) {
    const ended = await this.act("/auth/logout", "Logged out.", "Logging out failed");
    if (!ended || !this.sandbox) {
      if (ended && next === "login") window.location.assign(byId("login-link").href);
      else if (ended) offerPortal(takePortal());
      return;
    }
    sessionStorage.setItem(NEXT_KEY, next || "logged-out");
    const here = window.location.origin + window.location.pathname;
    const query = new URLSearchParams({ post_logout_redirect_uri: here });
    window.location.assign(`${this.sandbox}/oauth/logout?${query}`);
  }

  // What the page was asked to do when it came back from the sandbox's log-out.
  takeNext() {
    const next = sessionStorage.getItem(NEXT_KEY);
    sessionStorage.removeItem(NEXT_KEY);
    return next;
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
    // Logging out here leaves the person signed in to Clever: after it, offer their Portal.
    if (principal.district?.portal_url) sessionStorage.setItem(PORTAL_KEY, principal.district.portal_url);
    else sessionStorage.removeItem(PORTAL_KEY);
    byId("greeting").textContent = `Hello, ${fullName(user.name)}`;
    renderPrincipal(principal);
    show(true);
    setStatus(message);
    if (focus) byId("greeting").focus();
  }

  // A POST to the backend; answers whether the session is over (a 204 or a 401).
  async act(path, done, failed) {
    const buttons = [byId("logout"), byId("switch-user"), byId("refresh")];
    buttons.forEach((b) => { b.disabled = true; });
    setStatus("Working…");
    try {
      const response = await this.call(path, "POST");
      if (response.status === 401) {
        await this.load(true);
        return true;
      }
      if (!response.ok) {
        setStatus(`${failed}: ${await problem(response)}`, true);
      } else if (response.status === 204) {
        await this.load(true);
        setStatus(done);
        return true;
      } else {
        this.render(await response.json(), done, false);
      }
    } catch {
      setStatus(`The login backend at ${this.backend} does not answer.`, true);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
    return false;
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
  const next = demo.takeNext();
  if (next === "login") {
    window.location.assign(byId("login-link").href);
    return;
  }
  const portal = takePortal();
  await demo.load(next === "logged-out");
  if (next === "logged-out") {
    setStatus("Logged out.");
    offerPortal(portal);
  }
}

start();
