"""What the fault drills share: the lesson's step 2 deployed once, and a recovery clock
(netlab_tests.recovery) whose times are printed at the end of the run, one line per drill."""

from __future__ import annotations

import pytest

from netlab_tests.ansible import run_playbook
from netlab_tests.recovery import DEFAULT_BOUND_S, TIMINGS, Recovery, summary_lines


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "bound(seconds): a fault drill's recovery bound")


@pytest.fixture(scope="session")
def lesson_step2(lab):
    """playbooks/step2-service.yml: the redis backend and the frontend x3 behind Services."""
    run_playbook(lab, "step2-service.yml")


@pytest.fixture
def recovery(request):
    """A recovery clock for this drill; its bound is the test's `bound` mark (default 240 s)."""
    mark = request.node.get_closest_marker("bound")
    return Recovery(request.node.name, float(mark.args[0]) if mark else DEFAULT_BOUND_S)


def pytest_terminal_summary(terminalreporter) -> None:
    if not TIMINGS:
        return
    terminalreporter.section("fault drills: recovery times")
    for line in summary_lines(TIMINGS):
        terminalreporter.write_line(line)
