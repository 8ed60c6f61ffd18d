"""make bench's pure parts: deriving extra nodes, reading the timing callback's lines,
memory from memory.stat, iperf3's JSON, medians, the goals."""

from __future__ import annotations

import ipaddress
import json

import pytest

from netlab_bench import dataplane, lab, report, scale, timing
from netlab_bench.stats import figure
from netlab_tests.lab import DEFAULT_INVENTORY, load_lab


def test_derive_nodes_continues_the_inventory_step():
    the_lab = load_lab(str(DEFAULT_INVENTORY))
    base = [(n.name, n.lab_ip, str(n.pod_subnet)) for n in the_lab.nodes.values()]
    extra = scale.derive_nodes(base, 6, str(the_lab.lab_network), str(the_lab.pod_cidr))
    assert len(extra) == 6 - len(base)
    names = [n for n, _, _ in base + extra]
    ips = [ip for _, ip, _ in base + extra]
    nets = [net for _, _, net in base + extra]
    assert len(set(names)) == len(set(ips)) == len(set(nets)) == 6
    def start(net: str) -> int:
        return int(ipaddress.ip_network(net).network_address)
    assert start(extra[0][2]) - start(base[-1][2]) == start(base[-1][2]) - start(base[-2][2])
    assert int(ipaddress.ip_address(extra[0][1])) - int(ipaddress.ip_address(base[-1][1])) == (
        int(ipaddress.ip_address(base[-1][1])) - int(ipaddress.ip_address(base[-2][1])))
    for _, ip, net in extra:
        assert ipaddress.ip_address(ip) in the_lab.lab_network
        assert ipaddress.ip_network(net).subnet_of(the_lab.pod_cidr)


def test_derive_nodes_refuses_to_leave_the_lab_network():
    base = [("node1", "192.168.1.253", "10.1.10.0/24"), ("node2", "192.168.1.254", "10.1.20.0/24")]
    with pytest.raises(ValueError, match="outside"):
        scale.derive_nodes(base, 3, "192.168.1.0/24", "10.1.0.0/16")


def test_override_adds_to_the_nodes_group():
    text = scale.override([("node4", "192.168.1.132", "10.1.40.0/24")])
    import yaml
    data = yaml.safe_load(text)
    assert data["all"]["children"]["nodes"]["hosts"]["node4"] == {
        "netlab_lab_ip": "192.168.1.132", "netlab_pod_subnet": "10.1.40.0/24"}


def test_timing_lines_sum_plays_and_rank_tasks(tmp_path):
    lines = [{"playbook": "lab.yml", "seconds": 10.0,
              "plays": [{"name": "Preflight", "seconds": 1.0}, {"name": "Cluster", "seconds": 8.0},
                        {"name": "Preflight", "seconds": 0.5}],
              "tasks": [{"play": "Cluster", "role": "pki", "name": "keys", "seconds": 5.0},
                        {"play": "Cluster", "role": "", "name": "wait", "seconds": 3.0}],
              "hosts": {"node1": {"changed": 2, "failures": 0, "unreachable": 0}}},
             {"playbook": "lab.yml", "seconds": 12.0, "plays": [{"name": "Cluster", "seconds": 9.0}],
              "tasks": [{"play": "Cluster", "role": "pki", "name": "keys", "seconds": 1.0},
                        {"play": "Cluster", "role": "", "name": "wait", "seconds": 4.0}],
              "hosts": {"node1": {"changed": 0, "failures": 0, "unreachable": 0}}}]
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    runs = timing.read_runs(path)
    assert [r.changed for r in runs] == [2, 0]
    assert timing.play_seconds(runs) == {"Preflight": [1.5], "Cluster": [8.0, 9.0]}
    assert [name for name, _ in timing.slowest_tasks(runs, 2)] == ["wait", "pki : keys"]


def test_anon_memory_from_memory_stat():
    assert lab.anon_mib("cache 4096\nrss 1048576\ntotal_rss 3145728\n") == 3.0
    assert lab.anon_mib("anon 2097152\nfile 1\n") == 2.0
    with pytest.raises(ValueError):
        lab.anon_mib("cache 1\n")


def test_iperf3_receiver_rate_and_ratios():
    assert dataplane.bits_per_second(json.dumps({"end": {"sum_received": {"bits_per_second": 5e9}}})) == 5e9
    gbps = {"node to node": [10.0, 20.0], "pod to pod, across nodes": [9.0, 19.0],
            "pod to pod, one node": [1.0, 1.0], "pod to its Service's cluster IP": [8.1, 19.0]}
    got = dataplane.ratios(gbps)
    assert got["pod to pod across nodes / node to node"] == pytest.approx([0.9, 0.95])
    assert got["cluster IP / pod direct"] == pytest.approx([0.9, 1.0])


def test_figures_and_goals():
    f = figure([3.0, 1.0, 2.0])
    assert (f.median, f.low, f.high, f.runs) == (2.0, 1.0, 3.0, 3)
    assert f.show(1, " s") == "2.0 s (1.0-3.0, 3 runs)"
    assert figure([]) is None
    assert report.GOALS["warm_make_lab"].met(figure([61.0])) == "not met"
    assert report.GOALS["warm_make_lab"].met(figure([59.0])) == "met"
    assert report.GOALS["pod_node_ratio"].met(figure([0.96])) == "met"
    assert report.GOALS["pod_node_ratio"].met(None) == "not measured"


def test_guard_counter_lines_parse():
    line = ("     581    35899 RETURN     6    --  netlab0 *       192.168.1.0/24       203.0.113.80         "
            "multiport dports 80,443 /* netlab: netlab0 Debian mirror 203.0.113.80 */")
    match = lab._COUNTER.match(line)
    assert match and (match[1], match[2], match[4]) == ("581", "35899", "netlab: netlab0 Debian mirror 203.0.113.80")


def test_linearity_says_where_growth_bends():
    assert report.linearity("Cost", "s", [(3, 30.0), (4, 40.0), (6, 60.0)]).endswith("linear within 25 %.")
    sentence = report.linearity("Cost", "s", [(10, 1.0), (100, 10.0), (1000, 1000.0)])
    assert sentence.endswith("not linear from 100 to 1000.")
    assert report.linearity("Cost", "s", [(3, 1.0)]) == ""
