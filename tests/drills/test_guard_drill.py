"""Drill: the egress guard is flushed with the lab up, then the engine restarts.

A firewall reload or an `iptables -F` empties the filter table's copy of the guard
while the lab runs (its mangle copy, which `iptables -F` leaves alone, keeps every
lab packet in meanwhile); `make status` flags it. When the engine starts again its restart policy brings the lab's
machines back by themselves - and the saved guard is loaded before the engine
starts (tools/host-engine here; a drop-in of docker.service on systemd hosts), so no
lab packet leaves. One command (`make lab`'s first playbook, lab-up.yml) then finds
everything in place, and the cluster is Ready again. `make drills` runs this.
"""

from __future__ import annotations

import json
import time

import pytest

from netlab_tests.ansible import run_playbook
from netlab_tests.hosts import nodes_ready
from netlab_tests.lab import REPO
from netlab_tests.sentinel import FOREIGN4, GUARD, GUARD_CHAIN, dropped, guard_check, guard_counters
from netlab_tests.wait import wait_until

ENGINE = REPO / "tools" / "host-engine"
# Generous bounds: the drill fails past them; `make bench` keeps the real targets.
ENGINE_BACK_S = 120
CLUSTER_READY_S = 300


@pytest.fixture(autouse=True)
def _container_lab_only(lab):
    if not lab.container_nodes:
        pytest.skip("the drill restarts the engine that runs the container nodes")


def started_at(machine, names) -> dict[str, str]:
    return {name: json.loads(machine.check_output("docker inspect %s", name))[0]["State"]["StartedAt"]
            for name in names}


def engine_restartable(machine) -> bool:
    """tools/host-engine restart works for an engine it started, or docker.service."""
    pidfile = REPO / ".netlab" / "dockerd.pid"
    return pidfile.exists() or machine.run("systemctl is-active --quiet docker").rc == 0


def test_a_flushed_guard_is_back_before_the_engine_restarts_the_lab(lab, nodes, machine, kubectl, sentinel):
    if not engine_restartable(machine):
        pytest.skip("this engine was started neither by k8s-netlab nor by systemd: restart it yourself")
    machines = [*lab.nodes, *lab.services]
    before = started_at(machine, machines)
    try:
        # A flush, as `iptables -F` leaves it: the filter chains are empty.
        for tool in ("iptables", "ip6tables"):
            machine.check_output("%s -w -F %s", tool, GUARD_CHAIN)
        assert guard_check(machine).rc != 0
        status = machine.run(str(REPO / "tools" / "lab-status"))
        assert status.rc != 0 and "NOT AS SAVED" in status.stdout, status.stdout

        start = time.monotonic()
        restart = machine.run(f"{ENGINE} restart")
        engine_s = time.monotonic() - start
        assert restart.rc == 0, restart.stderr
        log = restart.stderr
        if "restarting docker.service" in log:  # systemd: the drop-in loaded it, in the journal
            log = machine.check_output("journalctl -u docker -n 200 --no-pager")
            assert "netlab-egress-guard: loaded the saved guard" in log, log[-2000:]
        else:
            assert "loaded the saved egress guard" in log, log
            if "starting dockerd" in log:
                assert log.index("loaded the saved egress guard") < log.index("starting dockerd"), log
        print(f"engine back in {engine_s:.0f} s")
        assert engine_s < ENGINE_BACK_S

        # The engine answered: its restart policy has started the lab again, guarded.
        check = guard_check(machine)
        assert check.rc == 0, check.stdout
    finally:
        if guard_check(machine).rc != 0:
            machine.run(GUARD + " apply")
    wait_until(lambda: all(json.loads(machine.check_output("docker inspect %s", n))[0]["State"]["Running"]
                           for n in machines), timeout=60, what="the lab's machines to run again")
    after = started_at(machine, machines)
    assert all(after[n] != before[n] for n in machines), "a machine did not restart with the engine"

    # No lab packet leaves: a node sends from an address outside every lab range,
    # and from its lab IP.
    first = next(iter(lab.nodes.values()))
    node = nodes[first.name]
    wait_until(lambda: node.run("true").rc == 0, timeout=60, what=f"{first.name} to answer")
    interface = next(link["ifname"] for link in json.loads(node.check_output("ip -j -4 addr show"))
                     for a in link["addr_info"] if a["local"] == first.lab_ip)
    node.check_output("ip addr add %s dev %s", str(FOREIGN4), interface)
    try:
        counted = guard_counters(machine)
        node.run("ping -c 3 -W 1 -I %s %s", str(FOREIGN4.ip), str(sentinel.addr4))
        node.run("ping -c 3 -W 1 %s", str(sentinel.addr4))
        now = guard_counters(machine)
    finally:
        node.run("ip addr del %s dev %s", str(FOREIGN4), interface)
    assert sentinel.received(machine) == 0, "lab traffic left after the engine restart"
    assert dropped(now, "any other source") - dropped(counted, "any other source") >= 3
    own = f"from {lab.lab_network}"
    assert dropped(now, own) - dropped(counted, own) >= 3

    # One command brings the lab back as `make lab` leaves it: guarded, nodes Ready.
    run_playbook(lab, "lab-up.yml")
    assert guard_check(machine).rc == 0
    start = time.monotonic()
    wait_until(lambda: nodes_ready(kubectl, lab.nodes), timeout=CLUSTER_READY_S, interval=5,
               what="every node Ready after the engine restart")
    print(f"cluster Ready {time.monotonic() - start:.0f} s after lab-up.yml")
