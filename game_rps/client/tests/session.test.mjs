import assert from "node:assert/strict";
import { test } from "node:test";

import { playerFromFragment } from "../js/session.js";

const b64url = (obj) => Buffer.from(JSON.stringify(obj)).toString("base64url");
const token = `${b64url({ alg: "HS256" })}.${b64url({ user_id: 42, username: "zoë" })}.sig`;

test("a portal token in the fragment signs the player in", () => {
  assert.deepEqual(playerFromFragment(`#token=${token}`), { token, user_id: "42", username: "zoë" });
  assert.equal(playerFromFragment(`#x=1&token=${token}`).username, "zoë");
});

test("no token or a broken one is ignored", () => {
  assert.equal(playerFromFragment(""), null);
  assert.equal(playerFromFragment("#token=garbage"), null);
  assert.equal(playerFromFragment(`#token=a.${b64url({ username: "x" })}.c`), null);
});
