// Run by tests/examples/test_node_api.py, which starts a real clever-login backend and the Clever
// sandbox, logs a teacher and a student in, and passes their session tickets in the environment.
"use strict";

const assert = require("node:assert/strict");
const { test } = require("node:test");
const { createApp } = require("../app");
const { introspection, gatewayHeaders } = require("clever-login-express");

const env = process.env;
const backendUrl = env.CLEVER_LOGIN_URL;
const service = { clientName: env.CLEVER_LOGIN_CLIENT, clientSecret: env.CLEVER_LOGIN_SECRET };

async function serving(app, run) {
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  try {
    return await run(`http://127.0.0.1:${server.address().port}`);
  } finally {
    server.close();
  }
}

const bearer = (ticket) => ({ authorization: `Bearer ${ticket}` });

test("introspection finds the user, and a second request is answered from the cache", async () => {
  let clock = 1000;
  const who = introspection({ backendUrl, ...service, cacheSeconds: 10, now: () => clock });
  await serving(createApp(who), async (api) => {
    const me = await fetch(`${api}/api/me`, { headers: bearer(env.TEACHER_TICKET) });
    assert.equal(me.status, 200);
    const body = await me.json();
    assert.equal(body.user_id, env.TEACHER_ID);
    assert.ok(body.roles.includes("teacher"));
    const gradebook = await fetch(`${api}/api/gradebook`, { headers: bearer(env.TEACHER_TICKET) });
    assert.equal(gradebook.status, 200);
    assert.equal(who.stats.backendCalls, 1);

    const logout = await fetch(`${backendUrl}/auth/logout`, {
      method: "POST",
      headers: { ...bearer(env.TEACHER_TICKET), "x-requested-with": "test" },
    });
    assert.equal(logout.status, 204);
    clock += 11_000; // past the cache's lifetime: clever-login is asked again, and says no
    const gone = await fetch(`${api}/api/me`, { headers: bearer(env.TEACHER_TICKET) });
    assert.equal(gone.status, 401);
    assert.equal((await gone.json()).error, "no_session");
    assert.equal(who.stats.backendCalls, 2);
  });
});

test("the session cookie is used when the API shares the login host", async () => {
  const who = introspection({ backendUrl, ...service });
  await serving(createApp(who), async (api) => {
    const headers = { cookie: `clever_session=${env.STUDENT_TICKET}` };
    const me = await fetch(`${api}/api/me`, { headers });
    assert.equal((await me.json()).user_id, env.STUDENT_ID);
    assert.equal((await fetch(`${api}/api/gradebook`, { headers })).status, 403);
  });
});

test("no ticket is 401 without asking the backend", async () => {
  const who = introspection({ backendUrl, ...service });
  await serving(createApp(who), async (api) => {
    const answer = await fetch(`${api}/api/me`);
    assert.equal(answer.status, 401);
    assert.equal(who.stats.backendCalls, 0);
  });
});

test("a backend that is down is 503, not a crash", async () => {
  const who = introspection({ backendUrl: env.DOWN_URL, ...service });
  await serving(createApp(who), async (api) => {
    const answer = await fetch(`${api}/api/me`, { headers: bearer("some-ticket") });
    assert.equal(answer.status, 503);
    assert.equal(answer.headers.get("retry-after"), "5");
    assert.equal((await answer.json()).error, "login_unavailable");
  });
});

test("a refused service credential is 503, not the caller's 401", async () => {
  const who = introspection({ backendUrl, clientName: service.clientName, clientSecret: "wrong-secret-0123456789abcdef" });
  await serving(createApp(who), async (api) => {
    const answer = await fetch(`${api}/api/me`, { headers: bearer(env.STUDENT_TICKET) });
    assert.equal(answer.status, 503);
  });
});

test("behind the gateway the API reads the headers /auth/verify answered", async () => {
  const verify = await fetch(`${backendUrl}/auth/verify`, { headers: bearer(env.STUDENT_TICKET) });
  assert.equal(verify.status, 200);
  const forwarded = {};
  for (const [name, value] of verify.headers) if (name.startsWith("x-clever-")) forwarded[name] = value;
  await serving(createApp(gatewayHeaders()), async (api) => {
    const me = await fetch(`${api}/api/me`, { headers: forwarded });
    assert.equal((await me.json()).user_id, env.STUDENT_ID);
    assert.equal((await fetch(`${api}/api/me`)).status, 401);
  });
});
