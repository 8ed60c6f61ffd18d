"""Lesson step 1: a ReplicationController. One test per observation of the chapter,
numbered as in docs/lab-spec.md ("Step 1: observations"), each asserting what the
chapter's own commands show.

Observations 1-2 look at the empty cluster (playbooks/clean-workloads.yml);
3-8 at the cluster after playbooks/step1-rc.yml created the `frontend` RC.
"""

from __future__ import annotations

import ipaddress
import json
import re

import pytest

from netlab_tests.ansible import run_playbook
from netlab_tests.hosts import ip_json, ipv4_addresses
from netlab_tests.lesson import endpoint_addresses, guestbook_from_node, guestbook_from_pod, pods
from netlab_tests.natrules import pod_nat_offenders
from netlab_tests.probe import remove_echo_server
from netlab_tests.wait import wait_until

CALLER_NS = "netlab-lesson-caller"
# What other test sessions create, should one have been cut off before cleaning up.
LEFTOVER_NAMESPACES = ("netlab-cluster-test", CALLER_NS)

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def empty_cluster(lab, nodes, kubectl):
    kubectl("delete", "namespace", "--ignore-not-found", "--wait=true", *LEFTOVER_NAMESPACES)
    for host in nodes.values():
        remove_echo_server(host)
    run_playbook(lab, "clean-workloads.yml")


@pytest.fixture(scope="module")
def frontend(lab, kubectl, empty_cluster):
    """The chapter's `kubectl create -f frontend-controller.yaml`: its one pod."""
    run_playbook(lab, "step1-rc.yml")
    found = pods(kubectl, "name=frontend")
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def pod_node(nodes, frontend):
    return nodes[frontend.node]


def pod_containers(host, pod_name: str) -> dict[str, dict]:
    """The pod's running containers on its node, by Kubernetes container name (POD = pause)."""
    ids = host.check_output("docker ps -q --filter label=io.kubernetes.pod.name=%s", pod_name).split()
    found = json.loads(host.check_output("docker inspect " + " ".join(ids))) if ids else []
    return {c["Config"]["Labels"]["io.kubernetes.container.name"]: c for c in found}


def pod_infra_image(host) -> str:
    """The pause image kubelet runs on this node (its --pod-infra-container-image)."""
    args = host.check_output("tr '\\0' '\\n' < /proc/$(pidof kubelet)/cmdline").splitlines()
    return next(a.split("=", 1)[1] for a in args if a.startswith("--pod-infra-container-image="))


def outer_engines_dns(lab, rule: str) -> bool:
    """On the embedded lab's container nodes, the engine that runs the node containers
    gives each node its resolver at 127.0.0.11 (chains DOCKER_OUTPUT/_POSTROUTING):
    the node's own plumbing, not the node's Docker, not the pod's."""
    return lab.container_nodes and rule.startswith("-A DOCKER_OUTPUT -d 127.0.0.11/32 ")


# -- before ---------------------------------------------------------------------------

def test_1_before_no_rc_no_pod_and_only_the_kubernetes_service_at_the_first_service_ip_443(
    lab, kubectl, empty_cluster
):
    items = json.loads(kubectl("get", "rc,pods,services", "-n", "default", "-o", "json"))["items"]
    assert [i for i in items if i["kind"] in ("ReplicationController", "Pod")] == []
    services = [(i["metadata"]["name"], i["spec"]["clusterIP"], [p["port"] for p in i["spec"]["ports"]])
                for i in items if i["kind"] == "Service"]
    assert services == [("kubernetes", str(lab.service_cidr.network_address + 1), [443])]
    # What the chapter typed: empty answers (kubectl says "No resources found" on stderr).
    assert kubectl("get", "rc") == ""
    assert kubectl("get", "pods") == ""


