// Protocol handling of the page, without a browser: `node --test game_rps/client/tests/`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Battle, PHASE, describeExchange } from "../js/battle.js";

const FIGHTERS = [
  { id: "aru", name: "Aru", health: 100, weapons: [] },
  { id: "rad", name: "Rad", health: 120, weapons: [] },
];

const joined = (p2Id = "u2", p2Name = "bob") => ({
  type: "player_joined",
  gameData: { p1Id: "u1", p1Name: "alice", p2Id, p2Name },
});
const round = (type, data = {}) => ({ type: "RPSRoundEvent", eventData: { type, data, classtype: "RPSRoundEvent" } });
const game = (type, data = {}) => ({ type: "RPSGameEvent", eventData: { type, data, classtype: "RPSGameEvent" } });

function hostWithOpponent() {
  const b = new Battle({ gameId: "g1", me: "u1", fighters: FIGHTERS });
  b.apply(joined());
  b.apply({ type: "select_fighter", gameData: { playerId: "u1", selectedCharacterId: "rad" } });
  return b;
}

test("waiting for an opponent, then selecting", () => {
  const b = new Battle({ gameId: "g1", me: "u1", fighters: FIGHTERS });
  assert.equal(b.phase, PHASE.CONNECTING);
  b.apply(joined(null, null));
  assert.equal(b.phase, PHASE.WAITING);
  assert.equal(b.canStart, false);
  assert.equal(b.chooseFighter("aru"), true);
  assert.equal(b.chooseFighter("nobody"), false);
  b.apply(joined());
  assert.equal(b.phase, PHASE.SELECTING);
  assert.equal(b.mySlot, "p1");
  assert.equal(b.opponent.name, "bob");
});

test("start needs a fighter and is sent once", () => {
  const b = new Battle({ gameId: "g1", me: "u2", fighters: FIGHTERS });
  b.apply(joined());
  assert.equal(b.canStart, false);
  b.apply({ type: "select_fighter", gameData: { playerId: "u2", selectedCharacterId: "aru" } });
  assert.equal(b.canStart, true);
  assert.equal(b.markReady(), true);
  assert.equal(b.markReady(), false);
  assert.equal(b.canChooseFighter, false);
});

test("an exchange: weapon window, pick, result, health", () => {
  const b = hostWithOpponent();
  b.apply(game(0));
  b.apply(round(5));
  assert.equal(b.round, 1);
  b.apply(round(0, { value: 3 }));
  assert.equal(b.canPickWeapon, false);
  assert.equal(b.pickWeapon(0), false);
  b.apply(round(2, { newState: 2, oldState: 1 }));
  b.apply(round(1, { value: 3 }));
  assert.equal(b.canPickWeapon, true);
  assert.equal(b.pickWeapon(7), false);
  assert.equal(b.pickWeapon(0), true);
  assert.equal(b.pickWeapon(2), true); // the last pick counts
  assert.equal(b.myPick, 2);
  b.apply(round(3, { attackSummary: { p1Selection: { weaponId: "scissors", damageDealt: 27.5 }, p2Selection: { weaponId: "paper", damageDealt: 0 } } }));
  assert.equal(b.canPickWeapon, false);
  assert.equal(b.myPick, null);
  assert.equal(describeExchange(b, b.lastExchange), "You threw scissors, bob threw paper: you dealt 27.5 damage.");
  b.apply({ type: "sync", gameData: { p1Health: 120, p2Health: 72.5 } });
  assert.equal(b.p2.health, 72.5);
  assert.equal(b.maxHealth("p1"), 120);
  b.apply(round(4, { roundWinnerId: "u1", roundLoserId: "u2" }));
  assert.deepEqual(b.roundsWon, { u1: 1 });
});

test("opponent left (4003): back to waiting, own fighter kept", () => {
  const b = hostWithOpponent();
  b.markReady();
  b.apply(game(0));
  b.apply(round(5));
  b.apply({ type: "error", message: "Opponent disconnected", code: 4003 });
  assert.equal(b.phase, PHASE.WAITING);
  assert.equal(b.p2.id, null);
  assert.equal(b.myFighterId, "rad");
  assert.equal(b.ready, false);
  assert.equal(b.round, 0);
  assert.match(b.message.text, /bob left/);
  b.apply(joined("u3", "carol"));
  assert.equal(b.phase, PHASE.SELECTING);
  assert.equal(b.canStart, true);
});

test("host left (4002) closes the game; after a winner it changes nothing", () => {
  const guest = new Battle({ gameId: "g1", me: "u2", fighters: FIGHTERS });
  guest.apply(joined());
  guest.apply({ type: "error", message: "Host disconnected", code: 4002 });
  guest.onClose(1000, "Host disconnected.");
  assert.equal(guest.phase, PHASE.CLOSED);
  assert.match(guest.message.text, /host left/);

  const b = hostWithOpponent();
  b.apply(game(1, { winnerId: "u2", loserId: "u1" }));
  b.apply({ type: "error", message: "Host disconnected", code: 4002 });
  b.onClose(1000, "");
  assert.equal(b.phase, PHASE.OVER);
  assert.equal(b.winnerId, "u2");
  assert.match(b.message.text, /bob won/);
});

test("close reasons are explained", () => {
  const removed = hostWithOpponent();
  removed.onClose(1000, "This game has been removed.");
  assert.equal(removed.phase, PHASE.CLOSED);
  assert.match(removed.message.text, /removed/);

  const refused = new Battle({ gameId: "g1", me: "u1", fighters: FIGHTERS });
  refused.onClose(1000, "");
  assert.match(refused.message.text, /refused/);

  const twice = new Battle({ gameId: "g1", me: "u1", fighters: FIGHTERS });
  twice.onClose(4001, "");
  assert.match(twice.message.text, /already connected/);
});

test("unknown and malformed messages are ignored", () => {
  const b = hostWithOpponent();
  const before = JSON.stringify(b);
  b.apply({ type: "something_new", gameData: {} });
  b.apply(null);
  b.apply("text");
  assert.equal(JSON.stringify(b), before);
});
