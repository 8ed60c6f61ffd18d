"""Shared fixtures: the lab as the inventory describes it, and handles on its hosts.

Expectations come from the inventory (the same data the roles read), never from
literals, so the tests hold for any addressing a user chooses.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import testinfra

from probe import remove_echo_servers
from sentinel import guard_counters, sentinel as sentinel_namespace

REPO = Path(__file__).resolve().parent.parent
DEFAULT_INVENTORY = REPO / "inventory" / "lab" / "hosts.yml"
NODES_GROUP = "nodes"


@dataclass(frozen=True)
class Node:
    """One lab node, as the inventory describes it."""

    name: str
    lab_ip: str
    pod_subnet: ipaddress.IPv4Network
    bip: ipaddress.IPv4Interface


@dataclass(frozen=True)
class Lab:
    """The lab's addressing, as the inventory describes it."""

    inventory: str
    nodes: dict[str, Node]
    control_plane: list[str]
    services: dict[str, str]  # the lab's other hosts (the depot): name -> lab IP
    lab_network: ipaddress.IPv4Network
    pod_cidr: ipaddress.IPv4Network
    service_cidr: ipaddress.IPv4Network
    mtu: int
    container_nodes: bool

    def others(self, name: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.name != name]


def inventory_path(config: pytest.Config) -> str:
    return (
        getattr(config.option, "ansible_inventory", None)
        or os.environ.get("NETLAB_INVENTORY")
        or str(DEFAULT_INVENTORY)
    )


def load_lab(path: str) -> Lab:
    """Read the inventory the way Ansible does (ansible-inventory --list)."""
    out = subprocess.run(
        ["ansible-inventory", "-i", path, "--list"],
        check=True, capture_output=True, text=True, cwd=REPO,
    ).stdout
    data = json.loads(out)
    hostvars = data["_meta"]["hostvars"]
    names = data[NODES_GROUP]["hosts"]
    first = hostvars[names[0]]
    nodes = {}
    for name in names:
        hv = hostvars[name]
        subnet = ipaddress.ip_network(hv["netlab_pod_subnet"])
        bip = hv.get("docker_bip") or f"{subnet.network_address + 1}/{subnet.prefixlen}"
        nodes[name] = Node(name, hv["netlab_lab_ip"], subnet, ipaddress.ip_interface(bip))
    services = {name: hostvars[name]["netlab_lab_ip"] for name in data.get("services", {}).get("hosts", [])}
    return Lab(
        inventory=path,
        nodes=nodes,
        control_plane=data.get("control_plane", {}).get("hosts", []),
        services=services,
        lab_network=ipaddress.ip_network(first["netlab_lab_network"]),
        pod_cidr=ipaddress.ip_network(first["netlab_pod_cidr"]),
        service_cidr=ipaddress.ip_network(first["netlab_service_cidr"]),
        mtu=int(first["netlab_mtu"]),
        # A string in INI inventories (Vagrant writes one): read it as Ansible's `bool` does.
        container_nodes=str(first.get("netlab_container_node", False)).lower() in ("true", "yes", "1", "on"),
    )


_LAB_CACHE: dict[str, Lab] = {}


def _lab(config: pytest.Config) -> Lab:
    path = inventory_path(config)
    if path not in _LAB_CACHE:
        _LAB_CACHE[path] = load_lab(path)
    return _LAB_CACHE[path]


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
    """Echo servers started by tests (probe.ensure_echo) go when the session ends."""
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


ADMIN = "/etc/kubernetes/admin.kubeconfig"


@pytest.fixture(scope="session")
def cp(lab, nodes):
    """The first control-plane node."""
    return nodes[lab.control_plane[0]]


@pytest.fixture(scope="session")
def kubectl(cp):
    """kubectl on the control-plane node, as the admin: kubectl("get", "pods") -> stdout."""

    def run(*args: str) -> str:
        return cp.check_output("kubectl --kubeconfig %s " + " ".join(["%s"] * len(args)), ADMIN, *args)

    return run


def playbook_run(lab: Lab, playbook: str, *args: str) -> subprocess.CompletedProcess:
    """Run one of the project's playbooks against the lab's inventory."""
    return subprocess.run(
        ["ansible-playbook", "-i", lab.inventory, str(REPO / "playbooks" / playbook), *args],
        capture_output=True, text=True, cwd=REPO,
        # Plain text to read, even under molecule (which forces colour on).
        env={**os.environ, "ANSIBLE_FORCE_COLOR": "false", "ANSIBLE_NOCOLOR": "true"},
    )


def run_playbook(lab: Lab, playbook: str, *args: str) -> str:
    """Run one of the project's playbooks against the lab's inventory; fail with its output."""
    proc = playbook_run(lab, playbook, *args)
    if proc.returncode != 0:
        pytest.fail(f"ansible-playbook {playbook} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}")
    return proc.stdout


@pytest.fixture(scope="session")
def machine():
    """This machine: the Docker engine that runs the node containers."""
    return testinfra.get_host("local://")


def wait_until(check, timeout: float = 60, interval: float = 1, what: str = "condition"):
    """Poll `check()` until it returns a truthy value; fail with `what` on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - keep polling; report the last failure
            last = exc
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def ip_json(host, *args: str):
    """`ip -j -4 <args>` on a host, parsed."""
    return json.loads(host.check_output("ip -j -4 " + " ".join(args)) or "[]")


def ipv4_addresses(host, interface: str) -> list[str]:
    """The interface's IPv4 addresses with their prefix length, as `ip addr` lists them."""
    return [f"{a['local']}/{a['prefixlen']}" for link in ip_json(host, "addr", "show", "dev", interface)
            for a in link["addr_info"]]


@pytest.fixture
def sentinel(machine):
    """The outside, as a namespace on this machine (tests/sentinel.py)."""
    with sentinel_namespace(machine) as outside:
        yield outside


def guard_drop_counters(machine) -> dict[str, int]:
    """Packets each drop rule of the host's egress guard (IPv4) has dropped, by comment."""
    return {comment: n for comment, n in guard_counters(machine).items() if " drop " in comment}


# CI sets this: a run in which a test against the lab failed collects the lab's logs
# (playbooks/logs.yml, as `make logs` does) while the lab is still as the test left it.
LOGS_ON_FAILURE = "NETLAB_LOGS_ON_FAILURE"
LOGS_DIR = REPO / ".netlab" / "logs"


_LOGS_SAID: list[str] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus != pytest.ExitCode.TESTS_FAILED or not os.environ.get(LOGS_ON_FAILURE) or not _LAB_CACHE:
        return
    for lab in _LAB_CACHE.values():
        proc = playbook_run(lab, "logs.yml")
        if proc.returncode == 0:
            _LOGS_SAID.append(f"a test failed: the lab's logs (journals, docker ps -a, events) are in {LOGS_DIR}/<host>/")
        else:
            _LOGS_SAID.append(f"a test failed, and collecting the lab's logs failed too ({proc.returncode}):\n"
                              f"{proc.stdout[-3000:]}")


def pytest_terminal_summary(terminalreporter) -> None:
    for line in _LOGS_SAID:
        terminalreporter.write_line(line)
