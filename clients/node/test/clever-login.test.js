// Run by tests/clients/test_node_client.py, which starts a real clever-login backend and the Clever
// sandbox, logs a teacher and a student in, and passes their session tickets in the environment.
// What examples/node_api/test/ does not show: the whole user, the cache's bounds, the ticket's
// sources, the gateway's headers as they come.
"use strict";

const assert = require("node:assert/strict");
const { test } = require("node:test");
const express = require("express");
const { introspection, gatewayHeaders, sessionTicket } = require("..");

const env = process.env;
const backendUrl = env.CLEVER_LOGIN_URL;
const service = { clientName: env.CLEVER_LOGIN_CLIENT, clientSecret: env.CLEVER_LOGIN_SECRET };

// An app that answers what the middleware found, and the ticket it read.
function echo(who) {
  const app = express();
  app.use(who);
  app.get("/", (req, res) => res.json({ user: req.cleverUser, ticket: sessionTicket(req) }));
  return app;
}

async function serving(app, run) {
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  try {
    return await run(`http://127.0.0.1:${server.address().port}/`);
  } finally {
    server.close();
  }
}

const bearer = (ticket) => ({ authorization: `Bearer ${ticket}` });

test("introspection gives the whole user, whatever the backend URL's trailing slash", async () => {
  const who = introspection({ backendUrl: `${backendUrl}/`, ...service });
  await serving(echo(who), async (api) => {
    const { user } = await (await fetch(api, { headers: bearer(env.TEACHER_TICKET) })).json();
    const session = await (await fetch(`${backendUrl}/auth/session`, { headers: bearer(env.TEACHER_TICKET) })).json();
    assert.equal(user.userId, env.TEACHER_ID);
    assert.equal(user.districtId, session.user.district);
    assert.equal(user.authorizedBy, "district");
    assert.deepEqual(user.roles, session.user.roles);
    assert.equal(user.primaryRole, "teacher");
    assert.equal(user.principal.user.id, env.TEACHER_ID);
    assert.ok(user.principal.session);
  });
});

test("an ended session is remembered as briefly as a live one", async () => {
  const who = introspection({ backendUrl, ...service });
  await serving(echo(who), async (api) => {
    for (let i = 0; i < 2; i += 1) {
      const answer = await fetch(api, { headers: bearer("no-such-ticket") });
      assert.equal(answer.status, 401);
      assert.deepEqual(await answer.json(), { error: "no_session", message: "Log in first." });
    }
    assert.equal(who.stats.backendCalls, 1);
  });
});

test("the cache keeps at most cacheEntries answers", async () => {
  const who = introspection({ backendUrl, ...service, cacheEntries: 1 });
  await serving(echo(who), async (api) => {
    const tickets = [env.TEACHER_TICKET, env.STUDENT_TICKET, env.TEACHER_TICKET, env.TEACHER_TICKET];
    const found = [];
    for (const ticket of tickets) found.push((await (await fetch(api, { headers: bearer(ticket) })).json()).user.userId);
    assert.deepEqual(found, [env.TEACHER_ID, env.STUDENT_ID, env.TEACHER_ID, env.TEACHER_ID]);
    assert.equal(who.stats.backendCalls, 3); // the student pushed the teacher out; the last was cached
  });
});

test("a backend answering an error is 503", async () => {
  const who = introspection({ backendUrl: `${backendUrl}/no-such-prefix`, ...service });
  await serving(echo(who), async (api) => {
    const answer = await fetch(api, { headers: bearer(env.STUDENT_TICKET) });
    assert.equal(answer.status, 503);
    assert.equal((await answer.json()).error, "login_unavailable");
  });
});

test("the ticket is the bearer, else the session cookie", async () => {
  await serving(echo(gatewayHeaders()), async (api) => {
    const ticket = async (headers) =>
      (await (await fetch(api, { headers: { "x-clever-user-id": "u1", ...headers } })).json()).ticket;
    assert.equal(await ticket({ authorization: "Bearer abc", cookie: "clever_session=cookie" }), "abc");
    assert.equal(await ticket({ authorization: "bearer abc" }), "abc");
    assert.equal(await ticket({ cookie: "theme=dark; __Host-clever_session=from-cookie" }), "from-cookie");
    assert.equal(await ticket({ authorization: "Basic abc", cookie: "clever_session_2=cookie" }), "cookie");
    assert.equal(await ticket({ cookie: "other=x" }), null);
  });
});

test("the gateway's headers make a user, and none is 401", async () => {
  await serving(echo(gatewayHeaders()), async (api) => {
    const headers = { "x-clever-user-id": "u1", "x-clever-roles": "teacher,,staff", "x-clever-primary-role": "" };
    const { user } = await (await fetch(api, { headers })).json();
    assert.deepEqual(user, {
      userId: "u1",
      districtId: null,
      roles: ["teacher", "staff"],
      primaryRole: null,
      authorizedBy: "district",
      principal: {},
    });
    // A Clever Library login: the gateway sends an empty district and who authorized the app.
    const library = { "x-clever-user-id": "u2", "x-clever-district-id": "", "x-clever-authorized-by": "teacher" };
    const { user: teacher } = await (await fetch(api, { headers: library })).json();
    assert.equal(teacher.districtId, null);
    assert.equal(teacher.authorizedBy, "teacher");
    const nobody = await fetch(api, { headers: { "x-clever-roles": "teacher" } });
    assert.equal(nobody.status, 401);
  });
});
