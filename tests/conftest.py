"""Shared fixtures and hooks: the lab as the inventory describes it, and handles on its hosts.

The helpers are the package netlab_tests (tests/netlab_tests); expectations come from
the inventory (the same data the roles read), never from literals, so the tests hold
for any addressing a user chooses.
"""

from __future__ import annotations

import os

import pytest

# Assertions in the helpers (netlab_tests.routing's checks, ...) report as a test's do:
# registered before anything imports the package.
pytest.register_assert_rewrite("netlab_tests")

import testinfra  # noqa: E402

from netlab_tests.ansible import playbook_run  # noqa: E402
from netlab_tests.lab import REPO, Lab, inventory_path, load_lab  # noqa: E402
from netlab_tests.probe import remove_echo_servers  # noqa: E402
from netlab_tests.sentinel import sentinel as sentinel_namespace  # noqa: E402

# The labs this session tested (by inventory path): their logs are collected on failure.
_LABS: dict[str, Lab] = {}


def _lab(config: pytest.Config) -> Lab:
    path = inventory_path(config)
    if path not in _LABS:
        _LABS[path] = load_lab(path)
    return _LABS[path]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`node_name` runs a test once per lab node; `pair` once per ordered pair."""
    if "node_name" in metafunc.fixturenames:
        metafunc.parametrize("node_name", list(_lab(metafunc.config).nodes))
    if "pair" in metafunc.fixturenames:
        names = list(_lab(metafunc.config).nodes)
        pairs = [(a, b) for a in names for b in names if a != b]
        metafunc.parametrize("pair", pairs, ids=[f"{a}->{b}" for a, b in pairs])


@pytest.fixture(scope="session", autouse=True)
def _probe_echo_servers_go_at_the_end():
    """Echo servers started by tests (netlab_tests.probe.ensure_echo) go when the session ends."""
    yield
    remove_echo_servers()


@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest) -> Lab:
    return _lab(request.config)


@pytest.fixture(scope="session")
def nodes(lab: Lab):
    """Testinfra hosts by node name, reached the way Ansible reaches them."""
    return {
        name: testinfra.get_host(f"ansible://{name}?ansible_inventory={lab.inventory}")
        for name in lab.nodes
    }


@pytest.fixture(scope="session")
def cp(lab, nodes):
    """The first control-plane node."""
    return nodes[lab.control_plane[0]]


@pytest.fixture(scope="session")
def kubectl(lab, cp):
    """kubectl on the control-plane node, as the admin: kubectl("get", "pods") -> stdout."""

    def run(*args: str) -> str:
        return cp.check_output("kubectl --kubeconfig %s " + " ".join(["%s"] * len(args)), lab.admin_kubeconfig, *args)

    return run


@pytest.fixture(scope="session")
def machine():
    """This machine: the Docker engine that runs the node containers."""
    return testinfra.get_host("local://")


@pytest.fixture
def sentinel(machine):
    """The outside, as a namespace on this machine (netlab_tests.sentinel)."""
    with sentinel_namespace(machine) as outside:
        yield outside


# CI sets this: a run in which a test against the lab failed collects the lab's logs
# (playbooks/logs.yml, as `make logs` does) while the lab is still as the test left it.
LOGS_ON_FAILURE = "NETLAB_LOGS_ON_FAILURE"
LOGS_DIR = REPO / ".netlab" / "logs"


_LOGS_SAID: list[str] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus != pytest.ExitCode.TESTS_FAILED or not os.environ.get(LOGS_ON_FAILURE) or not _LABS:
        return
    for lab in _LABS.values():
        proc = playbook_run(lab, "logs.yml")
        if proc.returncode == 0:
            _LOGS_SAID.append("a test failed: the lab's logs (journals, docker ps -a, events) are in "
                              f"{LOGS_DIR}/<host>/")
        else:
            _LOGS_SAID.append(f"a test failed, and collecting the lab's logs failed too ({proc.returncode}):\n"
                              f"{proc.stdout[-3000:]}")


def pytest_terminal_summary(terminalreporter) -> None:
    for line in _LOGS_SAID:
        terminalreporter.write_line(line)