def test_2_before_each_node_shows_docker0_with_its_bip_and_its_lab_interface(lab, nodes, empty_cluster, node_name):
    host, node = nodes[node_name], lab.nodes[node_name]
    assert ipv4_addresses(host, "docker0") == [str(node.bip)]
    holding = ip_json(host, "addr", "show", "to", f"{node.lab_ip}/32")
    assert len(holding) == 1, f"{node.lab_ip} should be on exactly one interface: {holding}"
    lab_if = holding[0]["ifname"]
    assert lab_if != "docker0"
    assert f"{node.lab_ip}/{lab.lab_network.prefixlen}" in ipv4_addresses(host, lab_if)
    assert "UP" in holding[0]["flags"]


# -- after `kubectl create -f frontend-controller.yaml` ---------------------------------

def test_3_after_create_the_pod_is_running_on_one_node_with_an_ip_in_that_nodes_docker0_subnet(
    lab, kubectl, frontend
):
    assert frontend.phase == "Running"
    assert frontend.node in lab.nodes
    assert ipaddress.ip_address(frontend.ip) in lab.nodes[frontend.node].bip.network  # docker0's subnet
    rc = json.loads(kubectl("get", "rc", "frontend", "-o", "json"))
    assert (rc["spec"]["replicas"], rc["status"].get("readyReplicas")) == (1, 1)


def test_4_docker_ps_on_that_node_shows_exactly_the_pause_container_and_php_redis(lab, nodes, frontend, pod_node):
    # The chapter's `docker ps`: every running container on the node. With the cluster DNS
    # on, a CoreDNS pod (kube-system) may share the node: the only others allowed.
    listed = pod_node.check_output(
        "docker ps --format '{{.Names}} {{.Image}} {{.Label \"io.kubernetes.pod.namespace\"}}'").splitlines()
    coredns = [row for row in listed if lab.cluster_dns and row.endswith(" kube-system") and "_coredns-" in row]
    rows = [row.rsplit(" ", 1)[0] for row in listed if row not in coredns]
    assert len(coredns) in (0, 2), coredns
    names = sorted(row.split()[0] for row in rows)
    assert len(rows) == 2, rows
    assert names[0].startswith(f"k8s_POD_{frontend.name}_default_"), rows
    assert names[1].startswith(f"k8s_php-redis_{frontend.name}_default_"), rows
    images = dict(row.split() for row in rows)
    assert images[names[0]] == pod_infra_image(pod_node)
    assert images[names[1]] == "kubeguide/guestbook-php-frontend"
    # The other nodes run nothing of it.
    for name, host in nodes.items():
        if name != frontend.node:
            assert host.check_output("docker ps -q --filter label=io.kubernetes.pod.name=%s", frontend.name) == ""


def test_5_docker_inspect_pause_is_on_the_default_bridge_and_php_redis_uses_its_network(frontend, pod_node):
    containers = pod_containers(pod_node, frontend.name)
    assert sorted(containers) == ["POD", "php-redis"]
    pause, app = containers["POD"], containers["php-redis"]
    # pause: Docker's default network, the bridge (docker0), holding the pod's IP.
    assert pause["HostConfig"]["NetworkMode"] in ("default", "bridge")
    assert list(pause["NetworkSettings"]["Networks"]) == ["bridge"]
    assert pause["NetworkSettings"]["IPAddress"] == frontend.ip
    # php-redis: no network of its own, it joins the pause container's.
    assert app["HostConfig"]["NetworkMode"] == f"container:{pause['Id']}"
    assert app["NetworkSettings"]["IPAddress"] == ""
    # Both see the same IP: one network namespace, and php-redis's only address is the pod's.
    netns = {pod_node.check_output("readlink /proc/%s/ns/net", str(c["State"]["Pid"])) for c in (pause, app)}
    assert len(netns) == 1
    assert pod_node.check_output("docker exec %s hostname -I", app["Id"]).split() == [frontend.ip]


