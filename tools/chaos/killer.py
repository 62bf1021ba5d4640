"""SIGKILL workers at random moments and start them again at once, as a supervisor would."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tools.chaos.fleet import Fleet
from tools.chaos.groups import Takeover, TakeoverWatch


@dataclass
class Kill:
    name: str
    pid: int
    at: float  # time.monotonic() of the kill
    takeover: Takeover | None
    restarted_pid: int


@dataclass
class Killer:
    """Kills `count` times, one of `names` each time (random), `gap` seconds apart (random).

    A kill comes `gap` seconds (random) after the previous restart, at the first moment after
    that when `in_hand(name, pid)` says the process holds delivered, unacknowledged entries (if
    it does within `busy_wait` seconds; else anyway): a worker killed while idle between reads
    shows nothing, one killed with a batch in hand shows what a crash does to it.

    `run()` blocks: call it from the main thread (processes are restarted from there, see fleet).
    """

    fleet: Fleet
    names: Sequence[str]
    count: int
    rng: random.Random
    watches: dict[str, TakeoverWatch]  # process name -> the watch of its group
    say: Callable[[str], None]
    gap: tuple[float, float] = (0.2, 1.2)
    in_hand: Callable[[str, int], bool] | None = None
    busy_wait: float = 3.0
    kills: list[Kill] = field(default_factory=list)

    def run(self) -> None:
        for number in range(1, self.count + 1):
            time.sleep(self.rng.uniform(*self.gap))
            name = self.rng.choice(list(self.names))
            current = self.fleet.pid(name)
            if current is None:
                raise RuntimeError(f"{name} is not running; see {self.fleet.log_path(name)}")
            if self.in_hand is not None:
                deadline = time.monotonic() + self.busy_wait
                while not self.in_hand(name, current) and time.monotonic() < deadline:
                    time.sleep(0.002)
            pid = self.fleet.kill(name)
            killed_at = time.monotonic()
            watch = self.watches.get(name)
            takeover = watch.record_kill(pid, killed_at) if watch is not None else None
            new_pid = self.fleet.restart(name)
            self.kills.append(Kill(name, pid, killed_at, takeover, new_pid))
            held = len(takeover.entries) if takeover is not None else 0
            self.say(
                f"kill {number}/{self.count}: SIGKILL {name} pid {pid} "
                f"({held} entries pending for it), restarted as pid {new_pid}"
            )


def takeover_figures(kills: Sequence[Kill]) -> tuple[int, float | None, int]:
    """(kills that left entries pending, worst takeover delay in s, kills never taken over)."""
    holding = [k.takeover for k in kills if k.takeover is not None and k.takeover.entries]
    delays = [t.delay for t in holding if t.delay is not None]
    never = sum(1 for t in holding if t.delay is None)
    return len(holding), (max(delays) if delays else None), never
