"""Lab step "cluster": a real Kubernetes cluster (the inventory's release), TLS and RBAC everywhere.

etcd and the control plane on the control-plane node; kubelet (dockershim, no CNI:
pods on docker0) and kube-proxy on every node. Expectations come from the inventory.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess

import pytest

from netlab_tests import dns
from netlab_tests.ansible import ansible_value, role_default
from netlab_tests.hosts import kubelet_config
from netlab_tests.lab import REPO
from netlab_tests.lesson import kubectl_apply
from netlab_tests.natrules import IPTABLES_LEGACY, IPTABLES_NFT, read_nat_backends
from netlab_tests.wait import wait_until

TEST_NS = "netlab-cluster-test"


@pytest.fixture(scope="module")
def api_url(lab):
    return f"https://{lab.nodes[lab.control_plane[0]].lab_ip}:6443"


# -- etcd ---------------------------------------------------------------------------

def test_etcd_3_4_answers_only_over_tls_with_a_client_certificate_of_its_own_ca(lab, cp):
    pki = lab.pki_dir
    assert cp.service("etcd").is_running and cp.service("etcd").is_enabled
    tls = f"--cacert {pki}/etcd/ca.crt --cert {pki}/apiserver-etcd-client.crt --key {pki}/apiserver-etcd-client.key"
    version = json.loads(cp.check_output(f"curl -fsS {tls} https://127.0.0.1:2379/version"))
    assert version["etcdserver"].startswith("3.4.")
    assert json.loads(cp.check_output(f"curl -fsS {tls} https://127.0.0.1:2379/health"))["health"] == "true"
    # No plain HTTP, no client without a certificate, no certificate of the cluster CA.
    assert cp.run("curl -fsS -m 5 http://127.0.0.1:2379/health").rc != 0
    assert cp.run(f"curl -fsS -m 5 --cacert {pki}/etcd/ca.crt https://127.0.0.1:2379/health").rc != 0
    kubelet_cert = f"--cert {pki}/kubelet-client.crt --key {pki}/kubelet-client.key"
    assert cp.run(f"curl -fsS -m 5 --cacert {pki}/etcd/ca.crt {kubelet_cert} https://127.0.0.1:2379/health").rc != 0


def test_etcd_runs_on_the_control_plane_only(lab, nodes, node_name):
    if node_name not in lab.control_plane:
        assert not nodes[node_name].service("etcd").is_running


# -- control plane ------------------------------------------------------------------

@pytest.mark.parametrize("unit", ["kube-apiserver", "kube-controller-manager", "kube-scheduler"])
def test_control_plane_component_runs(cp, unit):
    assert cp.service(unit).is_running
    assert cp.service(unit).is_enabled


def test_no_process_listens_on_an_insecure_port(cp):
    listening = cp.check_output("ss -Hltn | awk '{print $4}'").split()
    ports = {addr.rsplit(":", 1)[1] for addr in listening}
    assert "6443" in ports
    # kube-apiserver's insecure port, and the scheduler's / controller manager's.
    assert not ports & {"8080", "10251", "10252"}, listening


def test_every_node_is_ready_with_its_lab_ip_as_internal_ip(lab, kubectl):
    items = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    got = {}
    for item in items:
        ready = [c["status"] for c in item["status"]["conditions"] if c["type"] == "Ready"]
        internal = [a["address"] for a in item["status"]["addresses"] if a["type"] == "InternalIP"]
        got[item["metadata"]["name"]] = (ready, internal)
    assert got == {n.name: (["True"], [n.lab_ip]) for n in lab.nodes.values()}


def test_kubelets_run_v1_20_2_on_docker_through_dockershim(lab, kubectl):
    items = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    for item in items:
        info = item["status"]["nodeInfo"]
        assert info["kubeletVersion"] == lab.kube_version
        assert info["kubeProxyVersion"] == lab.kube_version
        assert info["containerRuntimeVersion"].startswith("docker://")


def test_kubernetes_service_is_the_first_address_of_the_service_range_on_443(lab, kubectl):
    svc = json.loads(kubectl("get", "svc", "kubernetes", "-n", "default", "-o", "json"))
    assert svc["spec"]["clusterIP"] == str(lab.service_cidr.network_address + 1)
    assert [p["port"] for p in svc["spec"]["ports"]] == [443]
    endpoints = json.loads(kubectl("get", "endpoints", "kubernetes", "-n", "default", "-o", "json"))
    assert [a["ip"] for a in endpoints["subsets"][0]["addresses"]] == [lab.nodes[lab.control_plane[0]].lab_ip]


# -- access -------------------------------------------------------------------------

def test_exported_admin_kubeconfig_works_over_tls_from_this_machine(lab):
    kubeconfig = REPO / ".netlab" / "kubeconfig"
    assert kubeconfig.exists(), "make lab exports the admin kubeconfig"
    assert oct(kubeconfig.stat().st_mode & 0o777) == "0o600"
    out = subprocess.run(
        [str(REPO / "tools" / "kubectl"), "get", "nodes", "-o", "name"],
        check=True, capture_output=True, text=True, timeout=60, env=os.environ,
    ).stdout
    assert sorted(out.split()) == sorted(f"node/{n}" for n in lab.nodes)


def test_api_server_refuses_requests_without_credentials(lab, cp, api_url):
    pki = lab.pki_dir
    # Anonymous: authenticated as system:anonymous, then forbidden by RBAC.
    code = cp.check_output(
        "curl -s -o /dev/null -w '%%{http_code}' --cacert %s %s", f"{pki}/ca.crt",
        f"{api_url}/api/v1/namespaces/default/pods",
    )
    assert code == "403"
    # The admin's certificate opens the same door.
    code = cp.check_output(
        "curl -s -o /dev/null -w '%%{http_code}' --cacert %s --cert %s --key %s %s", f"{pki}/ca.crt",
        f"{pki}/admin.crt", f"{pki}/admin.key", f"{api_url}/api/v1/namespaces/default/pods",
    )
    assert code == "200"


def test_kubelet_api_refuses_anonymous_requests(lab, cp, node_name):
    url = f"https://{lab.nodes[node_name].lab_ip}:10250/pods"
    code = cp.check_output("curl -sk -o /dev/null -w '%%{http_code}' %s", url)
    assert code == "401"


@pytest.mark.parametrize("unit", ["kubelet", "kube-proxy", "docker"])
def test_node_services_run(nodes, node_name, unit):
    assert nodes[node_name].service(unit).is_running
    assert nodes[node_name].service(unit).is_enabled


def test_kubelet_frees_disk_only_where_the_inventory_lets_it(lab, kubectl, node_name):
    """kubelet's running configuration (configz): kubelet's own eviction and image
    thresholds, or (kubelet_disk_reclaim false: container nodes, whose disk is the
    machine's) no disk signal and no image collection; memory keeps its threshold."""
    running = kubelet_config(kubectl, node_name)
    thresholds = role_default("kubelet", "kubelet_eviction_hard")
    gc_percent = role_default("kubelet", "kubelet_image_gc_high_threshold_percent")
    if not ansible_value(lab, node_name, "{{ kubelet_disk_reclaim | default(true) | bool }}"):
        thresholds = {signal: value if signal.startswith("memory.") else "0%" for signal, value in thresholds.items()}
        gc_percent = 100
    assert running["evictionHard"] == thresholds
    assert running["imageGCHighThresholdPercent"] == gc_percent


def test_kubelet_gives_pods_the_cluster_dns_the_inventory_names(lab, kubectl, node_name):
    """With the cluster DNS on, kube-dns's address (netlab_cluster_dns_ip) and the lab's
    domain; without it, no nameserver of the cluster."""
    wanted = [dns.cluster_dns_ip(lab)] if lab.cluster_dns else []
    running = kubelet_config(kubectl, node_name)
    assert (running.get("clusterDNS") or [], running.get("clusterDomain")) == (wanted, lab.cluster_domain)


def test_kube_proxy_runs_in_iptables_mode(lab, nodes, node_name):
    host = nodes[node_name]
    assert host.check_output("curl -fsS http://127.0.0.1:10249/proxyMode") == "iptables"
    nat = host.check_output("iptables-save -t nat").splitlines()
    assert any(line.startswith(":KUBE-SERVICES ") for line in nat)
    assert any(line.startswith("-A PREROUTING") and line.endswith("-j KUBE-SERVICES") for line in nat)
    # The `kubernetes` Service already has its chain: the API server's endpoint.
    assert any('"default/kubernetes:https' in line and "-j KUBE-SVC-" in line for line in nat)
    # kube-proxy and kubelet write to one backend, iptables-nft: none of their chains
    # in iptables-legacy, and with their rules in place nothing NATs pod traffic on any backend.
    backends = read_nat_backends(host, lab.pod_cidr)
    assert backends.missing == []
    assert any(line.startswith(":KUBE-SERVICES ") for line in backends.outputs[IPTABLES_NFT].splitlines())
    assert "KUBE-" not in backends.outputs[IPTABLES_LEGACY]
    assert backends.offenders == []


# -- pods on docker0 ------------------------------------------------------------------

@pytest.fixture(scope="module")
def pinned_pods(lab, kubectl, cp):
    """One web pod pinned to each node (nodeName), in a namespace of their own."""
    cp.run("kubectl --kubeconfig %s delete namespace %s --wait=true", lab.admin_kubeconfig, TEST_NS)
    kubectl("create", "namespace", TEST_NS)
    for name in lab.nodes:
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"web-{name}", "namespace": TEST_NS, "labels": {"app": "netlab-test"}},
            "spec": {
                "nodeName": name,
                "containers": [{"name": "web", "image": "kubeguide/guestbook-php-frontend",
                                "ports": [{"containerPort": 80}]}],
            },
        }
        kubectl_apply(cp, lab, pod)

    def running():
        items = json.loads(kubectl("get", "pods", "-n", TEST_NS, "-o", "json"))["items"]
        ok = [p for p in items if p["status"].get("phase") == "Running" and p["status"].get("podIP")]
        return {p["spec"]["nodeName"]: p["status"]["podIP"] for p in ok} if len(ok) == len(lab.nodes) else None

    ips = wait_until(running, timeout=120, what="a running pod on every node")
    yield ips
    # Gone before the lesson looks at `docker ps` on the nodes.
    cp.run("kubectl --kubeconfig %s delete namespace %s --wait=true", lab.admin_kubeconfig, TEST_NS)


