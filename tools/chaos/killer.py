"""SIGKILL workers at random moments and start them again at once, as a supervisor would."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import redis

from tools.chaos.fleet import Fleet
from tools.chaos.groups import GroupProgress, Takeover, TakeoverWatch, wait_consumed
from tools.chaos.report import StepResult, must_be, shown
from tools.chaos.writer import PacedWriter
from varcade_workers import events


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


@dataclass
class KilledWhileWriting:
    """What `kill_while_writing` did: the kills, the events written, and how the groups caught up
    (`done`, `waited` seconds, their last progress)."""

    kills: list[Kill]
    written: int
    done: bool
    waited: float
    states: list[GroupProgress]


def kill_while_writing(
    killer: Killer,
    stream: redis.Redis,
    stream_events: Sequence[events.Event],
    duration: float,
    groups: Sequence[str],
    consume_timeout: float,
    consumers: str = "the group",
) -> KilledWhileWriting:
    """Write `stream_events` over `duration` seconds (a PacedWriter with the killer's random
    source) while `killer` runs, then wait (up to `consume_timeout` s) until `groups` (named
    `consumers` in what is said) have consumed the stream."""
    say = killer.say
    writer = PacedWriter(stream, stream_events, duration, killer.rng).start()
    killer.run()
    writer.join()
    if writer.error is not None:
        raise writer.error
    say(f"kills done; wrote {writer.written} events; waiting for {consumers} to consume them")
    done, waited, states = wait_consumed(
        stream,
        groups,
        timeout=consume_timeout,
        on_wait=lambda s: say("waiting: " + "; ".join(p.describe() for p in s)),
        check=killer.fleet.check_running,
    )
    return KilledWhileWriting(killer.kills, writer.written, done, waited, states)


def add_takeover_figures(result: StepResult, kills: Sequence[Kill], waited: float) -> None:
    """The rows every kill step ends with: kills that left entries pending, the worst takeover
    delay, kills never taken over (a failure, shown only when there are any), the time to consume
    after the kills."""
    holding, worst, never = takeover_figures(kills)
    result.add(shown("kills that left entries pending", str(holding)))
    result.add(shown("worst takeover delay", "-" if worst is None else f"{worst:.1f}s"))
    if never:
        result.add(must_be("killed consumers never taken over", never))
    result.add(shown("time to consume after the kills", f"{waited:.1f}s"))
