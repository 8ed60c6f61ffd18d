"""The host egress guard: lab traffic never leaves this machine.

The "outside" is a sentinel namespace on this machine (tests/sentinel.py). Lab
traffic sent to it - from a node, from a pod, from an address a node adds outside
every lab range, as a pod's raw packet with a forged source, over IPv6 - must be
dropped by the guard (its counters rise) and never arrive. No packet is sent to any
address outside this machine.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator

import pytest

from netlab_tests.ansible import ansible_playbook, playbook_run, run_playbook
from netlab_tests.hosts import ip_json
from netlab_tests.lab import REPO
from netlab_tests.probe import PROBE_IMAGE, ensure_probe_image
from netlab_tests.sentinel import (
    FOREIGN4,
    FOREIGN6,
    GUARD,
    GUARD_CHAIN,
    dropped,
    guard_check,
    guard_counters,
    lab_machine_bridges,
)

HOOK_COMMENT = "k8s-netlab egress guard"
FORGER = "netlab-forger"

# A raw IPv4/ICMP echo request with whatever source the caller names (IP_HDRINCL):
# what a pod with CAP_NET_RAW can send.
RAW_PING = r"""
import socket, struct, sys
src, dst = sys.argv[1], sys.argv[2]
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF
icmp = struct.pack("!BBHHH", 8, 0, 0, 0x4E4C, 1) + b"netlab-forged"
icmp = icmp[:2] + struct.pack("!H", csum(icmp + b"\0" * (len(icmp) % 2))) + icmp[4:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0, 64, socket.IPPROTO_ICMP, 0,
                 socket.inet_aton(src), socket.inet_aton(dst))
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
for _ in range(3):
    s.sendto(ip + icmp, (dst, 0))
"""


@pytest.fixture(autouse=True)
def _container_lab_only(lab):
    if not lab.container_nodes:
        pytest.skip("the egress guard belongs to the lab host of container nodes")


@pytest.fixture
def first(lab):
    """The lab's first node, as the inventory describes it."""
    return next(iter(lab.nodes.values()))


@pytest.fixture
def node(first, nodes):
    return nodes[first.name]


def drops(counters: dict[str, int]) -> int:
    """Packets all the guard's drop rules have dropped (not what they let pass)."""
    return sum(n for comment, n in counters.items() if " drop " in comment)


def lab_ranges(lab) -> list:
    return [lab.lab_network, lab.pod_cidr, lab.service_cidr]


def lab_interface(host, lab_ip: str) -> str:
    """The interface that holds the lab IP (a node's, or the host's bridge for the gateway)."""
    names = [link["ifname"] for link in ip_json(host, "addr", "show")
             for a in link["addr_info"] if a["local"] == lab_ip]
    assert len(names) == 1, f"{len(names)} interfaces hold {lab_ip}"
    return names[0]


def test_guard_runs_exactly_as_saved(machine):
    check = guard_check(machine)
    assert check.rc == 0, check.stdout + check.stderr


def test_guard_sees_forwarded_traffic_first(machine):
    """Both copies of the guard are hooked first, for IPv4 and IPv6: in mangle FORWARD
    (which Docker never edits) and in DOCKER-USER, first in filter FORWARD."""
    hook = f'-m comment --comment "{HOOK_COMMENT}" -j {GUARD_CHAIN}'
    for tool in ("iptables", "ip6tables"):
        assert machine.check_output("%s -w -t mangle -S FORWARD", tool).splitlines()[1] == f"-A FORWARD {hook}", tool
        assert machine.check_output("%s -w -S FORWARD", tool).splitlines()[1] == "-A FORWARD -j DOCKER-USER", tool
        assert machine.check_output("%s -w -S DOCKER-USER", tool).splitlines()[1] == f"-A DOCKER-USER {hook}", tool


def test_every_bridge_a_lab_machine_sits_on_is_guarded(machine, lab):
    bridges = lab_machine_bridges(machine, lab.lab_label)
    assert bridges, "no lab machine found"
    for family in (4, 6):
        comments = guard_counters(machine, family)
        for bridge in bridges:
            assert f"netlab: {bridge} drop any other source" in comments, f"IPv{family}: {bridge} is not guarded"


