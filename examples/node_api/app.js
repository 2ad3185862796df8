// A partner's own Express API, learning who calls it from clever-login (docs/integrate.md).
//
//   CLEVER_LOGIN_URL=http://127.0.0.1:8000 CLEVER_LOGIN_CLIENT=reports CLEVER_LOGIN_SECRET=... \
//     PORT=8200 node app.js
//
// or, behind a gateway that checks /auth/verify, CLEVER_LOGIN_TRUST_GATEWAY=true instead.
"use strict";

const express = require("express");
const { introspection, gatewayHeaders } = require("clever-login-express");

function createApp(who) {
  const app = express();
  app.disable("x-powered-by");
  app.use("/api", who);
  app.get("/api/me", (req, res) => {
    const { userId, districtId, roles } = req.cleverUser;
    res.json({ user_id: userId, district_id: districtId, roles });
  });
  app.get("/api/gradebook", (req, res) => {
    if (!req.cleverUser.roles.includes("teacher")) {
      return res.status(403).json({ error: "forbidden", message: "For teachers." });
    }
    return res.json({ gradebook: "open" });
  });
  return app;
}

function fromEnvironment(env = process.env) {
  if ((env.CLEVER_LOGIN_TRUST_GATEWAY || "").toLowerCase() === "true") return createApp(gatewayHeaders());
  return createApp(
    introspection({
      backendUrl: env.CLEVER_LOGIN_URL,
      clientName: env.CLEVER_LOGIN_CLIENT,
      clientSecret: env.CLEVER_LOGIN_SECRET,
    }),
  );
}

if (require.main === module) {
  const port = Number(process.env.PORT || 8200);
  fromEnvironment().listen(port, "127.0.0.1", () => console.log(`example API on http://127.0.0.1:${port}`));
}

module.exports = { createApp, fromEnvironment };
