"""`make walk`: one request traced hop by hop (playbooks/walk.yml), checked against the lab.

Each variant runs the playbook once (module fixtures) and reads walk.json, which
tools/lab-report built from what every node captured. Expectations come from the
inventory (the nodes' lab IPs and pod subnets) and from the cluster (the Service's
cluster IP and Endpoints), never from literals.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from netlab_report.walk import hops_inside
from netlab_tests.ansible import run_playbook
from netlab_tests.lab import REPO

pytestmark = pytest.mark.lab

REPORT = REPO / ".netlab" / "report" / "walk"
SERVICE = "frontend"


def walk(lab, *extra: str) -> dict:
    run_playbook(lab, "walk.yml", *extra)
    return json.loads((REPORT / "walk.json").read_text())


@pytest.fixture(scope="module")
def service_walk(lab):
    return walk(lab), (REPORT / "walk.html").read_text()


@pytest.fixture(scope="module")
def pod_walk(lab, service_walk):
    return walk(lab, "-e", "walk_to=pod")


@pytest.fixture(scope="module")
def endpoints(kubectl, service_walk) -> dict[str, str]:
    """The Service's endpoints now: ip:port -> node."""
    ep = json.loads(kubectl("get", "endpoints", SERVICE, "-o", "json"))
    return {f"{a['ip']}:{p['port']}": a["nodeName"]
            for s in ep.get("subsets", []) for a in s.get("addresses", []) for p in s.get("ports", [])}


def wires(w: dict, direction: str) -> list[dict]:
    return [h for h in w["hops"] if h["kind"] == "wire" and h["direction"] == direction]


def check_path(lab, w: dict) -> None:
    """The hops every walk has: the source unchanged on every wire both ways, through the
    client's veth, both docker0s, both lab interfaces and the answering pod's veth, and
    the client node's route to the answering pod via that node's lab IP."""
    client, target = w["client"], w["target"]
    assert client["node"] != target["node"]
    assert ipaddress.ip_address(client["ip"]) in lab.nodes[client["node"]].pod_subnet
    assert ipaddress.ip_address(target["ip"]) in lab.nodes[target["node"]].pod_subnet
    me = f"{client['ip']}:{w['source_port']}"
    request, reply = wires(w, "request"), wires(w, "reply")
    assert request and reply
    assert {h["src"] for h in request} == {me}, "the client pod's own address on every wire, no SNAT"
    assert {h["dst"] for h in reply} == {me}
    seen = {(h["node"], h["where"]) for h in request}
    lab_if = w["lab_interfaces"]
    assert {(client["node"], client["veth"]), (client["node"], "docker0"), (client["node"], lab_if[client["node"]]),
            (target["node"], lab_if[target["node"]]), (target["node"], "docker0"),
            (target["node"], target["veth"])} <= seen
    # Between the nodes the packet is addressed to the answering pod itself.
    between = [h for h in request if h["where"] == lab_if[h["node"]]]
    assert {h["dst"] for h in between} == {f"{target['ip']}:{target['port']}"}
    routes = [h for h in w["hops"] if h["kind"] == "route"]
    assert [(h["node"], h["via"]) for h in routes] == [(client["node"], lab.nodes[target["node"]].lab_ip)]
    numbers = [h["n"] for h in w["hops"]]
    assert numbers == list(range(1, len(numbers) + 1))


def test_the_service_walk_is_dnatted_on_the_sending_node_only_to_an_endpoint_on_another_node(
        lab, service_walk, endpoints):
    w, _ = service_walk
    client, target = w["client"], w["target"]
    assert w["to"] == "service"
    assert f"{target['ip']}:{target['port']}" in endpoints
    assert endpoints[f"{target['ip']}:{target['port']}"] == target["node"] != client["node"]
    assert w["dnat"][client["node"]] == f"{target['ip']}:{target['port']}"
    assert {n: d for n, d in w["dnat"].items() if n != client["node"]} == {target["node"]: ""}
    check_path(lab, w)


def test_the_service_walk_shows_kube_proxys_chains_in_order(service_walk):
    w, _ = service_walk
    client = w["client"]
    nat = next(h for h in w["hops"] if h["kind"] == "netfilter" and h["node"] == client["node"]
               and h["where"] == "nat")
    chains = [r["chain"] for r in nat["rules"]]
    assert chains[:2] == ["PREROUTING", "KUBE-SERVICES"]
    assert chains[2].startswith("KUBE-SVC-") and chains[3].startswith("KUBE-SEP-")
    assert f"-d {w['destination']['address']}/32" in nat["rules"][1]["rule"]
    assert nat["rules"][3]["rule"].endswith(f"--to-destination {w['target']['ip']}:{w['target']['port']}")
    # The request left the client pod for the cluster IP; the answer came back from it.
    first = wires(w, "request")[0]
    assert first["dst"] == f"{w['destination']['address']}:{w['destination']['port']}"
    assert wires(w, "reply")[-1]["src"] == first["dst"]
    assert any(h["where"] == "conntrack" for h in w["hops"] if h["direction"] == "reply")


def test_the_pod_walk_is_dnatted_nowhere(lab, pod_walk, endpoints):
    w = pod_walk
    assert w["to"] == "pod"
    assert w["destination"]["address"] == w["target"]["ip"]
    assert f"{w['target']['ip']}:{w['target']['port']}" in endpoints
    assert set(w["dnat"].values()) == {""}
    check_path(lab, w)


def test_walk_html_draws_every_hop_inside_the_picture(service_walk):
    w, html = service_walk
    drawn, outside = hops_inside(html)
    assert drawn == len(w["hops"])
    assert outside == 0
    assert all(f'data-hop="{h["n"]}"' in html for h in w["hops"])


def test_the_walk_leaves_no_trace_rule_and_no_client_pod(nodes, kubectl, service_walk, pod_walk):
    for host in nodes.values():
        assert "-j TRACE" not in host.check_output("iptables-save -t raw")
    assert kubectl("get", "pods", "-l", "app.kubernetes.io/name=netlab-walk", "-o", "name") == ""


def test_the_capture_files_are_kept_for_the_report(service_walk):
    assert Path(REPORT, "walk-capture.json").is_file() and Path(REPORT, "walk.txt").is_file()
