"""The walk's report (tools/netlab_report/walk.py, `tools/lab-report --walk`), on one real
capture (fixtures/walk-capture.json, with the lab as observed at the time in
fixtures/walk-observations.json): the hops in order, the DNAT on the sending node
only, the drawing, and what bad input gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netlab_report import cli, walk
from netlab_report.diagram import Diagram
from netlab_report.observations import load_observations, parse_lab

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CAPTURE = FIXTURES / "walk-capture.json"
OBSERVATIONS = FIXTURES / "walk-observations.json"


@pytest.fixture(scope="module")
def capture() -> dict:
    return json.loads(CAPTURE.read_text())


@pytest.fixture(scope="module")
def walked(capture) -> walk.Walk:
    return walk.build(capture)


def test_the_hops_go_from_the_client_through_both_nodes_and_back(walked, capture):
    client, target = capture["client"]["node"], capture["target"]["node"]
    request = [(h.node, h.kind) for h in walked.hops if h.direction == "request"]
    assert request[0] == (client, "pod") and request[-1] == (target, "pod")
    assert (client, "route") in request and (client, "netfilter") in request and (target, "netfilter") in request
    nodes = [n for n, _ in request]
    assert nodes == sorted(nodes, key=lambda n: n != client), "every hop on the client's node comes first"
    reply = [h for h in walked.hops if h.direction == "reply"]
    assert reply[0].node == target and reply[-1].node == client and reply[-1].kind == "pod"
    assert [h.n for h in walked.hops] == list(range(1, len(walked.hops) + 1))


def test_the_dnat_is_the_sending_nodes_and_names_the_answering_pod(walked, capture):
    client, target = capture["client"], capture["target"]
    assert walked.dnat[client["node"]] == f"{target['ip']}:{target['port']}"
    assert walked.dnat[target["node"]] == ""
    nat = next(h for h in walked.hops if h.kind == "netfilter" and h.node == client["node"])
    assert [r.chain for r in nat.rules][:2] == ["PREROUTING", "KUBE-SERVICES"]
    assert nat.rules[-1].rule.endswith(f"--to-destination {target['ip']}:{target['port']}")


def test_every_wire_carries_the_client_pods_own_address(walked, capture):
    me = f"{capture['client']['ip']}:{capture['source_port']}"
    assert {h.src for h in walked.hops if h.kind == "wire" and h.direction == "request"} == {me}
    assert {h.dst for h in walked.hops if h.kind == "wire" and h.direction == "reply"} == {me}


def test_the_drawing_has_every_hop_inside_the_picture(walked):
    svg = walk.render_svg(walked, Diagram(parse_lab(load_observations(OBSERVATIONS))))
    assert walk.hops_inside(svg) == (len(walked.hops), 0)
    assert svg.count('class="path request"') == 1 and svg.count('class="path reply"') == 1


def test_a_hop_moved_out_of_the_picture_is_counted():
    svg = '<svg viewBox="0 0 100 100"><circle cx="50.0" cy="50.0" r="9"/><circle cx="150.0" cy="5.0" r="9"/></svg>'
    assert walk.hops_inside(svg) == (2, 1)


def test_parse_trace_keeps_each_packets_rules_in_order():
    lines = [
        "PACKET: 2 ab IN=docker0 SRC=10.1.10.4 DST=20.1.254.73 SPORT=1 DPORT=80 SYN ",
        " TRACE: 2 ab nat:PREROUTING:rule:0x19:JUMP:KUBE-SERVICES  -4 -t nat -A PREROUTING -j KUBE-SERVICES",
        " TRACE: 2 ab nat:PREROUTING:policy:ACCEPT ",
        "PACKET: 2 cd IN=docker0 SRC=10.1.10.4 DST=10.1.20.2 SPORT=1 DPORT=80 ACK ",
    ]
    parsed = walk.parse_trace(lines)
    assert [len(rules) for _, rules in parsed] == [2, 0]
    assert parsed[0][1][0] == walk.Rule("nat", "PREROUTING", "JUMP:KUBE-SERVICES", "-j KUBE-SERVICES")
    assert walk.first_packet_rules(parsed, "SYN")[1].verdict == "ACCEPT"


def test_lab_report_writes_the_walks_three_files(tmp_path):
    assert cli.main([str(OBSERVATIONS), str(tmp_path), "--walk", str(CAPTURE)]) == 0
    data = json.loads((tmp_path / "walk.json").read_text())
    assert len(data["hops"]) == len(walk.build(json.loads(CAPTURE.read_text())).hops)
    assert (tmp_path / "walk.txt").read_text().startswith("# One request, hop by hop")
    assert 'class="walk"' in (tmp_path / "walk.html").read_text()


def test_a_capture_that_is_not_a_walk_gets_one_sentence_and_nothing_is_written(tmp_path, capsys):
    bad = tmp_path / "capture.json"
    bad.write_text(json.dumps({"client": {}}))
    out = tmp_path / "out"
    assert cli.main([str(OBSERVATIONS), str(out), "--walk", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lab-report: not a walk capture") and len(err.splitlines()) == 1
    assert not out.exists()


def test_from_a_node_two_connections_meet_at_docker_proxy():
    capture = json.loads((FIXTURES / "walk-capture-from-node.json").read_text())
    w = walk.build(capture)
    me = f"{capture['client']['ip']}:{capture['source_port']}"
    kinds = [h.kind for h in w.hops]
    assert kinds[0] == "host" and kinds[-1] == "host" and kinds.count("proxy") == 2
    proxy = kinds.index("proxy")
    before = [h for h in w.hops[:proxy] if h.kind == "wire"]
    after = [h for h in w.hops[proxy:] if h.kind == "wire" and h.direction == "request"]
    assert {h.src for h in before} == {me}
    assert {h.dst for h in after} == {f"{capture['target']['ip']}:{capture['target']['port']}"}
    assert me not in {h.src for h in after}, "docker-proxy's own connection, from its node's docker0"
    assert set(w.dnat.values()) == {""}


def test_a_walk_that_never_reaches_the_other_node_ends_where_the_packet_was_seen_last():
    capture = json.loads((FIXTURES / "walk-capture-route-deleted.json").read_text())
    w = walk.build(capture)
    assert w.stopped == {"node": capture["client"]["node"], "where": w.lab_interfaces[capture["client"]["node"]]}
    assert w.hops[-1].kind == "stop" and not [h for h in w.hops if h.direction == "reply"]
    route = next(h for h in w.hops if h.kind == "route")
    assert route.via != capture["nodes"][capture["target"]["node"]]["lab_ip"]
