"""The fault drills' recovery clock, and the table of recovery times that
tests/drills/conftest.py prints at the end of the run (one line per drill)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from netlab_tests.wait import wait_until

DEFAULT_BOUND_S = 240


@dataclass
class Timing:
    drill: str
    bound: float
    recovered: float | None = None  # seconds from the fault to recovery; None: not within the bound
    observed: float | None = None   # then seconds until the lesson's observations held again
    notes: list[str] = field(default_factory=list)


TIMINGS: list[Timing] = []


class Recovery:
    """`start()` just before the fault, `wait(check, what)` for recovery (fails past the
    drill's bound), `observed(seconds)` once the lesson's observations hold again."""

    def __init__(self, drill: str, bound: float):
        self.timing = Timing(drill, bound)
        self._start: float | None = None

    def start(self) -> None:
        self._start = time.monotonic()

    def wait(self, check, what: str, interval: float = 2):
        assert self._start is not None, "start() the clock before the fault"
        left = self.timing.bound - (time.monotonic() - self._start)
        if self.timing not in TIMINGS:
            TIMINGS.append(self.timing)
        result = wait_until(check, timeout=max(left, 1), interval=interval, what=what)
        self.timing.recovered = time.monotonic() - self._start
        print(f"{self.timing.drill}: recovered in {self.timing.recovered:.1f} s (bound {self.timing.bound:.0f} s)")
        return result

    def observed(self, seconds: float) -> None:
        self.timing.observed = seconds
        print(f"{self.timing.drill}: the lesson's observations held {seconds:.1f} s later")


def summary_lines(timings: list[Timing]) -> list[str]:
    """One line per drill: its recovery time against its bound, and when the lesson held again."""
    lines = []
    for t in timings:
        if t.recovered is None:
            line = f"{t.drill}: NOT recovered within {t.bound:.0f} s"
        else:
            line = f"{t.drill}: recovered in {t.recovered:.1f} s (bound {t.bound:.0f} s)"
            if t.observed is not None:
                line += f", lesson observed again {t.observed:.1f} s later"
        lines.append(line)
    return lines
