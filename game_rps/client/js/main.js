// The page controller: sign in, lobby, one game at a time, leaderboard and own stats.

import { ApiError, createApi, gameSocketUrl, loadConfig } from "./api.js";
import { Battle, PHASE, WEAPON_NAMES, describeExchange, fmt } from "./battle.js";
import {
  clearPlayer,
  loadNames,
  loadPlayer,
  playerFromFragment,
  saveName,
  savePlayer,
} from "./session.js";

const LOBBY_REFRESH_MS = 3000;
const STATS_REFRESH_MS = 15000;
const STATS_POLL_MS = 1000;
const STATS_POLL_TRIES = 8;
const STAT_LABELS = [
  ["games", "Games"],
  ["wins", "Wins"],
  ["losses", "Losses"],
  ["rock_selection_count", "Rock thrown"],
  ["paper_selection_count", "Paper thrown"],
  ["scissors_selection_count", "Scissors thrown"],
  ["botch_selection_count", "Botches"],
];

const $ = (id) => document.getElementById(id);

const app = {
  config: null,
  api: null,
  player: null,
  names: new Map(), // user id -> username, from everything the page has seen
  lobbyTimer: null,
  statsTimer: null,
  game: null, // {info, battle, socket}
  lastStats: null,
};

function setStatus(text, kind = "info") {
  const el = $("status");
  el.textContent = text;
  el.dataset.kind = kind;
}

function showError(el, err) {
  el.textContent = err instanceof Error ? err.message : String(err);
  el.hidden = false;
}

function hideError(el) {
  el.textContent = "";
  el.hidden = true;
}

function rememberName(userId, name) {
  if (!userId || !name || app.names.get(userId) === name) return;
  app.names.set(userId, name);
  saveName(userId, name);
}