def test_guard_allows_only_dns_and_the_mirror_from_the_lab_network(lab, machine):
    rules = [r for r in machine.check_output("iptables -w -S %s", GUARD_CHAIN).splitlines()
             if r.endswith("-j RETURN")]
    for rule in rules:
        if "stays on" in rule:
            bridge = re.search(r"-i (\S+) -o (\S+)", rule)
            assert bridge and bridge.group(1) == bridge.group(2), rule
            continue
        assert "--dport 53" in rule or "Debian mirror" in rule, rule
        source = ipaddress.ip_network(re.search(r"-s (\S+)", rule).group(1))
        assert not source.overlaps(lab.pod_cidr) and not source.overlaps(lab.service_cidr), rule
    assert all(r.endswith("-j DROP") or "stays on" in r
               for r in machine.check_output("ip6tables -w -S %s", GUARD_CHAIN).splitlines()[1:])


def test_status_and_the_network_play_flag_a_guard_with_a_rule_missing(lab, machine):
    """An allow rule goes missing from the filter copy (tighter, never looser): make
    status and the network play both say so; the guard is then loaded again."""
    rules = machine.check_output("iptables -w -S %s", GUARD_CHAIN).splitlines()[1:]
    number, victim = next((i, r) for i, r in enumerate(rules, 1)
                          if "-j RETURN" in r and "stays on" not in r)
    try:
        machine.check_output("iptables -w -D %s %s", GUARD_CHAIN, str(number))
        status = machine.run(str(REPO / "tools" / "lab-status"))
        assert status.rc != 0, "make status did not flag the guard"
        assert "NOT AS SAVED" in status.stdout and victim in status.stdout, status.stdout
        play = playbook_run(lab, "network.yml", "--tags", "egress_guard")
        assert play.returncode != 0 and "not the one saved" in play.stdout, play.stdout[-3000:]
    finally:
        machine.check_output(GUARD + " apply")
    assert guard_check(machine).rc == 0


def test_guard_drops_node_and_pod_traffic_to_the_outside(lab, node, machine, sentinel):
    """A node's and a pod's packets to the outside are dropped, whichever of the node's
    interfaces holds its default route (the lab interface here; on Vagrant machines
    a NAT interface on Docker's default bridge, which the guard covers too)."""
    ensure_probe_image(node)
    before = guard_counters(machine)
    from_node = node.run("ping -c 2 -W 1 %s", str(sentinel.addr4))
    middle = guard_counters(machine)
    from_pod = node.run("docker run --rm %s ping -c 2 -W 1 %s", PROBE_IMAGE, str(sentinel.addr4))
    after = guard_counters(machine)

    assert from_node.rc != 0 and from_pod.rc != 0, "the outside answered"
    # Dropped by some drop rule: "from <lab network>" here, the NAT bridge's catch-all
    # on Vagrant machines (their default route leaves with that interface's address).
    assert drops(middle) - drops(before) >= 2, "the node's packets were not dropped by the guard"
    pod_rule = f"from {lab.pod_cidr}"
    assert dropped(after, pod_rule) - dropped(middle, pod_rule) >= 2, \
        "the pod's packets were not dropped as pod traffic"
    assert sentinel.received(machine) == 0, "lab traffic reached the outside"


@pytest.fixture
def foreign_address(lab, first, node) -> Iterator[str]:
    """An address outside every lab range, added to the node's lab interface."""
    assert not any(FOREIGN4.network.overlaps(r) for r in lab_ranges(lab))
    interface = lab_interface(node, first.lab_ip)
    node.check_output("ip addr add %s dev %s", str(FOREIGN4), interface)
    try:
        yield str(FOREIGN4.ip)
    finally:
        node.run("ip addr del %s dev %s", str(FOREIGN4), interface)


def test_guard_drops_a_node_added_address_outside_every_lab_range(node, machine, sentinel, foreign_address):
    before = guard_counters(machine)
    sent = node.run("ping -c 3 -W 1 -I %s %s", foreign_address, str(sentinel.addr4))
    after = guard_counters(machine)
    assert sent.rc != 0, "the outside answered"
    assert sentinel.received(machine) == 0, "a packet from a foreign address reached the outside"
    assert dropped(after, "any other source") - dropped(before, "any other source") >= 3, \
        "the guard's catch-all did not drop the packets"


@pytest.fixture
def forger(node) -> Iterator[str]:
    """A pod (a container of the node's Docker) and its process ID on the node."""
    ensure_probe_image(node)
    node.run("docker rm -f %s", FORGER)
    node.check_output("docker run -d --name %s %s sleep 120", FORGER, PROBE_IMAGE)
    try:
        yield node.check_output("docker inspect -f '{{.State.Pid}}' %s", FORGER)
    finally:
        node.run("docker rm -f %s", FORGER)


