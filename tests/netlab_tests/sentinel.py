"""A sentinel: a network namespace on this machine that stands for "the outside".

It holds an address from TEST-NET-2 (and one from IPv6's documentation range),
reached only through a veth pair made for the test. Lab traffic sent to it must be
dropped by the host's egress guard (its counters rise) and never arrive (the
sentinel counts everything it receives). No packet leaves the machine: before
anything is sent, the host must route the sentinel's addresses into the namespace.
Shared by the guard's tests (tests/routing) and the guard drill (tests/drills).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

NAMESPACE = "netlab-sentinel"
HOST_IF, NS_IF = "nlsent0", "nlsent1"
HOST_ADDR4, ADDR4 = ipaddress.ip_interface("198.51.100.1/30"), ipaddress.ip_address("198.51.100.2")
HOST_ADDR6, ADDR6 = ipaddress.ip_interface("2001:db8:5e::1/64"), ipaddress.ip_address("2001:db8:5e::2")
# Addresses a node adds to pretend it is someone else: outside every lab range
# (the tests check that against the inventory before using them).
FOREIGN4 = ipaddress.ip_interface("192.0.2.77/32")
FOREIGN6 = ipaddress.ip_interface("2001:db8:77::10/64")

GUARD = "/usr/local/sbin/netlab-egress-guard"
GUARD_CHAIN = "NETLAB-EGRESS"
GUARD_TABLES = ("mangle", "filter")


@dataclass(frozen=True)
class Sentinel:
    addr4: ipaddress.IPv4Address
    addr6: ipaddress.IPv6Address

    def received(self, machine) -> int:
        """Packets that reached the sentinel, IPv4 and IPv6 (its INPUT counters)."""
        total = 0
        for tool in ("iptables", "ip6tables"):
            out = machine.check_output("ip netns exec %s %s -w -L INPUT -n -v -x", NAMESPACE, tool)
            total += sum(int(line.split()[0]) for line in out.splitlines()[2:] if line.strip())
        return total


def _routed_into_namespace(machine, addr) -> bool:
    family = "-6" if addr.version == 6 else "-4"
    route = json.loads(machine.check_output("ip %s -j route get %s", family, str(addr)))[0]
    return route.get("dev") == HOST_IF


@contextlib.contextmanager
def sentinel(machine) -> Iterator[Sentinel]:
    """Make the sentinel namespace; remove it afterwards, whatever happened."""
    machine.run("ip netns del %s", NAMESPACE)
    machine.check_output("ip netns add %s", NAMESPACE)
    try:
        machine.check_output("ip link add %s type veth peer name %s netns %s", HOST_IF, NS_IF, NAMESPACE)
        machine.check_output("ip addr add %s dev %s", str(HOST_ADDR4), HOST_IF)
        machine.check_output("ip -6 addr add %s dev %s nodad", str(HOST_ADDR6), HOST_IF)
        machine.check_output("ip link set %s up", HOST_IF)
        ns = f"ip -n {NAMESPACE}"
        machine.check_output(f"{ns} addr add {ADDR4}/{HOST_ADDR4.network.prefixlen} dev {NS_IF}")
        machine.check_output(f"{ns} -6 addr add {ADDR6}/{HOST_ADDR6.network.prefixlen} dev {NS_IF} nodad")
        machine.check_output(f"{ns} link set {NS_IF} up")
        # Count whatever arrives, from any source (a node behind a NAT interface, as
        # Vagrant's, sends with that interface's address).
        for tool in ("iptables", "ip6tables"):
            machine.check_output("ip netns exec %s %s -w -A INPUT -j ACCEPT", NAMESPACE, tool)
        for addr in (ADDR4, ADDR6):
            if not _routed_into_namespace(machine, addr):
                raise AssertionError(f"{addr} is not routed into the sentinel; sending nothing")
        yield Sentinel(ADDR4, ADDR6)
    finally:
        machine.run("ip netns del %s", NAMESPACE)
        machine.run("ip link del %s", HOST_IF)


def guard_counters(machine, family: int = 4) -> dict[str, int]:
    """Packets each rule of the host's egress guard has matched, by the rule's comment,
    summed over its two copies (mangle, which forwarded packets meet first, and filter)."""
    tool = "ip6tables" if family == 6 else "iptables"
    counters: dict[str, int] = {}
    for table in GUARD_TABLES:
        out = machine.check_output("%s -w -t %s -L %s -n -v -x", tool, table, GUARD_CHAIN)
        for line in out.splitlines()[2:]:
            comment = re.search(r"/\* (.*) \*/", line)
            if comment:
                counters[comment.group(1)] = counters.get(comment.group(1), 0) + int(line.split()[0])
    return counters


def guard_drop_counters(machine) -> dict[str, int]:
    """Packets each drop rule of the host's egress guard (IPv4) has dropped, by comment."""
    return {comment: n for comment, n in guard_counters(machine).items() if " drop " in comment}


def dropped(counters: dict[str, int], kind: str) -> int:
    """Sum of the guard's drop rules of one kind over every bridge: "any other source"
    (the catch-all of a lab bridge), or "from <cidr>" (a lab range, on a lab bridge)."""
    return sum(n for comment, n in counters.items()
               if re.match(rf"netlab: \S+ drop {re.escape(kind)}$", comment))


def guard_check(machine):
    """`netlab-egress-guard check`: rc 0 when the guard runs exactly as saved."""
    return machine.run(GUARD + " check")


def lab_machine_bridges(machine, label: str) -> set[str]:
    """The host bridges that lab machines (node containers, Vagrant's) sit on."""
    networks: set[str] = set()
    for container in machine.check_output("docker ps -q").split():
        info = json.loads(machine.check_output("docker inspect %s", container))[0]
        attached = info["NetworkSettings"]["Networks"]
        if "netlab" in attached or info["Config"]["Labels"].get(label):
            networks.update(attached)
    bridges = set()
    for name in networks:
        net = json.loads(machine.check_output("docker network inspect %s", name))[0]
        bridges.add(net["Options"].get("com.docker.network.bridge.name") or f"br-{net['Id'][:12]}")
    return bridges


def lab_interfaces(machine, label: str) -> set[str]:
    """This machine's interfaces that carry only lab traffic: the bridges lab machines
    sit on and their ports (a node container's or a Vagrant machine's veth)."""
    bridges = lab_machine_bridges(machine, label)
    ports = {link["ifname"] for bridge in bridges
             for link in json.loads(machine.check_output("ip -j link show master %s", bridge) or "[]")}
    return bridges | ports