function displayName(userId) {
  const name = app.names.get(userId) || loadNames()[userId];
  return name || `player ${String(userId).slice(0, 8)}`;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "className") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "onclick") node.addEventListener("click", value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

// ---------------------------------------------------------------- views

function showView(view) {
  $("sign-in-panel").hidden = view !== "sign-in";
  $("lobby-panel").hidden = view !== "lobby";
  $("game-panel").hidden = view !== "game";
  $("stats-panel").hidden = view === "sign-in" || view === "none";
  $("whoami").hidden = !app.player;
  if (app.player) $("whoami-name").textContent = app.player.username;
  document.body.dataset.view = view;
}

// ---------------------------------------------------------------- sign in

async function onSignIn(event) {
  event.preventDefault();
  const errorEl = $("sign-in-error");
  hideError(errorEl);
  const username = $("username").value.trim();
  if (!username) {
    showError(errorEl, "Enter a player name.");
    return;
  }
  $("sign-in").disabled = true;
  try {
    const player = await app.api.devToken(username);
    app.player = player;
    savePlayer(player);
    rememberName(player.user_id, player.username);
    setStatus(`Welcome, ${player.username}.`);
    enterLobby();
  } catch (err) {
    showError(errorEl, err);
  } finally {
    $("sign-in").disabled = false;
  }
}

function signOut() {
  leaveGame({ silent: true });
  stopLobby();
  clearPlayer();
  app.player = null;
  app.lastStats = null;
  setStatus("Signed out.");
  showSignIn();
}

function showSignIn() {
  showView("sign-in");
  if (!app.config.devTokens) {
    showError(
      $("sign-in-error"),
      "Signing in by name is only available in development; use the arcade portal.",
    );
    $("sign-in").disabled = true;
  }
  $("username").focus();
}

function handleAuthError(err) {
  if (err instanceof ApiError && err.status === 401) {
    clearPlayer();
    app.player = null;
    stopLobby();
    showSignIn();
    setStatus("Your sign-in is no longer accepted by the matchmaker; please sign in again.", "error");
    return true;
  }
  return false;
}

// ---------------------------------------------------------------- lobby

function enterLobby() {
  showView("lobby");
  refreshOpenGames();
  refreshStats();
  stopLobby();
  app.lobbyTimer = window.setInterval(refreshOpenGames, LOBBY_REFRESH_MS);
  app.statsTimer = window.setInterval(refreshStats, STATS_REFRESH_MS);
}

function stopLobby() {
  window.clearInterval(app.lobbyTimer);
  window.clearInterval(app.statsTimer);
  app.lobbyTimer = null;
  app.statsTimer = null;
}

let openGamesInFlight = false;
async function refreshOpenGames() {
  if (openGamesInFlight || !app.player) return;
  openGamesInFlight = true;
  const errorEl = $("lobby-error");
  try {
    const games = await app.api.openGames();
    hideError(errorEl);
    renderOpenGames(Array.isArray(games) ? games : []);
  } catch (err) {
    showError(errorEl, err);
  } finally {
    openGamesInFlight = false;
  }
}

function renderOpenGames(games) {
  const list = $("open-games");
  list.replaceChildren();
  for (const game of games) {
    rememberName(game.creator_id, game.creator_name);
    const mine = app.player && game.creator_id === app.player.user_id;
    const item = el("li", {
      className: "game",
      dataset: { testid: "open-game", gameId: game.game_id, creatorId: game.creator_id || "" },
    });
    item.append(
      el(
        "span",
        { className: "game-label" },
        el("strong", { text: game.creator_name || "someone" }),
        el("span", { className: "muted", text: ` is waiting · ${String(game.game_id).slice(0, 8)}` }),
      ),
    );
    if (mine) {
      item.append(el("span", { className: "muted", text: "your game" }));
    } else {
      item.append(
        el("button", {
          type: "button",
          className: "primary",
          text: "Join",
          "aria-label": `Join ${game.creator_name || "this"} game`,
          dataset: { testid: "join-game", gameId: game.game_id },
          onclick: () => joinGame(game.game_id),
        }),
      );
    }
    list.append(item);
  }
  $("no-open-games").hidden = games.length > 0;
}

async function createGame() {
  const errorEl = $("lobby-error");
  hideError(errorEl);
  $("create-game").disabled = true;
  try {
    const game = await app.api.createGame(app.player.token);
    enterGame(game);
  } catch (err) {
    if (!handleAuthError(err)) showError(errorEl, err);
  } finally {
    $("create-game").disabled = false;
  }
}

async function joinGame(gameId) {
  const errorEl = $("lobby-error");
  hideError(errorEl);
  try {
    const game = await app.api.joinGame(app.player.token, gameId);
    enterGame(game);
  } catch (err) {
    if (!handleAuthError(err)) {
      showError(errorEl, err);
      refreshOpenGames();
    }
  }
}

// ---------------------------------------------------------------- stats

async function refreshStats() {
  if (!app.player) return null;
  const errorEl = $("stats-error");
  const [board, mine] = await Promise.allSettled([
    app.api.topTen(),
    app.api.playerStats(app.player.user_id),
  ]);
  const errors = [board, mine].filter((r) => r.status === "rejected").map((r) => r.reason);
  if (errors.length) showError(errorEl, errors[0]);
  else hideError(errorEl);
  if (board.status === "fulfilled") renderLeaderboard(Array.isArray(board.value) ? board.value : []);
  if (mine.status === "fulfilled" && mine.value && typeof mine.value === "object") {
    app.lastStats = mine.value;
    renderMyStats(mine.value);
    return mine.value;
  }
  return null;
}

function renderLeaderboard(entries) {
  const list = $("leaderboard");
  list.replaceChildren();
  for (const [index, entry] of entries.entries()) {
    const isMe = app.player && entry.user_id === app.player.user_id;
    const item = el(
      "li",
      {
        className: isMe ? "me" : "",
        dataset: { testid: "leaderboard-entry", userId: entry.user_id, rank: String(index + 1) },
      },
      el("span", { className: "who", text: isMe ? `${displayName(entry.user_id)} (you)` : displayName(entry.user_id) }),
      el("span", { className: "score", dataset: { testid: "leaderboard-score" }, text: fmt(Number(entry.score) || 0) }),
    );
    list.append(item);
  }
  $("leaderboard-empty").hidden = entries.length > 0;
}

function renderMyStats(stats) {
  const list = $("my-stats");
  list.replaceChildren();
  for (const [key, label] of STAT_LABELS) {
    if (!(key in stats)) continue;
    list.append(
      el("dt", { text: label }),
      el("dd", { dataset: { testid: `stat-${key}`, stat: key }, text: String(Number(stats[key]) || 0) }),
    );
  }
}

// The stats worker is asynchronous: poll until this game shows up in our own counters.
async function refreshStatsAfterGame(gamesBefore) {
  $("my-stats").dataset.updated = "false";
  for (let attempt = 0; attempt < STATS_POLL_TRIES; attempt += 1) {
    const stats = await refreshStats();
    if (stats && Number(stats.games) > gamesBefore) {
      $("my-stats").dataset.updated = "true";
      return;
    }
    await new Promise((resolve) => window.setTimeout(resolve, STATS_POLL_MS));
  }
}

// ---------------------------------------------------------------- game

function enterGame(info) {
  stopLobby();
  leaveGame({ silent: true });
  rememberName(info.creator_id, info.creator_name);
  const battle = new Battle({
    gameId: info.game_id,
    me: app.player.user_id,
    fighters: app.config.fighters,
  });
  const gamesBefore = Number(app.lastStats?.games) || 0;
  const game = { info, battle, socket: null, gamesBefore, statsPolled: false };
  app.game = game;
  $("game-id").textContent = `#${String(info.game_id).slice(0, 8)}`;
  $("game-id").dataset.gameId = info.game_id;
  $("history").replaceChildren();
  showView("game");
  renderFighterChoices();
  renderGame();

  let socket;
  try {
    const { target_game_server: target, token, seat_token: seat } = info;
    socket = new WebSocket(gameSocketUrl(target, token, app.player.user_id, seat));
  } catch (err) {
    battle.onClose(0, `cannot open the connection (${err.message})`);
    renderGame();
    return;
  }
  game.socket = socket;
  socket.addEventListener("message", (event) => {
    if (app.game !== game) return;
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch {
      return;
    }
    const before = battle.phase;
    battle.apply(msg);
    if (msg.type === "player_joined") {
      rememberName(msg.gameData?.p1Id, msg.gameData?.p1Name);
      rememberName(msg.gameData?.p2Id, msg.gameData?.p2Name);
    }
    if (msg.type === "RPSRoundEvent" && msg.eventData?.type === 3) appendHistory(battle);
    if (battle.phase === PHASE.OVER && before !== PHASE.OVER) onGameOver(game);
    renderGame();
    if (battle.phase !== before) focusFor(battle.phase);
  });
  socket.addEventListener("close", (event) => {
    if (app.game !== game) return;
    const before = battle.phase;
    battle.onClose(event.code, event.reason);
    renderGame();
    if (battle.phase !== before) focusFor(battle.phase);
  });
  socket.addEventListener("error", () => {
    // a "close" event always follows; it carries the explanation
  });
}

// Keep keyboard players where the next action is, unless they are typing somewhere.
function focusFor(phase) {
  const active = document.activeElement;
  if (active instanceof HTMLInputElement) return;
  let target = null;
  if (phase === PHASE.OVER || phase === PHASE.CLOSED) target = $("back-to-lobby");
  else if (phase === PHASE.SELECTING) {
    target = app.game?.battle.myFighterId ? $("start-battle") : document.querySelector("#fighters button");
  }
  if (target && !target.disabled) target.focus({ preventScroll: true });
}

function send(message) {
  const socket = app.game?.socket;
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify(message));
    return true;
  }
  return false;
}