def test_each_pod_gets_an_ip_from_its_nodes_docker0_subnet(lab, pinned_pods, node_name):
    assert ipaddress.ip_address(pinned_pods[node_name]) in lab.nodes[node_name].pod_subnet


def test_pod_sits_in_a_pause_container_from_the_lab_registry(lab, nodes, pinned_pods, node_name):
    host = nodes[node_name]
    ids = host.check_output(
        "docker ps -q --filter label=io.kubernetes.pod.name=web-%s --filter label=io.kubernetes.pod.namespace=%s",
        node_name, TEST_NS,
    ).split()
    images = {host.check_output("docker inspect -f '{{.Config.Image}}' %s", i) for i in ids}
    depot = next(iter(lab.services.values()), None)
    pause = [i for i in images if i.endswith("/google_containers/pause:3.4") or "pause" in i]
    assert len(ids) == 2 and len(pause) == 1, images
    if lab.container_nodes and depot:
        assert pause[0] == f"{depot}:{lab.registry_port}/google_containers/pause:3.4"


def test_each_pod_is_reachable_from_the_other_nodes(lab, nodes, pinned_pods, pair):
    src, dst = pair
    page = nodes[src].check_output("curl -fsS -m 10 http://%s:80/", pinned_pods[dst])
    assert "<h1>Guestbook</h1>" in page


def test_metadata_address_is_refused_inside_container_nodes(lab, nodes, node_name):
    """kubelet probes 169.254.169.254 at start; on a container node the probe must
    fail inside the node instead of reaching the host's egress guard."""
    if not lab.container_nodes:
        pytest.skip("only container nodes carry the unreachable route")
    host = nodes[node_name]
    assert host.check_output("ip route show 169.254.169.254").startswith("unreachable 169.254.169.254")
    assert host.run("ip route get 169.254.169.254").rc != 0