def test_6_docker_port_pause_maps_80_tcp_to_the_hosts_port_80_which_answers(lab, nodes, frontend, pod_node):
    pause = pod_containers(pod_node, frontend.name)["POD"]
    mapping = pod_node.check_output("docker port %s", pause["Id"][:12]).splitlines()
    assert "80/tcp -> 0.0.0.0:80" in mapping
    php_redis = pod_containers(pod_node, frontend.name)["php-redis"]["Id"][:12]
    assert pod_node.check_output("docker port %s", php_redis) == ""
    # The node's lab IP, port 80, is the pod's frontend - asked from another node.
    other = next(n for n in lab.nodes if n != frontend.node)
    page = nodes[other].check_output("curl -fsS -m 10 http://%s:80/", lab.nodes[frontend.node].lab_ip)
    assert "<h1>Guestbook</h1>" in page
    assert guestbook_from_node(nodes[other], lab.nodes[frontend.node].lab_ip)["served_by"] == frontend.name


def test_7_iptables_save_holds_no_masquerade_for_pod_traffic_and_no_dnat_to_the_pod(lab, kubectl, frontend, pod_node):
    rules = pod_node.check_output("iptables-save").splitlines()
    # No MASQUERADE/SNAT for pod traffic in any backend: iptables-nft, iptables-legacy, nftables.
    assert pod_nat_offenders(pod_node, lab.pod_cidr) == []
    assert [r for r in rules if frontend.ip in r] == [], "no rule of any table names the pod"
    # Only the rules Kubernetes' own services need: kube-proxy's, for `kubernetes` (and
    # kube-dns, with the cluster DNS on), to exactly their endpoints.
    dnat = [r for r in rules if "-j DNAT" in r and not outer_engines_dns(lab, r)]
    assert dnat and all(r.startswith("-A KUBE-SEP-") for r in dnat), dnat
    own = endpoint_addresses(kubectl, "kubernetes")
    if lab.cluster_dns:
        own |= endpoint_addresses(kubectl, "kube-dns", "kube-system")
    assert {re.search(r"--to-destination (\S+)", r).group(1) for r in dnat} == own, dnat
    # The node's Docker writes no rules at all (iptables: false): no DOCKER chain, no port mapping.
    assert not [r for r in rules if r.startswith((":DOCKER ", ":DOCKER-", "-A DOCKER "))]


def test_8_every_other_node_and_a_pod_on_another_node_reach_the_pod_ip_and_it_sees_their_own_source_ip(
    lab, nodes, kubectl, frontend
):
    others = [n for n in lab.nodes if n != frontend.node]
    for name in others:
        route = json.loads(nodes[name].check_output("ip -j route get %s", frontend.ip))[0]
        assert route.get("gateway") == lab.nodes[frontend.node].lab_ip, route
        answer = guestbook_from_node(nodes[name], frontend.ip)
        assert answer["served_by"] == frontend.name
        assert answer["client_ip"] == lab.nodes[name].lab_ip, f"from {name}: the pod saw {answer['client_ip']}"
    # A pod on another node, in a namespace of its own (the lesson's stays as the chapter's).
    caller_node = others[0]
    kubectl("delete", "namespace", CALLER_NS, "--ignore-not-found", "--wait=true")
    kubectl("create", "namespace", CALLER_NS)
    try:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "caller", "namespace": CALLER_NS},
               "spec": {"nodeName": caller_node, "terminationGracePeriodSeconds": 1,
                        "containers": [{"name": "php-redis", "image": "kubeguide/guestbook-php-frontend"}]}}
        kubectl("run", "caller", "-n", CALLER_NS, "--image=kubeguide/guestbook-php-frontend",
                "--restart=Never", "--overrides", json.dumps(pod))
        caller = wait_until(lambda: next((p for p in pods(kubectl, "run=caller", CALLER_NS)
                                          if p.phase == "Running" and p.ip), None),
                            timeout=120, what="the caller pod")
        assert ipaddress.ip_address(caller.ip) in lab.nodes[caller_node].pod_subnet
        answer = guestbook_from_pod(kubectl, "caller", frontend.ip, namespace=CALLER_NS)
        assert answer["served_by"] == frontend.name
        assert answer["client_ip"] == caller.ip, f"the pod saw {answer['client_ip']}, not the caller pod {caller.ip}"
    finally:
        kubectl("delete", "namespace", CALLER_NS, "--wait=true")