function leaveGame({ silent = false } = {}) {
  const game = app.game;
  if (!game) return;
  app.game = null;
  if (game.socket && game.socket.readyState <= WebSocket.OPEN) {
    try {
      game.socket.close(1000, "Player left");
    } catch {
      // already closing
    }
  }
  if (!silent) setStatus("You left the game.");
}

function backToLobby() {
  leaveGame({ silent: true });
  enterLobby();
}

function onGameOver(game) {
  const battle = game.battle;
  const won = battle.winnerId === app.player.user_id;
  setStatus(won ? "You won!" : `${battle.nameOf(battle.winnerId)} won.`, won ? "success" : "info");
  if (!game.statsPolled) {
    game.statsPolled = true;
    refreshStatsAfterGame(game.gamesBefore);
  }
}

function chooseFighter(fighterId) {
  const battle = app.game?.battle;
  if (!battle || !battle.chooseFighter(fighterId)) return;
  if (send({ type: "select_fighter", characterId: fighterId })) {
    // The server echoes our own choice at once; show it straight away too.
    const slot = battle.mySlot;
    if (slot) battle[slot].fighterId = fighterId;
    renderGame();
  }
}

function startBattle() {
  const battle = app.game?.battle;
  if (!battle || !battle.canStart) return;
  if (send({ type: "start_battle" })) {
    battle.markReady();
    renderGame();
  }
}

