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
def masq_walk(lab, pod_walk):
    return walk(lab, "-e", "walk_masquerade=true")


@pytest.fixture(scope="module")
def node_walk(lab, masq_walk):
    return walk(lab, "-e", "walk_from=node")


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


def test_with_dockers_ip_masq_the_source_becomes_the_nodes_lab_address_as_it_leaves(lab, masq_walk):
    """The chapter's contrast: Docker's default model (ip-masq) on the client's node for
    this walk; the pod's address is gone from the wire, and the answering pod sees the node."""
    w = masq_walk
    client, target = w["client"], w["target"]
    me, node_ip = f"{client['ip']}:{w['source_port']}", lab.nodes[client["node"]].lab_ip
    lab_if = w["lab_interfaces"]
    request = wires(w, "request")
    out = next(i for i, h in enumerate(request) if h["node"] == client["node"] and h["where"] == lab_if[h["node"]])
    assert {h["src"] for h in request[:out]} == {me}, "inside the client's node: the pod's own address"
    assert {h["src"].rsplit(":", 1)[0] for h in request[out:]} == {node_ip}, "on the wire and beyond: the node's"
    masq = [h for h in w["hops"] if h["where"] == "masquerade"]
    assert [h["node"] for h in masq] == [client["node"]]
    assert masq[0]["n"] < request[out]["n"]
    assert json.loads(w["answer"])["client_ip"] == node_ip != client["ip"]
    assert target["node"] != client["node"]


def test_the_masquerading_walk_takes_its_rule_away_again(nodes, masq_walk):
    for host in nodes.values():
        assert "netlab-walk" not in host.check_output("iptables-save -t nat")


@pytest.fixture
def route_deleted(lab, nodes, endpoints):
    """The client node's pod route to another node with a frontend pod, deleted; the
    lab's own route applier (netlab-pod-routes) puts it back afterwards."""
    client = next(iter(lab.nodes))
    there = sorted(node for node in set(endpoints.values()) if node != client)[0]
    host = nodes[client]
    host.check_output("ip route del %s", str(lab.nodes[there].pod_subnet))
    try:
        yield client, there
    finally:
        host.check_output("systemctl restart netlab-pod-routes.service")
        back = host.check_output("ip route show %s", str(lab.nodes[there].pod_subnet))
        assert f"via {lab.nodes[there].lab_ip}" in back


def test_with_a_pod_route_deleted_the_walk_shows_where_the_packet_stops(lab, route_deleted):
    client, there = route_deleted
    w = walk(lab, "-e", "walk_to=pod", "-e", f"walk_target_node={there}")
    assert w["target"]["node"] == there
    assert w["stopped"] == {"node": client, "where": w["lab_interfaces"][client]}
    assert not [h for h in w["hops"] if h["node"] == there], f"nothing seen on {there}"
    assert not [h for h in w["hops"] if h["direction"] == "reply"]
    route = next(h for h in w["hops"] if h["kind"] == "route")
    assert route["via"] != lab.nodes[there].lab_ip
    assert w["hops"][-1]["kind"] == "stop"


def test_from_a_node_the_hostport_is_answered_through_docker_proxy(lab, kubectl, node_walk):
    """A node to the frontend pod's hostPort at another node's lab IP: no DNAT anywhere;
    docker-proxy on that node takes the connection and opens its own, from that node's
    docker0 address to the pod, which sees docker-proxy, not the calling node."""
    w = node_walk
    client, target = w["client"], w["target"]
    there = lab.nodes[target["node"]]
    assert client["ip"] == lab.nodes[client["node"]].lab_ip and target["node"] != client["node"]
    pod = json.loads(kubectl("get", "pod", target["pod"], "-o", "json"))
    host_ports = {p.get("hostPort") for c in pod["spec"]["containers"] for p in c.get("ports", [])}
    assert w["destination"]["address"] == there.lab_ip and w["destination"]["port"] in host_ports
    assert set(w["dnat"].values()) == {""}
    assert [h["node"] for h in w["hops"] if h["kind"] == "proxy"] == [target["node"]] * 2
    me = f"{client['ip']}:{w['source_port']}"
    request = wires(w, "request")
    bridge = str(next(there.pod_subnet.hosts()))  # docker0 takes the subnet's first address (the inventory)
    first = [h for h in request if h["src"] == me]
    second = [h for h in request if h["src"] != me]
    assert {h["dst"] for h in first} == {f"{there.lab_ip}:{w['destination']['port']}"}
    assert {h["src"].rsplit(":", 1)[0] for h in second} == {bridge}
    assert {h["dst"] for h in second} == {f"{target['ip']}:{target['port']}"}
    assert {(h["node"], h["where"]) for h in second} == {(target["node"], "docker0"), (target["node"], target["veth"])}
    assert "docker-proxy" in w["hops"][[h["kind"] for h in w["hops"]].index("proxy")]["details"][0]
    assert json.loads(w["answer"])["client_ip"] == bridge


def test_walk_html_draws_every_hop_inside_the_picture(service_walk):
    w, html = service_walk
    drawn, outside = hops_inside(html)
    assert drawn == len(w["hops"])
    assert outside == 0
    assert all(f'data-hop="{h["n"]}"' in html for h in w["hops"])


def test_the_walk_leaves_no_trace_rule_and_no_client_pod(nodes, kubectl, service_walk, pod_walk, masq_walk,
                                                         node_walk):
    for host in nodes.values():
        assert "-j TRACE" not in host.check_output("iptables-save -t raw")
    assert kubectl("get", "pods", "-l", "app.kubernetes.io/name=netlab-walk", "-o", "name") == ""


def test_the_capture_files_are_kept_for_the_report(service_walk):
    assert Path(REPORT, "walk-capture.json").is_file() and Path(REPORT, "walk.txt").is_file()
