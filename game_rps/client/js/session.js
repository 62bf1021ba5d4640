// The signed-in player, kept in sessionStorage so that two browser windows are two players.

const KEY = "varcade.rps.player";

export function loadPlayer() {
  try {
    const raw = window.sessionStorage.getItem(KEY);
    if (!raw) return null;
    const player = JSON.parse(raw);
    if (player && typeof player.token === "string" && typeof player.user_id === "string") {
      return player;
    }
  } catch {
    // unreadable storage: treat as signed out
  }
  return null;
}

export function savePlayer(player) {
  try {
    window.sessionStorage.setItem(
      KEY,
      JSON.stringify({ token: player.token, user_id: player.user_id, username: player.username }),
    );
  } catch {
    // storage full or disabled: the player stays signed in for this page view only
  }
}

// A portal may hand the page a player token in the address: #token=<jwt>. The page reads the
// (unverified) claims only to show the name; the matchmaker verifies the token on every call.
export function playerFromFragment(hash) {
  const match = /(?:^#|&)token=([^&]+)/.exec(hash || "");
  if (!match) return null;
  try {
    const token = decodeURIComponent(match[1]);
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "="));
    const bytes = Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    if (claims.user_id == null || typeof claims.username !== "string") return null;
    return { token, user_id: String(claims.user_id), username: claims.username };
  } catch {
    return null;
  }
}

export function clearPlayer() {
  try {
    window.sessionStorage.removeItem(KEY);
  } catch {
    // nothing to clear
  }
}

// Usernames seen by any window of this browser (the stats tracker knows only user ids).
// Shared through localStorage so the leaderboard can show names met in another window.
const NAMES_KEY = "varcade.rps.names";
const NAMES_MAX = 200;

export function loadNames() {
  try {
    const raw = window.localStorage.getItem(NAMES_KEY);
    const names = raw ? JSON.parse(raw) : {};
    return names && typeof names === "object" ? names : {};
  } catch {
    return {};
  }
}

export function saveName(userId, username) {
  try {
    const names = loadNames();
    if (names[userId] === username) return;
    delete names[userId];
    names[userId] = username;
    const ids = Object.keys(names);
    for (const id of ids.slice(0, Math.max(0, ids.length - NAMES_MAX))) delete names[id];
    window.localStorage.setItem(NAMES_KEY, JSON.stringify(names));
  } catch {
    // storage unavailable: names stay in this page's memory only
  }
}
