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

export function clearPlayer() {
  try {
    window.sessionStorage.removeItem(KEY);
  } catch {
    // nothing to clear
  }
}
