"""The lab's network state is configuration, not luck: it comes back when a node
restarts (for a container node, `docker restart`; as a VM reboot would)."""

from __future__ import annotations

import pytest

from netlab_tests.probe import ask_echo, ensure_echo
from netlab_tests.routing import (
    check_docker0_has_the_nodes_bip,
    check_routing_table_holds_exactly_the_other_nodes_pod_subnets,
)
from netlab_tests.wait import wait_until


def test_routes_docker0_and_pod_traffic_are_back_after_a_node_restart(lab, nodes, machine):
    if not lab.container_nodes:
        pytest.skip("restarting a real VM is left to the VM scenario")
    names = list(lab.nodes)
    restarted, other = names[-1], names[0]
    host = nodes[restarted]

    machine.check_output("docker restart -t 20 %s", restarted)
    wait_until(
        lambda: host.run("systemctl is-system-running").stdout.strip() in ("running", "degraded"),
        timeout=120, what=f"{restarted} to boot",
    )
    wait_until(lambda: host.service("docker").is_running, what="Docker on the restarted node")

    check_docker0_has_the_nodes_bip(lab, nodes, restarted)
    check_routing_table_holds_exactly_the_other_nodes_pod_subnets(lab, nodes, restarted)
    # Traffic both ways, still without NAT.
    own, seen = ask_echo(host, ensure_echo(nodes[other]))
    assert seen == own
    own, seen = ask_echo(nodes[other], ensure_echo(host))
    assert seen == own
