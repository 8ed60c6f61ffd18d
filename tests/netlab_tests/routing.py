"""The network step's checks on one node, shared by tests/routing/test_routing.py and
the restart test (tests/routing/test_survives_restart.py), which checks them again on a
restarted node: plain functions, so that each test module collects only its own tests."""

from __future__ import annotations

import ipaddress

from netlab_tests.hosts import ip_json, ipv4_addresses
from netlab_tests.lab import Lab


def check_docker0_has_the_nodes_bip(lab: Lab, nodes, node_name: str) -> None:
    assert ipv4_addresses(nodes[node_name], "docker0") == [str(lab.nodes[node_name].bip)]


def check_routing_table_holds_exactly_the_other_nodes_pod_subnets(lab: Lab, nodes, node_name: str) -> None:
    routes = ip_json(nodes[node_name], "route", "show", "table", "main")
    pod_routes = {
        (r["dst"], r.get("gateway"), r.get("protocol"))
        for r in routes
        if r["dst"] != "default"
        and ipaddress.ip_network(r["dst"]).overlaps(lab.pod_cidr)
        and r.get("dev") != "docker0"
    }
    expected = {(str(o.pod_subnet), o.lab_ip, "netlab") for o in lab.others(node_name)}
    assert pod_routes == expected
    assert len(pod_routes) == len(lab.nodes) - 1
