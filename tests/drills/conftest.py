"""What the fault drills share: the lesson's step 2 deployed once, a recovery clock
whose times are printed at the end of the run (one line per drill), and helpers.

pytest imports this file as the module `conftest`, so `from conftest import X` in
this directory (and in any test module collected after it) finds it rather than
tests/conftest.py: every name this file does not define is looked up in
tests/conftest.py (the same module object pytest loaded, not a copy).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

_ROOT_CONFTEST = Path(__file__).resolve().parent.parent / "conftest.py"
_root = None


def pytest_configure(config: pytest.Config) -> None:
    global _root  # noqa: PLW0603 - the one module pytest loaded for tests/conftest.py
    _root = config.pluginmanager.get_plugin(str(_ROOT_CONFTEST))
    config.addinivalue_line("markers", "bound(seconds): a fault drill's recovery bound")


def __getattr__(name: str):
    """tests/conftest.py's names (REPO, run_playbook, wait_until, ...), as if defined here."""
    if _root is None or name.startswith("__"):
        raise AttributeError(name)
    return getattr(_root, name)


# -- helpers -------------------------------------------------------------------------

def nodes_ready(kubectl, names) -> bool:
    """Every node in `names` has the condition Ready=True."""
    items = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    ready = {i["metadata"]["name"] for i in items
             for c in i["status"]["conditions"] if c["type"] == "Ready" and c["status"] == "True"}
    return set(names) <= ready


def main_pid(host, unit: str) -> int:
    """The unit's main process (0 while it has none)."""
    return int(host.check_output("systemctl show -p MainPID --value %s", unit) or 0)


# -- the lesson's step 2, deployed once for all drills ------------------------------

@pytest.fixture(scope="session")
def lesson_step2(lab):
    """playbooks/step2-service.yml: the redis backend and the frontend x3 behind Services."""
    _root.run_playbook(lab, "step2-service.yml")


# -- the recovery clock --------------------------------------------------------------

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
        result = _root.wait_until(check, timeout=max(left, 1), interval=interval, what=what)
        self.timing.recovered = time.monotonic() - self._start
        print(f"{self.timing.drill}: recovered in {self.timing.recovered:.1f} s (bound {self.timing.bound:.0f} s)")
        return result

    def observed(self, seconds: float) -> None:
        self.timing.observed = seconds
        print(f"{self.timing.drill}: the lesson's observations held {seconds:.1f} s later")


@pytest.fixture
def recovery(request):
    """A recovery clock for this drill; its bound is the test's `bound` mark (default 240 s)."""
    mark = request.node.get_closest_marker("bound")
    return Recovery(request.node.name, float(mark.args[0]) if mark else DEFAULT_BOUND_S)


DEFAULT_BOUND_S = 240


def pytest_terminal_summary(terminalreporter) -> None:
    if not TIMINGS:
        return
    terminalreporter.section("fault drills: recovery times")
    for t in TIMINGS:
        if t.recovered is None:
            line = f"{t.drill}: NOT recovered within {t.bound:.0f} s"
        else:
            line = f"{t.drill}: recovered in {t.recovered:.1f} s (bound {t.bound:.0f} s)"
            if t.observed is not None:
                line += f", lesson observed again {t.observed:.1f} s later"
        terminalreporter.write_line(line)
