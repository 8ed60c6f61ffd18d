"""Lab step "network": each node's docker0 on its own pod subnet, static routes
between the nodes (no overlay), and pod traffic between nodes without NAT."""

from __future__ import annotations

import ipaddress
import json

from netlab_tests.natrules import KUBE_MASQ_GUARD, nat_rules_that_could_rewrite_pod_sources, pod_nat_offenders
from netlab_tests.probe import ask_echo, ensure_echo
from netlab_tests.routing import (
    check_docker0_has_the_nodes_bip,
    check_routing_table_holds_exactly_the_other_nodes_pod_subnets,
)


def test_docker0_has_the_nodes_bip(lab, nodes, node_name):
    check_docker0_has_the_nodes_bip(lab, nodes, node_name)


def test_docker_bridge_network_is_the_pod_subnet_without_masquerading(lab, nodes, node_name):
    bridge = json.loads(nodes[node_name].check_output("docker network inspect bridge"))[0]
    node = lab.nodes[node_name]
    assert bridge["IPAM"]["Config"][0]["Subnet"] == str(node.pod_subnet)
    assert bridge["IPAM"]["Config"][0]["Gateway"] == str(node.bip.ip)
    assert bridge["Options"]["com.docker.network.bridge.enable_ip_masquerade"] == "false"


def test_routing_table_holds_exactly_the_other_nodes_pod_subnets(lab, nodes, node_name):
    check_routing_table_holds_exactly_the_other_nodes_pod_subnets(lab, nodes, node_name)


def test_no_masquerade_or_snat_for_pod_traffic(lab, nodes, node_name):
    """On every netfilter backend of the node: iptables-nft, iptables-legacy, native
    nftables (and ip6tables); tests/routing/test_nat_backends.py breaks each one."""
    assert pod_nat_offenders(nodes[node_name], lab.pod_cidr) == []


def test_the_nat_check_recognises_masquerading():
    """The check above is not vacuous: Docker's default rule is caught."""
    docker_default = "-A POSTROUTING -s 10.1.10.0/24 ! -o docker0 -j MASQUERADE"
    catch_all = "-A POSTROUTING -o eth0 -j MASQUERADE"
    embedded_dns = "-A DOCKER_POSTROUTING -s 127.0.0.11/32 -p udp -j SNAT --to-source :53"
    pod_cidr = ipaddress.ip_network("10.1.0.0/16")
    table = "\n".join([docker_default, catch_all, embedded_dns])
    assert nat_rules_that_could_rewrite_pod_sources(table, pod_cidr) == [docker_default, catch_all]
    # kube-proxy's MASQUERADE passes only behind its mark guard.
    kube_masq = "-A KUBE-POSTROUTING -m comment --comment \"service traffic\" -j MASQUERADE --random-fully"
    guarded = "\n".join([KUBE_MASQ_GUARD, "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0", kube_masq])
    assert nat_rules_that_could_rewrite_pod_sources(guarded, pod_cidr) == []
    assert nat_rules_that_could_rewrite_pod_sources(kube_masq, pod_cidr) == [kube_masq]


def test_pod_traffic_crosses_nodes_with_its_real_source_ip(lab, nodes, pair):
    sender, receiver = pair
    echo_ip = ensure_echo(nodes[receiver])
    assert echo_ip in lab.nodes[receiver].pod_subnet
    own, seen = ask_echo(nodes[sender], echo_ip)
    assert ipaddress.ip_address(own) in lab.nodes[sender].pod_subnet
    assert seen == own, f"{receiver}'s container saw {seen}, not {sender}'s container {own}: NAT"
