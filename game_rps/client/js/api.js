// HTTP calls to the page server (/config.json, /dev/token), the matchmaker and the stats tracker.
// Every failure becomes an ApiError with a message a person can read; nothing is thrown unhandled.

const TIMEOUT_MS = 8000;

export class ApiError extends Error {
  constructor(message, { status = 0, service = "" } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.service = service;
  }
}

async function request(service, url, { method = "GET", token = null, body = undefined } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
      cache: "no-store",
    });
  } catch (err) {
    const why = err && err.name === "TimeoutError" ? "did not answer in time" : "is unreachable";
    throw new ApiError(`The ${service} ${why} (${new URL(url).origin}).`, { service });
  }
  let data = null;
  try {
    const text = await response.text();
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const detail = data && typeof data.message === "string" ? data.message : response.statusText;
    throw new ApiError(`The ${service} answered ${response.status}: ${detail}`, {
      status: response.status,
      service,
    });
  }
  return data;
}

export async function loadConfig() {
  return request("page server", new URL("/config.json", window.location.href).href);
}

export function createApi(config) {
  const mm = config.matchmakerUrl.replace(/\/+$/, "");
  const st = config.statsTrackerUrl.replace(/\/+$/, "");
  const product = encodeURIComponent(config.productId);
  return {
    devToken: (username) =>
      request("token service", new URL("/dev/token", window.location.href).href, {
        method: "POST",
        body: { username },
      }),
    createGame: (token) =>
      request("matchmaker", `${mm}/game_lobby/${product}/create_game`, { method: "POST", token }),
    joinGame: (token, gameId) =>
      request("matchmaker", `${mm}/game_lobby/${product}/join_game/${encodeURIComponent(gameId)}`, {
        method: "POST",
        token,
      }),
    openGames: (count = 25, page = 0) =>
      request("matchmaker", `${mm}/game_lobby/${product}/open_games?count=${count}&page=${page}`),
    topTen: () => request("stats tracker", `${st}/leaderboards/top_ten/${product}`),
    playerStats: (userId) =>
      request("stats tracker", `${st}/stats/${product}/${encodeURIComponent(userId)}`),
  };
}

// The WebSocket address of a game: target_game_server is "host:port" (or already a ws URL). The
// seat token is this player's own credential from the create or join answer (seat_token): the
// game server seats nobody without it.
export function gameSocketUrl(targetGameServer, gameToken, userId, seatToken) {
  let base = String(targetGameServer || "");
  if (!/^wss?:\/\//.test(base)) {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    base = `${scheme}://${base.replace(/^https?:\/\//, "")}`;
  }
  const url = new URL(base);
  if (!url.pathname) url.pathname = "/";
  url.searchParams.set("game_token", gameToken);
  url.searchParams.set("user_id", userId);
  url.searchParams.set("seat_token", seatToken || "");
  return url.href;
}
