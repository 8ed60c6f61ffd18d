"""The cluster DNS addon's manifest (roles/cluster_dns/templates/coredns.yaml.j2),
rendered with the role's defaults and the inventory's facts: kubeadm's objects, the
Service at the address given, the Corefile's two blocks (the cluster's zones; every
other name refused, or forwarded when upstreams are set)."""

from __future__ import annotations

import ipaddress

import jinja2
import yaml

from netlab_tests.ansible import role_default
from netlab_tests.dns import cluster_dns_ip
from netlab_tests.lab import REPO, hostvars, load_lab

TEMPLATE = REPO / "roles" / "cluster_dns" / "templates" / "coredns.yaml.j2"
INVENTORY = str(REPO / "inventory" / "lab" / "hosts.yml")


def render(**overrides) -> list[dict]:
    lab = load_lab(INVENTORY)
    values = {
        "ansible_managed": "managed",
        "cluster_dns_ip": cluster_dns_ip(lab),
        "cluster_dns_domain": lab.cluster_domain,
        "cluster_dns_image": f"coredns/coredns:{lab.coredns_version}",
        "cluster_dns_manifest": "/etc/kubernetes/addons/coredns.yaml",
        "cluster_dns_kubeconfig": lab.admin_kubeconfig,
        **{name: role_default("cluster_dns", name) for name in ("cluster_dns_replicas", "cluster_dns_upstreams")},
        **overrides,
    }
    text = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(TEMPLATE.read_text()).render(values)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind(docs: list[dict]) -> dict[str, dict]:
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def corefile(docs: list[dict]) -> str:
    return by_kind(docs)["ConfigMap/coredns"]["data"]["Corefile"]


def blocks(text: str) -> dict[str, str]:
    """Server blocks of a Corefile: the zones' line -> the block's body."""
    found, head, body, depth = {}, None, [], 0
    for line in text.splitlines():
        if depth == 0 and line.strip().endswith("{"):
            head, body, depth = line.strip()[:-1].strip(), [], 1
            continue
        depth += line.count("{") - line.count("}")
        if depth == 0 and head is not None:
            found[head], head = "\n".join(body), None
        else:
            body.append(line.strip())
    return found


def test_the_objects_kubeadm_lays_out():
    assert sorted(by_kind(render())) == [
        "ClusterRole/system:coredns", "ClusterRoleBinding/system:coredns", "ConfigMap/coredns",
        "Deployment/coredns", "Service/kube-dns", "ServiceAccount/coredns",
    ]


def test_the_service_is_the_address_given_on_53_udp_tcp_and_9153():
    lab = load_lab(INVENTORY)
    svc = by_kind(render())["Service/kube-dns"]
    assert svc["metadata"]["namespace"] == "kube-system"
    assert ipaddress.ip_address(svc["spec"]["clusterIP"]) == lab.service_cidr.network_address + 10
    assert sorted((p["port"], p["protocol"]) for p in svc["spec"]["ports"]) == [(53, "TCP"), (53, "UDP"), (9153, "TCP")]
    assert svc["spec"]["selector"] == {"k8s-app": "kube-dns"}


def test_the_deployment_spreads_its_replicas_and_is_ready_by_the_ready_plugin():
    dep = by_kind(render(cluster_dns_replicas=3))["Deployment/coredns"]
    assert dep["spec"]["replicas"] == 3
    spec = dep["spec"]["template"]["spec"]
    [term] = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == dep["spec"]["template"]["metadata"]["labels"]
    [container] = spec["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 8181, "scheme": "HTTP"}
    assert spec["dnsPolicy"] == "Default"


def test_the_corefile_answers_the_cluster_zones_and_refuses_every_other_name():
    lab = load_lab(INVENTORY)
    found = blocks(corefile(render()))
    cluster = f"{lab.cluster_domain}:53 in-addr.arpa:53 ip6.arpa:53"
    assert sorted(found) == sorted([cluster, ".:53"])
    for plugin in ("errors", "health {", "ready", "cache 30", "loop", "reload", "loadbalance", "prometheus :9153",
                   f"kubernetes {lab.cluster_domain} in-addr.arpa ip6.arpa {{"):
        assert plugin in found[cluster].splitlines(), plugin
    assert "forward" not in corefile(render())
    assert "block" in found[".:53"].splitlines()


def test_with_upstreams_every_other_name_is_forwarded_to_them():
    found = blocks(corefile(render(cluster_dns_upstreams=["/etc/resolv.conf"])))
    assert "forward . /etc/resolv.conf" in found[".:53"].splitlines()
    assert "block" not in found[".:53"]


def test_the_inventory_derives_the_dns_address_the_kubelet_and_the_addon_share():
    """Both read netlab_cluster_dns_ip, which Ansible resolves to the Service range's tenth address."""
    lab = load_lab(INVENTORY)
    assert all("netlab_cluster_dns_ip" in hv for hv in hostvars(INVENTORY).values())
    assert ipaddress.ip_address(cluster_dns_ip(lab)) == lab.service_cidr.network_address + 10
    assert role_default("cluster_dns", "cluster_dns_ip") == "{{ netlab_cluster_dns_ip }}"
    assert "netlab_cluster_dns_ip" in role_default("kubelet", "kubelet_cluster_dns")
