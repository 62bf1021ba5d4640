// What the page knows about one game, updated from the game server's WebSocket messages.
// No DOM and no socket here, so the rules of the protocol live in one readable place.

export const WEAPON_NAMES = ["rock", "paper", "scissors"];

export const ROUND_STATE = { NEW: 0, COUNTDOWN: 1, WAITING_FOR_WEAPONS: 2, PROCESSING: 3, FINISHED: 4 };
const ROUND_EVENT = {
  ROUND_COUNTDOWN: 0,
  WEAPON_COUNTDOWN: 1,
  STATE_CHANGE: 2,
  WEAPONS_SELECTED: 3,
  ROUND_FINISHED: 4,
  ROUND_STARTED: 5,
};
const GAME_EVENT = { STARTED: 0, COMPLETE: 1 };
export const ERROR_HOST_LEFT = 4002;
export const ERROR_OPPONENT_LEFT = 4003;

// Phases of the game panel.
export const PHASE = {
  CONNECTING: "connecting",
  WAITING: "waiting", // connected, no opponent yet
  SELECTING: "selecting", // both here, choosing fighters / getting ready
  BATTLE: "battle",
  OVER: "over", // a winner is known
  CLOSED: "closed", // the connection ended before a winner
};

function emptySlot() {
  return { id: null, name: null, fighterId: null, health: null };
}

export class Battle {
  constructor({ gameId, me, fighters }) {
    this.gameId = gameId;
    this.me = me; // user id of this window's player
    this.fighters = new Map((fighters || []).map((f) => [f.id, f]));
    this.phase = PHASE.CONNECTING;
    this.p1 = emptySlot();
    this.p2 = emptySlot();
    this.ready = false; // start_battle sent since the opponent (re)joined
    this.message = { text: "Connecting to the game server…", kind: "info" };
    this.resetBattle();
  }

  resetBattle() {
    this.round = 0;
    this.roundsWon = {};
    this.roundState = null;
    this.countdown = null; // {kind: "round" | "weapon", value}
    this.weaponOpen = false;
    this.myPick = null;
    this.lastExchange = null;
    this.lastRound = null;
    this.history = [];
    this.winnerId = null;
    this.loserId = null;
    this.p1.health = null;
    this.p2.health = null;
  }

  get mySlot() {
    if (this.p1.id === this.me) return "p1";
    if (this.p2.id === this.me) return "p2";
    return null;
  }

  get opponent() {
    return this.mySlot === "p1" ? this.p2 : this.p1;
  }

  get myFighterId() {
    const slot = this.mySlot;
    return slot ? this[slot].fighterId : null;
  }

  nameOf(userId) {
    if (!userId) return "nobody";
    if (userId === this.me) return "You";
    if (userId === this.p1.id && this.p1.name) return this.p1.name;
    if (userId === this.p2.id && this.p2.name) return this.p2.name;
    return "Opponent";
  }

  maxHealth(slot) {
    const fighter = this.fighters.get(this[slot].fighterId);
    if (fighter) return fighter.health;
    const seen = [this.p1.health, this.p2.health, 100].filter((h) => typeof h === "number");
    return Math.max(...seen);
  }

  get canChooseFighter() {
    return (this.phase === PHASE.WAITING || this.phase === PHASE.SELECTING) && !this.ready;
  }

  get canStart() {
    return this.phase === PHASE.SELECTING && !this.ready && this.myFighterId !== null;
  }

  get canPickWeapon() {
    return this.phase === PHASE.BATTLE && this.weaponOpen;
  }

  // Local intents (the caller sends the matching message on the socket).
  chooseFighter(fighterId) {
    if (!this.canChooseFighter || !this.fighters.has(fighterId)) return false;
    return true;
  }

  markReady() {
    if (!this.canStart) return false;
    this.ready = true;
    this.message = { text: `Ready. Waiting for ${this.opponent.name || "your opponent"}…`, kind: "info" };
    return true;
  }

  pickWeapon(index) {
    if (!this.canPickWeapon || ![0, 1, 2].includes(index)) return false;
    this.myPick = index;
    return true;
  }