function pickWeapon(index) {
  const battle = app.game?.battle;
  // The same pick again changes nothing: not resent (the server limits messages per second).
  if (!battle || battle.myPick === index || !battle.pickWeapon(index)) return;
  send({ type: "select_weapon", index });
  renderGame();
}

function renderFighterChoices() {
  const box = $("fighters");
  box.replaceChildren();
  for (const fighter of app.config.fighters) {
    const stats = el("ul", { className: "weapon-stats" });
    for (const w of fighter.weapons) {
      const parts = [`${w.base} dmg`];
      if (w.modifier) parts.push(`+${Math.round(w.modifier * 100)}% attack`);
      if (w.mitigation) parts.push(`${Math.round(w.mitigation * 100)}% block`);
      stats.append(
        el("li", { dataset: { weaponStat: String(w.id) } },
          el("span", { className: "wname", text: w.name }),
          el("span", { text: parts.join(" · ") })),
      );
    }
    box.append(
      el(
        "button",
        {
          type: "button",
          className: "fighter",
          id: `fighter-${fighter.id}`,
          "aria-pressed": "false",
          dataset: { testid: "fighter", fighter: fighter.id },
          onclick: () => chooseFighter(fighter.id),
        },
        el("span", { className: "fname", text: fighter.name }),
        el("span", { className: "fhealth", text: `Health ${fighter.health}` }),
        stats,
      ),
    );
  }
}

function fighterName(id) {
  const f = app.config.fighters.find((x) => x.id === id);
  return f ? f.name : id || "";
}

function renderHealth(battle, slot) {
  const bar = $(`${slot}-health`);
  const max = battle.maxHealth(slot);
  const health = battle[slot].health ?? max;
  const pct = max > 0 ? Math.max(0, Math.min(100, (health / max) * 100)) : 0;
  bar.style.width = `${pct}%`;
  bar.dataset.health = String(health);
  bar.dataset.maxHealth = String(max);
  bar.setAttribute("aria-valuemax", String(max));
  bar.setAttribute("aria-valuenow", String(health));
  bar.classList.toggle("low", pct <= 30);
  $(`${slot}-health-text`).textContent = battle[slot].fighterId ? `${fmt(health)} / ${fmt(max)}` : "";
}

function renderGame() {
  const game = app.game;
  if (!game) return;
  const b = game.battle;
  const mine = b.mySlot;
  document.body.dataset.phase = b.phase;
  $("game-panel").dataset.phase = b.phase;

  for (const slot of ["p1", "p2"]) {
    const p = b[slot];
    const label = p.id ? `${p.name || displayName(p.id)}${slot === mine ? " (you)" : ""}` : "waiting…";
    $(`${slot}-name`).textContent = label;
    $(`${slot}-name`).dataset.userId = p.id || "";
    $(`${slot}-fighter`).textContent = p.fighterId ? fighterName(p.fighterId) : "";
    $(`${slot}-fighter`).dataset.fighter = p.fighterId || "";
    $(`${slot}-card`).classList.toggle("me", slot === mine);
    renderHealth(b, slot);
  }

  const msg = $("game-message");
  msg.textContent = b.message.text;
  msg.dataset.kind = b.message.kind;

  const selecting = [PHASE.CONNECTING, PHASE.WAITING, PHASE.SELECTING].includes(b.phase);
  $("fighter-select").hidden = !selecting;
  for (const button of document.querySelectorAll("#fighters [data-fighter]")) {
    const chosen = button.dataset.fighter === b.myFighterId;
    button.setAttribute("aria-pressed", chosen ? "true" : "false");
    button.classList.toggle("chosen", chosen);
    button.disabled = !b.canChooseFighter;
  }
  const start = $("start-battle");
  start.disabled = !b.canStart;
  start.textContent = b.ready ? "Waiting for opponent…" : "Start battle";

  const inBattle = b.phase === PHASE.BATTLE || (b.phase === PHASE.OVER && b.round > 0) ||
    (b.phase === PHASE.CLOSED && b.round > 0);
  $("battle").hidden = !inBattle;
  $("round-number").textContent = String(Math.max(b.round, 1));
  const p1w = b.roundsWon[b.p1.id] || 0;
  const p2w = b.roundsWon[b.p2.id] || 0;
  $("score").textContent = b.round > 0 ? `Rounds won ${p1w} – ${p2w}` : "";
  const cd = $("countdown");
  if (b.countdown) {
    cd.textContent = b.countdown.kind === "round"
      ? `Round starts in ${b.countdown.value}`
      : `Pick a weapon! ${b.countdown.value}`;
    cd.dataset.kind = b.countdown.kind;
    cd.dataset.value = String(b.countdown.value);
  } else {
    cd.textContent = "";
    cd.dataset.kind = "";
    cd.dataset.value = "";
  }
  $("weapons").dataset.open = b.canPickWeapon ? "true" : "false";
  for (const button of document.querySelectorAll("#weapons [data-weapon]")) {
    const index = Number(button.dataset.weapon);
    button.disabled = !b.canPickWeapon;
    const picked = b.myPick === index;
    button.classList.toggle("picked", picked);
    button.setAttribute("aria-pressed", picked ? "true" : "false");
  }
  $("exchange-result").textContent = b.lastExchange ? describeExchange(b, b.lastExchange) : "";
  const rr = $("round-result");
  if (b.lastRound) {
    rr.textContent = b.lastRound.winnerId === b.me
      ? `You won round ${b.lastRound.round}!`
      : `${b.nameOf(b.lastRound.winnerId)} won round ${b.lastRound.round}.`;
  } else {
    rr.textContent = "";
  }

  const over = b.phase === PHASE.OVER || b.phase === PHASE.CLOSED;
  $("game-over").hidden = !over;
  const winner = $("winner");
  if (b.phase === PHASE.OVER) {
    winner.textContent = b.winnerId === b.me ? "You won!" : `${b.nameOf(b.winnerId)} won.`;
    winner.dataset.winnerId = b.winnerId || "";
    winner.dataset.result = b.winnerId === b.me ? "win" : "loss";
  } else {
    winner.textContent = b.phase === PHASE.CLOSED ? "Game ended without a winner." : "";
    winner.dataset.winnerId = "";
    winner.dataset.result = b.phase === PHASE.CLOSED ? "none" : "";
  }
  $("leave-game").hidden = over;
}