def test_guard_drops_a_pods_raw_packet_with_a_forged_source(lab, node, machine, sentinel, forger):
    forged = ipaddress.ip_address("192.0.2.99")
    assert not any(forged in r for r in lab_ranges(lab))
    before = guard_counters(machine)
    node.check_output("nsenter -t %s -n python3 -c %s %s %s", forger, RAW_PING, str(forged), str(sentinel.addr4))
    after = guard_counters(machine)
    assert sentinel.received(machine) == 0, "a forged packet reached the outside"
    assert dropped(after, "any other source") - dropped(before, "any other source") >= 3, \
        "the forged packets were not dropped by the guard's catch-all"


@pytest.fixture
def ipv6_forwarding(machine) -> Iterator[None]:
    """IPv6 forwarding on, on this machine, for the test only: the worst case, a host
    that routes IPv6 (this one does not by default, and then nothing even reaches the
    guard). Every interface's own setting is put back afterwards."""
    saved = dict(line.split(" = ") for line in machine.check_output(
        "sysctl -a -r '^net[.]ipv6[.]conf[.].*[.]forwarding$'").splitlines() if " = " in line)
    machine.check_output("sysctl -qw net.ipv6.conf.all.forwarding=1")
    try:
        yield
    finally:
        machine.run("sysctl -qw net.ipv6.conf.all.forwarding=%s", saved.get("net.ipv6.conf.all.forwarding", "0"))
        for key, value in saved.items():
            machine.run("sysctl -qw %s=%s", key, value)


def test_guard_drops_ipv6_from_a_node(lab, first, node, machine, sentinel, ipv6_forwarding):
    gateway = str(next(lab.lab_network.hosts()))
    bridge = lab_interface(machine, gateway)
    link_local = json.loads(machine.check_output("ip -j -6 addr show dev %s scope link", bridge))
    assert link_local and link_local[0]["addr_info"], f"{bridge} has no IPv6 link-local address"
    router = link_local[0]["addr_info"][0]["local"]
    interface = lab_interface(node, first.lab_ip)
    disabled = node.check_output("sysctl -n net.ipv6.conf.%s.disable_ipv6", interface)
    try:
        node.check_output("sysctl -qw net.ipv6.conf.%s.disable_ipv6=0", interface)
        node.check_output("ip -6 addr add %s dev %s nodad", str(FOREIGN6), interface)
        node.check_output("ip -6 route replace %s/128 via %s dev %s", str(sentinel.addr6), router, interface)
        before = guard_counters(machine, 6)
        sent = node.run("ping -6 -c 3 -W 1 %s", str(sentinel.addr6))
        after = guard_counters(machine, 6)
    finally:
        node.run("ip -6 route del %s/128", str(sentinel.addr6))
        node.run("ip -6 addr del %s dev %s", str(FOREIGN6), interface)
        node.run("sysctl -qw net.ipv6.conf.%s.disable_ipv6=%s", interface, disabled)
    assert sent.rc != 0, "the outside answered over IPv6"
    assert sentinel.received(machine) == 0, "IPv6 from a node reached the outside"
    assert dropped(after, "any other source") - dropped(before, "any other source") >= 3, \
        "the IPv6 guard did not drop the node's packets"


def test_the_guard_is_not_removed_while_a_lab_machine_runs(lab, machine, tmp_path):
    """`make clean` removes the guard last; asked to remove it while lab machines still
    sit on a lab bridge, the role refuses and leaves it as it was."""
    play = tmp_path / "guard-absent.yml"
    play.write_text(
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n"
        "  roles: [{role: egress_guard, egress_guard_state: absent}]\n"
    )
    try:
        # --check: should the refusal ever break, nothing is removed all the same.
        proc = ansible_playbook(play, "--check", inventory=lab.inventory,
                                env={"ANSIBLE_ROLES_PATH": str(REPO / "roles")})
        assert proc.returncode != 0, "the guard was removed while the lab runs"
        assert "the egress guard stays until they are gone" in proc.stdout, proc.stdout[-3000:]
        check = guard_check(machine)
        assert check.rc == 0, check.stdout
    finally:
        if guard_check(machine).rc != 0:  # removed after all: install it again at once
            run_playbook(lab, "lab-up.yml")