  // Server -> client messages. Unknown types are ignored, as the protocol asks.
  apply(msg) {
    if (!msg || typeof msg !== "object") return;
    switch (msg.type) {
      case "player_joined":
        return this.onPlayerJoined(msg.gameData || {});
      case "select_fighter":
        return this.onSelectFighter(msg.gameData || {});
      case "sync":
        return this.onSync(msg.gameData || {});
      case "RPSGameEvent":
        return this.onGameEvent(msg.eventData || {});
      case "RPSRoundEvent":
        return this.onRoundEvent(msg.eventData || {});
      case "error":
        return this.onError(msg);
      default:
        return;
    }
  }

  onPlayerJoined(data) {
    const p2Before = this.p2.id;
    this.p1.id = data.p1Id ?? null;
    this.p1.name = data.p1Name ?? null;
    this.p2.id = data.p2Id ?? null;
    this.p2.name = data.p2Name ?? null;
    if (this.p2.id !== p2Before) this.p2.fighterId = null;
    if (this.phase === PHASE.BATTLE || this.phase === PHASE.OVER) return;
    if (this.p2.id) {
      this.phase = PHASE.SELECTING;
      this.message = {
        text: this.myFighterId
          ? "Both players are here. Start the battle when you are ready."
          : "Both players are here. Choose your fighter.",
        kind: "info",
      };
    } else {
      this.phase = PHASE.WAITING;
      this.message = {
        text: "Waiting for an opponent to join… You can choose your fighter meanwhile.",
        kind: "info",
      };
    }
  }

  onSelectFighter(data) {
    const slot = data.playerId === this.p1.id ? "p1" : data.playerId === this.p2.id ? "p2" : null;
    if (slot) this[slot].fighterId = data.selectedCharacterId ?? null;
  }

  onSync(data) {
    if (typeof data.p1Health === "number") this.p1.health = data.p1Health;
    if (typeof data.p2Health === "number") this.p2.health = data.p2Health;
  }

  onGameEvent(event) {
    if (event.type === GAME_EVENT.STARTED) {
      this.resetBattle();
      this.phase = PHASE.BATTLE;
      this.message = { text: "The battle begins!", kind: "info" };
    } else if (event.type === GAME_EVENT.COMPLETE) {
      const data = event.data || {};
      this.winnerId = data.winnerId ?? null;
      this.loserId = data.loserId ?? null;
      this.phase = PHASE.OVER;
      this.weaponOpen = false;
      this.countdown = null;
      this.message = {
        text: this.winnerId === this.me ? "You won the game!" : `${this.nameOf(this.winnerId)} won the game.`,
        kind: this.winnerId === this.me ? "success" : "info",
      };
    }
  }

  onRoundEvent(event) {
    const data = event.data || {};
    switch (event.type) {
      case ROUND_EVENT.ROUND_STARTED:
        this.round += 1;
        this.lastExchange = null;
        this.lastRound = null;
        this.myPick = null;
        this.phase = PHASE.BATTLE;
        break;
      case ROUND_EVENT.ROUND_COUNTDOWN:
        this.countdown = { kind: "round", value: data.value };
        this.weaponOpen = false;
        break;
      case ROUND_EVENT.WEAPON_COUNTDOWN:
        this.countdown = { kind: "weapon", value: data.value };
        this.weaponOpen = true;
        break;
      case ROUND_EVENT.STATE_CHANGE:
        this.roundState = data.newState;
        if (data.newState === ROUND_STATE.WAITING_FOR_WEAPONS) {
          this.weaponOpen = true;
          this.myPick = null;
        } else {
          this.weaponOpen = false;
          if (data.newState !== ROUND_STATE.COUNTDOWN) this.countdown = null;
        }
        break;
      case ROUND_EVENT.WEAPONS_SELECTED:
        this.onExchange(data.attackSummary || {});
        break;
      case ROUND_EVENT.ROUND_FINISHED: {
        const winner = data.roundWinnerId ?? null;
        if (winner) this.roundsWon[winner] = (this.roundsWon[winner] || 0) + 1;
        this.lastRound = { winnerId: winner, loserId: data.roundLoserId ?? null, round: this.round };
        this.weaponOpen = false;
        this.countdown = null;
        break;
      }
      default:
        break;
    }
  }

