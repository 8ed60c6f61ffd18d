"""The host egress guard: lab traffic never leaves this machine.

The "outside" here is a sentinel: a network namespace on this machine with an
address from TEST-NET-2, reached only through a veth pair this test makes. Lab
traffic sent to it must be dropped by the guard (its counters rise) and never
arrive (the sentinel's interface receives nothing). No packet leaves the machine:
the test checks the host routes the sentinel's address into the namespace before
it sends anything.
"""

from __future__ import annotations

import ipaddress
import json
import re

import pytest

from conftest import EGRESS_CHAIN, guard_drop_counters as drop_counters
from probe import PROBE_IMAGE, ensure_probe_image

CHAIN = EGRESS_CHAIN
SENTINEL_NS = "netlab-sentinel"
SENTINEL_HOST_IF, SENTINEL_NS_IF = "nlsent0", "nlsent1"
SENTINEL_HOST_ADDR, SENTINEL_ADDR = "198.51.100.1/30", "198.51.100.2"


@pytest.fixture(autouse=True)
def _container_lab_only(lab):
    if not lab.container_nodes:
        pytest.skip("the egress guard belongs to the embedded (container-node) lab")


def test_guard_sees_forwarded_traffic_before_docker_does(machine):
    forward = machine.check_output("iptables -w -S FORWARD").splitlines()
    assert forward[1] == "-A FORWARD -j DOCKER-USER"
    docker_user = machine.check_output("iptables -w -S DOCKER-USER").splitlines()
    assert re.match(rf"-A DOCKER-USER .*-j {CHAIN}$", docker_user[1])


def test_guard_ends_every_lab_range_with_a_drop(lab, machine):
    rules = machine.check_output("iptables -w -S %s", CHAIN).splitlines()
    for cidr in (lab.lab_network, lab.pod_cidr, lab.service_cidr):
        mine = [r for r in rules if f"-s {cidr} " in r]
        assert mine, f"no rule for {cidr}"
        assert mine[-1].endswith("-j DROP"), f"last rule for {cidr} is not a DROP: {mine[-1]}"
        allowed = [r for r in mine[:-1] if r.endswith("-j RETURN")]
        assert all("--dport 53" in r or "Debian mirror" in r for r in allowed), allowed


@pytest.fixture
def sentinel(lab, machine):
    """A namespace standing for "the outside", reachable only from this machine."""
    machine.run("ip netns del %s", SENTINEL_NS)
    machine.check_output("ip netns add %s", SENTINEL_NS)
    try:
        machine.check_output(
            "ip link add %s type veth peer name %s netns %s",
            SENTINEL_HOST_IF, SENTINEL_NS_IF, SENTINEL_NS,
        )
        machine.check_output("ip addr add %s dev %s", SENTINEL_HOST_ADDR, SENTINEL_HOST_IF)
        machine.check_output("ip link set %s up", SENTINEL_HOST_IF)
        ns_addr = f"{SENTINEL_ADDR}/{ipaddress.ip_interface(SENTINEL_HOST_ADDR).network.prefixlen}"
        machine.check_output("ip -n %s addr add %s dev %s", SENTINEL_NS, ns_addr, SENTINEL_NS_IF)
        machine.check_output("ip -n %s link set %s up", SENTINEL_NS, SENTINEL_NS_IF)
        # Count whatever arrives, from any source (a node behind a NAT interface, as
        # Vagrant's, sends with that interface's address).
        machine.check_output("ip netns exec %s iptables -w -A INPUT -j ACCEPT", SENTINEL_NS)
        route = json.loads(machine.check_output("ip -j route get %s", SENTINEL_ADDR))[0]
        if route.get("dev") != SENTINEL_HOST_IF:
            pytest.fail(f"{SENTINEL_ADDR} is not routed into the sentinel ({route}); sending nothing")
        yield SENTINEL_ADDR
    finally:
        machine.run("ip netns del %s", SENTINEL_NS)
        machine.run("ip link del %s", SENTINEL_HOST_IF)


def sentinel_lab_packets(machine) -> int:
    """Packets that reached the sentinel (its INPUT counters)."""
    out = machine.check_output("ip netns exec %s iptables -w -L INPUT -n -v -x", SENTINEL_NS)
    return sum(int(line.split()[0]) for line in out.splitlines()[2:] if line.strip())


def test_guard_drops_node_and_pod_traffic_to_the_outside(lab, nodes, machine, sentinel):
    """A node's and a pod's packets to the outside are dropped, whichever of the node's
    interfaces holds its default route (the lab interface here; on Vagrant machines
    a NAT interface on Docker's default bridge, which the guard covers too)."""
    node = nodes[next(iter(lab.nodes))]
    arrived_before = sentinel_lab_packets(machine)
    ensure_probe_image(node)

    before = drop_counters(machine)
    from_node = node.run("ping -c 2 -W 1 %s", sentinel)
    middle = drop_counters(machine)
    from_pod = node.run("docker run --rm %s ping -c 2 -W 1 %s", PROBE_IMAGE, sentinel)
    after = drop_counters(machine)

    assert from_node.rc != 0 and from_pod.rc != 0, "the outside answered"
    assert sum(middle.values()) - sum(before.values()) >= 2, "the node's packets were not dropped by the guard"
    assert after[str(lab.pod_cidr)] - middle[str(lab.pod_cidr)] >= 2, "the pod's packets were not dropped as pod traffic"
    assert sentinel_lab_packets(machine) == arrived_before == 0, "lab traffic reached the outside"
