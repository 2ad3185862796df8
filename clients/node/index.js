// Who is calling? Express middleware for a partner's service behind clever-login
// (docs/integrate.md; clients/node/README.md). Node 18+ (global fetch); no other dependency, and
// Express (4 or 5) only as the app it is mounted in.
//
// introspection(): asks clever-login's POST /auth/introspect (HTTP Basic with a name and secret
//   from the backend's SERVICE_CLIENTS) about the ticket the request carries, remembering each
//   answer for a few seconds, keyed by a hash of the ticket.
// gatewayHeaders(): behind a gateway that already asked /auth/verify (docs/gateways.md), reads
//   the X-Clever-* headers it set. Only there: anywhere else a client can send them itself.
//
// Either sets req.cleverUser = { userId, districtId, roles, primaryRole, authorizedBy, principal }
// (districtId null and authorizedBy "teacher" for a Clever Library login) and calls next(), or
// answers 401 no_session (no live session) or 503 login_unavailable (clever-login could not be
// asked: nobody is let in unchecked). These are the service's own answers, not
// clever-login's error codes.
"use strict";

const crypto = require("node:crypto");

// Short: a session ended at clever-login is still believed here for at most this long.
const DEFAULT_CACHE_SECONDS = 10;
const DEFAULT_CACHE_ENTRIES = 10000;
const SESSION_COOKIE = /(?:^|;\s*)(?:__Host-)?clever_session[A-Za-z0-9_]*=([^;]+)/;

function sessionTicket(req) {
  const [scheme, credentials] = (req.get("authorization") || "").split(" ", 2);
  if (scheme && scheme.toLowerCase() === "bearer" && credentials) return credentials.trim();
  // Present only when this service is served on the login backend's own host.
  const cookie = SESSION_COOKIE.exec(req.get("cookie") || "");
  return cookie ? cookie[1] : null;
}

function noSession(res) {
  res.status(401).json({ error: "no_session", message: "Log in first." });
}

function unavailable(res) {
  res
    .status(503)
    .set("Retry-After", "5")
    .json({ error: "login_unavailable", message: "Cannot check who you are right now; try again soon." });
}

function introspection({
  backendUrl,
  clientName,
  clientSecret,
  cacheSeconds = DEFAULT_CACHE_SECONDS,
  cacheEntries = DEFAULT_CACHE_ENTRIES,
  timeoutMs = 3000,
  now = () => Date.now(),
}) {
  const url = backendUrl.replace(/\/+$/, "") + "/auth/introspect";
  const authorization = "Basic " + Buffer.from(`${clientName}:${clientSecret}`).toString("base64");
  const cache = new Map(); // insertion order: the oldest entry is dropped first
  const stats = { backendCalls: 0 };

  async function ask(ticket) {
    stats.backendCalls += 1;
    let answer;
    try {
      answer = await fetch(url, {
        method: "POST",
        headers: { authorization, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: ticket }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch {
      return { unavailable: true };
    }
    // 401/403 is our own service credential refused: a configuration error, not the caller's.
    if (answer.status !== 200) return { unavailable: true };
    const body = await answer.json();
    if (!body.active) return { user: null, lifetimeMs: cacheSeconds * 1000 };
    return {
      user: {
        userId: body.sub,
        districtId: body.district || null,
        roles: body.roles,
        primaryRole: body.primary_role || null,
        authorizedBy: body.authorized_by || "district",
        principal: body.principal || {},
      },
      lifetimeMs: Math.max(0, body.exp * 1000 - Date.now()),
    };
  }

  async function middleware(req, res, next) {
    const ticket = sessionTicket(req);
    if (!ticket) return noSession(res);
    const key = crypto.createHash("sha256").update(ticket).digest("hex");
    let entry = cache.get(key);
    if (!entry || entry.until <= now()) {
      const found = await ask(ticket);
      if (found.unavailable) return unavailable(res);
      entry = { until: now() + Math.min(cacheSeconds * 1000, found.lifetimeMs), user: found.user };
      cache.delete(key);
      cache.set(key, entry);
      while (cache.size > cacheEntries) cache.delete(cache.keys().next().value);
    }
    if (!entry.user) return noSession(res);
    req.cleverUser = entry.user;
    return next();
  }
  middleware.stats = stats;
  return middleware;
}

function gatewayHeaders() {
  return function middleware(req, res, next) {
    const userId = req.get("x-clever-user-id");
    if (!userId) return noSession(res);
    req.cleverUser = {
      userId,
      districtId: req.get("x-clever-district-id") || null,
      roles: (req.get("x-clever-roles") || "").split(",").filter(Boolean),
      primaryRole: req.get("x-clever-primary-role") || null,
      authorizedBy: req.get("x-clever-authorized-by") || "district",
      principal: {},
    };
    return next();
  };
}

module.exports = { introspection, gatewayHeaders, sessionTicket };