function appendHistory(battle) {
  const last = battle.history[battle.history.length - 1];
  if (!last) return;
  const item = el("li", { dataset: { testid: "exchange", round: String(last.round) } });
  item.textContent = `Round ${last.round}: ${describeExchange(battle, last)}`;
  $("history").prepend(item);
}

// ---------------------------------------------------------------- keyboard

function onKeyDown(event) {
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  const target = event.target;
  if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement) return;
  const index = ["1", "2", "3"].indexOf(event.key);
  if (index >= 0 && app.game?.battle.canPickWeapon) {
    event.preventDefault();
    if (event.repeat) return; // a held key repeats ~30 times a second: one pick is enough
    pickWeapon(index);
  }
}

// ---------------------------------------------------------------- start

async function main() {
  showView("none");
  try {
    app.config = await loadConfig();
  } catch (err) {
    setStatus(`Cannot start: ${err.message}`, "error");
    return;
  }
  app.api = createApi(app.config);
  $("sign-in-form").addEventListener("submit", onSignIn);
  $("sign-out").addEventListener("click", signOut);
  $("create-game").addEventListener("click", createGame);
  $("refresh-games").addEventListener("click", refreshOpenGames);
  $("refresh-stats").addEventListener("click", refreshStats);
  $("start-battle").addEventListener("click", startBattle);
  $("leave-game").addEventListener("click", () => {
    leaveGame();
    enterLobby();
  });
  $("back-to-lobby").addEventListener("click", backToLobby);
  for (const button of document.querySelectorAll("#weapons [data-weapon]")) {
    button.addEventListener("click", () => pickWeapon(Number(button.dataset.weapon)));
  }
  document.addEventListener("keydown", onKeyDown);
  window.addEventListener("pagehide", () => leaveGame({ silent: true }));

  const handed = playerFromFragment(window.location.hash);
  if (handed) {
    savePlayer(handed);
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  app.player = loadPlayer();
  if (app.player) {
    rememberName(app.player.user_id, app.player.username);
    setStatus(`Welcome back, ${app.player.username}.`);
    enterLobby();
  } else {
    setStatus(
      app.config.devTokens
        ? "Sign in with a player name to play."
        : "Open this page from the arcade portal to play.",
    );
    showSignIn();
  }
  document.body.dataset.ready = "true";
}

main().catch((err) => setStatus(`Unexpected error: ${err.message}`, "error"));
