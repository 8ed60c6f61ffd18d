"""Lesson step 2: a Service. After playbooks/step2-service.yml - from an empty
cluster, the redis backend and the frontend behind Services, frontend scaled to 3 -
kube-proxy's rules, the cluster IP from everywhere, and the guestbook across nodes.
"""

from __future__ import annotations

import ipaddress
import json

import pytest

from netlab_tests.ansible import run_playbook
from netlab_tests.lesson import (
    endpoint_addresses,
    guestbook_from_node,
    guestbook_from_pod,
    guestbook_round_trip,
    kube_proxy_chain,
    pods,
)
from netlab_tests.natrules import pod_nat_offenders
from netlab_tests.wait import wait_until

REQUESTS = 30  # a miss of one of 3 endpoints in 30 random picks: (2/3)^30 * 3 < 2e-5
ATTEMPTS = 30  # from a pod: both other endpoints among 30 picks, as likely

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def step2(lab):
    run_playbook(lab, "step2-service.yml")


@pytest.fixture(scope="module")
def service(kubectl, step2):
    return json.loads(kubectl("get", "service", "frontend", "-o", "json"))


@pytest.fixture(scope="module")
def cluster_ip(service) -> str:
    return service["spec"]["clusterIP"]


@pytest.fixture(scope="module")
def frontends(kubectl, step2):
    found = pods(kubectl, "name=frontend")
    assert len(found) == 3 and all(p.phase == "Running" for p in found), found
    return found


def test_service_gets_a_cluster_ip_in_the_service_range(lab, service):
    assert ipaddress.ip_address(service["spec"]["clusterIP"]) in lab.service_cidr
    assert [(p["port"], p["protocol"]) for p in service["spec"]["ports"]] == [(80, "TCP")]
    assert service["spec"]["selector"] == {"name": "frontend"}


def test_scaled_to_3_the_frontend_pods_land_on_different_nodes(lab, frontends):
    assert sorted(p.node for p in frontends) == sorted(lab.nodes)
    for p in frontends:
        assert ipaddress.ip_address(p.ip) in lab.nodes[p.node].pod_subnet


def test_endpoints_are_exactly_the_frontend_pods(kubectl, frontends):
    assert endpoint_addresses(kubectl, "frontend") == {f"{p.ip}:80" for p in frontends}


def test_kube_proxy_chains_the_cluster_ip_to_one_dnat_per_endpoint(kubectl, nodes, cluster_ip, frontends, node_name):
    endpoints = sorted(endpoint_addresses(kubectl, "frontend"))
    assert len(endpoints) == len(frontends)

    def programmed():  # kube-proxy on this node may still be syncing the newest endpoint
        nat = nodes[node_name].check_output("iptables-save -t nat")
        return nat if sorted(kube_proxy_chain(nat, cluster_ip, 80)[2].values()) == endpoints else None

    nat = wait_until(programmed, timeout=30, what=f"kube-proxy's chains for {cluster_ip} on {node_name}")
    rules = nat.splitlines()
    assert any(r.startswith("-A PREROUTING") and r.endswith("-j KUBE-SERVICES") for r in rules)
    assert any(r.startswith("-A OUTPUT") and r.endswith("-j KUBE-SERVICES") for r in rules)
    _, seps, dnat = kube_proxy_chain(nat, cluster_ip, 80)
    assert len(seps) == len(set(dnat.values())) == len(frontends)


def test_the_cluster_ip_answers_from_every_node(nodes, cluster_ip, frontends, node_name):
    page = nodes[node_name].check_output("curl -fsS -m 10 http://%s/", cluster_ip)
    assert "<h1>Guestbook</h1>" in page
    assert guestbook_from_node(nodes[node_name], cluster_ip)["served_by"] in {p.name for p in frontends}


def test_requests_to_the_cluster_ip_reach_every_endpoint(lab, nodes, cluster_ip, frontends):
    host = nodes[lab.control_plane[0]]
    served = [guestbook_from_node(host, cluster_ip)["served_by"] for _ in range(REQUESTS)]
    counts = {p.name: served.count(p.name) for p in frontends}
    assert set(served) == set(counts) and all(counts.values()), counts


def test_from_a_pod_the_cluster_ip_reaches_pods_on_other_nodes_without_masquerading(kubectl, cluster_ip, frontends):
    """Each frontend pod asks the cluster IP until pods on both other nodes answered.

    A request the Service sends back to the asking pod itself is left out: kube-proxy
    masquerades that hairpin on purpose (KUBE-SEP-* ... -s <pod IP> -j KUBE-MARK-MASQ).
    """
    node_of = {p.name: p.node for p in frontends}
    for caller in frontends:
        remote, failures = [], []
        for _ in range(ATTEMPTS):
            try:
                answer = guestbook_from_pod(kubectl, caller.name, cluster_ip)
            except (AssertionError, ValueError) as exc:  # a hairpin that timed out, or a real failure
                failures.append(str(exc)[-200:])
                continue
            if answer["served_by"] != caller.name:
                remote.append(answer)
            if {node_of[a["served_by"]] for a in remote} == set(node_of.values()) - {caller.node}:
                break
        served_on = {node_of[a["served_by"]] for a in remote}
        assert served_on == set(node_of.values()) - {caller.node}, (caller, remote, failures)
        # The pods on other nodes saw the asking pod's own IP: no masquerading.
        assert {a["client_ip"] for a in remote} == {caller.ip}, remote


def test_no_masquerade_for_pod_traffic_with_the_service_in_place(lab, nodes, node_name, step2):
    """kube-proxy's rules for the Services in place, and on every netfilter backend."""
    assert pod_nat_offenders(nodes[node_name], lab.pod_cidr) == []


def test_the_backend_services_point_at_the_redis_pods(kubectl, step2):
    master, slaves = pods(kubectl, "name=redis-master"), pods(kubectl, "name=redis-slave")
    assert len(master) == 1 and len(slaves) == 2
    assert endpoint_addresses(kubectl, "redis-master") == {f"{master[0].ip}:6379"}
    assert endpoint_addresses(kubectl, "redis-slave") == {f"{p.ip}:6379" for p in slaves}


def test_the_guestbook_works_end_to_end_across_nodes(lab, nodes, frontends):
    guestbook_round_trip(nodes[lab.control_plane[0]], frontends, "hello-from")


def test_running_the_create_play_again_changes_nothing(lab, kubectl, frontends):
    recap = run_playbook(lab, "step2-service.yml", "--tags", "create").split("PLAY RECAP")[-1]
    hosts = [line for line in recap.splitlines() if " ok=" in line]
    assert hosts and all("changed=0 " in line for line in hosts), recap
    assert sorted(p.name for p in pods(kubectl, "name=frontend")) == sorted(p.name for p in frontends)
