// The usual Node answer to "Log in with Clever", written as its libraries' READMEs suggest:
// express + express-session with connect-redis, and passport-oauth2 for the code flow.
// A benchmark peer only: plain HTTP on loopback, settings from the environment.
"use strict";

const express = require("express");
const session = require("express-session");
const { RedisStore } = require("connect-redis");
const { createClient } = require("redis");
const passport = require("passport");
const OAuth2Strategy = require("passport-oauth2");

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};
const port = Number(env("PORT"));
const clever = env("CLEVER_URL");
const clientId = env("CLIENT_ID");
const clientSecret = env("CLIENT_SECRET");
const basic = "Basic " + Buffer.from(`${clientId}:${clientSecret}`).toString("base64");

async function getJSON(path, token) {
  const response = await fetch(clever + path, { headers: { Authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

// The district-app token, fetched once at start (Sections and Resources need it).
async function districtToken() {
  const response = await fetch(`${clever}/oauth/tokens?owner_type=district`, {
    headers: { Authorization: basic },
  });
  const body = await response.json();
  return body.data[0].access_token;
}

async function main() {
  const redis = createClient({ url: env("REDIS_URL") });
  await redis.connect();
  const district = await districtToken();

  passport.use(
    "clever",
    new OAuth2Strategy(
      {
        authorizationURL: `${clever}/oauth/authorize`,
        tokenURL: `${clever}/oauth/tokens`,
        clientID: clientId,
        clientSecret: clientSecret,
        callbackURL: env("CALLBACK_URL"),
        state: true,
        customHeaders: { Authorization: basic }, // Clever wants HTTP Basic client auth
      },
      async (accessToken, refreshToken, params, profile, done) => {
        try {
          const me = await getJSON("/v3.0/me", accessToken);
          const id = me.data.id;
          const user = await getJSON(`/v3.1/users/${id}`, accessToken);
          const sections = await getJSON(`/v3.1/users/${id}/sections?limit=10000`, district);
          const resources = await getJSON(`/v3.1/users/${id}/resources?limit=10000`, district);
          done(null, {
            id,
            district: user.data.district,
            name: user.data.name,
            roles: Object.keys(user.data.roles || {}),
            sections: sections.data.map((s) => s.data),
            resources: resources.data.map((r) => r.data),
          });
        } catch (error) {
          done(error);
        }
      },
    ),
  );
  passport.serializeUser((user, done) => done(null, user));
  passport.deserializeUser((user, done) => done(null, user));

  const app = express();
  app.disable("x-powered-by");
  app.use(
    session({
      store: new RedisStore({ client: redis, prefix: "sess:" }),
      secret: env("SESSION_SECRET"),
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: "lax", maxAge: 30 * 60 * 1000 },
    }),
  );
  app.use(passport.session());

  app.get("/login", passport.authenticate("clever"));
  app.get("/callback", passport.authenticate("clever", { failureRedirect: "/failed" }), (req, res) =>
    res.redirect("/"),
  );
  app.get("/verify", (req, res) => {
    const user = req.user;
    if (!user) return res.sendStatus(401);
    res.set({
      "X-Clever-User-Id": user.id,
      "X-Clever-District-Id": user.district,
      "X-Clever-Roles": user.roles.join(","),
    });
    res.sendStatus(200);
  });
  app.get("/hello", (req, res) => res.json({ hello: "world" }));

  app.listen(port, "127.0.0.1", () => console.log(`express peer on 127.0.0.1:${port}`));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