  onExchange(summary) {
    const p1 = summary.p1Selection || {};
    const p2 = summary.p2Selection || {};
    this.lastExchange = {
      p1: { weaponId: p1.weaponId ?? "botch", damageDealt: Number(p1.damageDealt) || 0 },
      p2: { weaponId: p2.weaponId ?? "botch", damageDealt: Number(p2.damageDealt) || 0 },
    };
    this.history.push({ round: this.round, ...this.lastExchange });
    this.weaponOpen = false;
    this.myPick = null;
    this.countdown = null;
  }

  onError(msg) {
    const text = msg.message || msg.reason || "The game server reported an error.";
    // After the winner is known, departures are just the game being cleaned up.
    if (this.phase === PHASE.OVER && [ERROR_HOST_LEFT, ERROR_OPPONENT_LEFT].includes(msg.code)) return;
    if (msg.code === ERROR_OPPONENT_LEFT) {
      const who = this.opponent.name || "Your opponent";
      this.p2 = emptySlot();
      this.resetBattle();
      this.ready = false;
      this.phase = PHASE.WAITING;
      this.message = {
        text: `${who} left the game. It is listed again: waiting for a new opponent…`,
        kind: "warning",
      };
    } else if (msg.code === ERROR_HOST_LEFT) {
      this.hostLeft = true;
      this.phase = PHASE.CLOSED;
      this.weaponOpen = false;
      this.message = { text: "The host left, so the game is over. Back to the lobby.", kind: "warning" };
    } else {
      this.message = { text: `Game server: ${text}`, kind: "error" };
    }
  }

  // The socket closed; explain why unless a winner or the host's departure already did.
  onClose(code, reason) {
    this.weaponOpen = false;
    this.countdown = null;
    if (this.phase === PHASE.OVER || this.hostLeft) {
      if (this.phase !== PHASE.OVER) this.phase = PHASE.CLOSED;
      return;
    }
    this.phase = PHASE.CLOSED;
    let text;
    if (reason && /removed/i.test(reason)) {
      text = "The arcade removed this game (for example, nobody joined in time).";
    } else if (reason && /host/i.test(reason)) {
      text = "The host left, so the game is over.";
    } else if (code === 4000) {
      text = "The host has not connected yet; try joining again in a moment.";
    } else if (code === 4001) {
      text = "You are already connected to this game in another window.";
    } else if (code === 1000 && this.p1.id === null) {
      text = "The game server refused the connection (unknown game or token).";
    } else if (reason) {
      text = `The connection to the game ended: ${reason}`;
    } else {
      text = "The connection to the game server was lost.";
    }
    this.message = { text, kind: "warning" };
  }
}

// "You threw rock, Bob threw scissors: you dealt 25." from the point of view of `me`.
export function describeExchange(battle, exchange) {
  const mine = battle.mySlot || "p1";
  const theirs = mine === "p1" ? "p2" : "p1";
  const opp = battle.opponent.name || "Opponent";
  const a = exchange[mine];
  const b = exchange[theirs];
  const threw = (w) => (w === "botch" ? "nothing (botch)" : w);
  let outcome;
  if (a.damageDealt > 0 && b.damageDealt > 0) {
    outcome = `both hit: you dealt ${fmt(a.damageDealt)}, ${opp} dealt ${fmt(b.damageDealt)}`;
  } else if (a.damageDealt > 0) {
    outcome = `you dealt ${fmt(a.damageDealt)} damage`;
  } else if (b.damageDealt > 0) {
    outcome = `${opp} dealt ${fmt(b.damageDealt)} damage`;
  } else {
    outcome = "a draw, no damage";
  }
  return `You threw ${threw(a.weaponId)}, ${opp} threw ${threw(b.weaponId)}: ${outcome}.`;
}

export function fmt(n) {
  return Number.isInteger(n) ? String(n) : String(Math.round(n * 10) / 10);
}
