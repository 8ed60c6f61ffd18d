"""After the lesson: the cluster's DNS (CoreDNS as kube-dns, roles/cluster_dns).

The chapter's guestbook finds its Services through environment variables; every
cluster users know also answers them by name. With step 2 in place, from a pod on
every node: the frontend Service by its short and its full name, a headless
Service as its pods, a pod IP and a cluster IP by PTR; the path of a question
(conntrack: no NAT of the pod's address, whichever node answers); a name outside
the cluster refused, with nothing sent off this machine; and the guestbook working
with GET_HOSTS_FROM=dns. Expected values come from the inventory (the DNS address,
the domain, the CoreDNS release) and the live cluster.

With netlab_cluster_dns false (the chapter's own lab) only the last test runs: no
kube-dns, and pods get no cluster nameserver.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
import uuid

import pytest
import yaml

from netlab_tests import dns
from netlab_tests.ansible import role_default, run_playbook
from netlab_tests.lab import REPO
from netlab_tests.lesson import Pod, guestbook_round_trip, kubectl_apply, pods
from netlab_tests.sentinel import lab_interfaces
from netlab_tests.wait import wait_until

NS = "netlab-dns"  # the guestbook in dns mode, in a namespace of its own

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def dns_ip(lab) -> str:
    """kube-dns's address, as the inventory derives it (netlab_cluster_dns_ip)."""
    if not lab.cluster_dns:
        pytest.skip("netlab_cluster_dns is false: the chapter's lab, without cluster DNS")
    return dns.cluster_dns_ip(lab)


@pytest.fixture(scope="module")
def frontends(lab, kubectl) -> dict[str, Pod]:
    """Step 2's frontend pods, one per node (step 2 is run if they are not there)."""
    def placed() -> dict[str, Pod]:
        found = [p for p in pods(kubectl, "name=frontend") if p.phase == "Running" and p.ip]
        return {p.node: p for p in found} if sorted(p.node for p in found) == sorted(lab.nodes) else {}

    if not placed():
        run_playbook(lab, "step2-service.yml")
    return wait_until(placed, timeout=120, what="one frontend pod per node")


@pytest.fixture(scope="module")
def coredns(kubectl, dns_ip) -> list[Pod]:
    """The CoreDNS pods, once all of them are ready (kube-dns's endpoints)."""
    return wait_until(lambda: dns.ready_pods(kubectl), timeout=120, what="every CoreDNS pod ready behind kube-dns")


@pytest.fixture(scope="module")
def test_ns(kubectl):
    kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=true")
    kubectl("create", "namespace", NS)
    yield NS
    kubectl("delete", "namespace", NS, "--wait=true")


def service_ip(kubectl, name: str, namespace: str = "default") -> str:
    return kubectl("get", "service", name, "-n", namespace, "-o", "jsonpath={.spec.clusterIP}")


# -- the addon -------------------------------------------------------------------------

def test_kube_dns_is_the_service_ranges_tenth_address_on_53_and_9153(lab, kubectl, dns_ip):
    assert ipaddress.ip_address(dns_ip) == lab.service_cidr.network_address + 10
    svc = json.loads(kubectl("get", "service", "kube-dns", "-n", "kube-system", "-o", "json"))
    assert svc["spec"]["clusterIP"] == dns_ip
    ports = sorted((p["port"], p["protocol"]) for p in svc["spec"]["ports"])
    assert ports == [(53, "TCP"), (53, "UDP"), (9153, "TCP")]


def test_kube_dns_endpoints_are_the_coredns_pods_each_on_a_node_of_its_own(lab, kubectl, coredns):
    replicas = role_default("cluster_dns", "cluster_dns_replicas")
    assert len(coredns) == replicas, coredns
    assert len({p.node for p in coredns}) == replicas, f"two CoreDNS pods share a node: {coredns}"
    for pod in coredns:
        assert ipaddress.ip_address(pod.ip) in lab.nodes[pod.node].pod_subnet, pod
    assert dns.endpoint_ips(kubectl) == {p.ip for p in coredns}
    images = set(kubectl("get", "pods", "-n", "kube-system", "-l", dns.LABELS, "-o",
                         "jsonpath={.items[*].spec.containers[*].image}").split())
    assert images == {f"coredns/coredns:{lab.coredns_version}"}


def test_pods_get_the_cluster_dns_as_their_nameserver(lab, kubectl, dns_ip, frontends, node_name):
    conf = dns.resolv_conf(kubectl, frontends[node_name].name, "default")
    assert conf["nameserver"] == [dns_ip], conf
    domain = lab.cluster_domain
    assert conf["search"][:3] == [f"default.svc.{domain}", f"svc.{domain}", domain], conf


# -- names from a pod on every node ----------------------------------------------------

def test_service_names_resolve_to_the_cluster_ip_from_a_pod_on_every_node(lab, kubectl, dns_ip, frontends,
                                                                          node_name):
    pod = frontends[node_name].name
    frontend_ip = service_ip(kubectl, "frontend")
    assert dns.resolve(kubectl, pod, "default", "frontend") == [frontend_ip]
    assert dns.resolve(kubectl, pod, "default", f"frontend.default.svc.{lab.cluster_domain}") == [frontend_ip]
    assert dns.resolve(kubectl, pod, "default", "kubernetes.default") == [str(lab.service_cidr.network_address + 1)]
    assert dns.resolve(kubectl, pod, "default", f"kube-dns.kube-system.svc.{lab.cluster_domain}") == [dns_ip]


def test_a_headless_service_resolves_to_its_pods(lab, cp, kubectl, nodes, dns_ip, frontends):
    """A Service without a cluster IP over the frontend pods: its name is their IPs."""
    kubectl_apply(cp, lab, {"apiVersion": "v1", "kind": "Service",
                            "metadata": {"name": "frontends", "namespace": "default"},
                            "spec": {"clusterIP": "None", "selector": {"name": "frontend"}, "ports": [{"port": 80}]}})
    try:
        name = f"frontends.default.svc.{lab.cluster_domain}"
        wanted = {p.ip for p in frontends.values()}
        for node, pod in frontends.items():
            def answered(pod=pod, node=node):
                reply = dns.ask(nodes[node], pod.name, "default", dns_ip, name)
                return reply if reply.get("rcode") == "NOERROR" and dns.addresses(reply) == wanted else None

            wait_until(answered, timeout=45, what=f"{name} as {sorted(wanted)} from {pod.name} on {node}")
    finally:
        kubectl("delete", "service", "frontends", "-n", "default", "--ignore-not-found")


def test_pod_and_service_ips_answer_by_ptr(lab, kubectl, nodes, dns_ip, frontends):
    asker = next(iter(frontends.values()))
    domain = lab.cluster_domain
    wanted = {pod.ip: f"{pod.ip.replace('.', '-')}.frontend.default.svc.{domain}." for pod in frontends.values()}
    wanted[service_ip(kubectl, "frontend")] = f"frontend.default.svc.{domain}."

    def names(address: str) -> list[str] | None:
        reply = dns.ask(nodes[asker.node], asker.name, "default", dns_ip, address, "PTR")
        return [a["data"] for a in reply.get("answers", [])] if reply.get("rcode") == "NOERROR" else None

    for address, name in wanted.items():
        # An Endpoints object just deleted (the headless Service's) may still be in CoreDNS's view: poll.
        wait_until(lambda address=address, name=name: names(address) == [name], timeout=45,
                   what=f"{address} answering by PTR with {name} only (last: {names(address)})")


# -- the question's path ---------------------------------------------------------------

def test_dns_from_a_pod_keeps_its_source_address_across_nodes(lab, nodes, dns_ip, frontends, coredns, node_name):
    """From the pod on this node: through kube-dns (DNAT here, to whichever CoreDNS pod), and
    straight to a CoreDNS pod on another node. conntrack on both ends: the pod's own address
    and port, no SNAT, the answer back to the pod."""
    client = frontends[node_name]
    sport = 40000 + int(uuid.uuid4().int % 20000)
    reply = dns.ask(nodes[node_name], client.name, "default", dns_ip, "kubernetes.default.svc." + lab.cluster_domain,
                    sport=sport)
    assert reply["rcode"] == "NOERROR" and reply["sport"] == sport, reply
    [flow] = dns.udp_flows(nodes[node_name], client.ip, sport)
    assert (flow.dst, flow.dport) == (dns_ip, 53)
    assert flow.reply_src in {p.ip for p in coredns}, f"DNAT to {flow.reply_src}, not a CoreDNS pod"
    assert flow.reply_dst == client.ip, f"the answer goes to {flow.reply_dst}: the question was NATed"

    remote = next((p for p in coredns if p.node != node_name), None)
    assert remote, f"every CoreDNS pod is on {node_name}"
    reply = dns.ask(nodes[node_name], client.name, "default", remote.ip, "kubernetes.default", sport=sport + 1)
    assert reply.get("rcode"), reply
    [seen] = dns.udp_flows(nodes[remote.node], client.ip, sport + 1)
    assert (seen.src, seen.dst, seen.reply_dst) == (client.ip, remote.ip, client.ip), seen


def test_an_outside_name_is_refused_and_nothing_leaves_the_machine(lab, machine, kubectl, nodes, dns_ip, frontends,
                                                                   coredns):
    """CoreDNS answers names outside the cluster itself (REFUSED). A capture on every
    interface of this machine sees the question only on the lab's bridges and their ports."""
    label = f"netlab-outside-{uuid.uuid4().hex[:10]}"
    name = f"{label}.example"
    client = next(iter(frontends.values()))
    remote = next(p for p in coredns if p.node != client.node)
    lab_ifs = lab_interfaces(machine, lab.lab_label)
    capture = subprocess.Popen(["timeout", "60", "tcpdump", "-i", "any", "-nn", "-l", "udp port 53 or tcp port 53"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: "listening on" in capture.stderr.readline(), timeout=15, what="tcpdump listening")
        # Through kube-dns, and to a CoreDNS pod on another node (so the question crosses the lab network).
        refused = dns.ask(nodes[client.node], client.name, "default", dns_ip, name)
        crossed = dns.ask(nodes[client.node], client.name, "default", remote.ip, name)
        # The pod's own resolver: its search list first, then the name.
        assert dns.resolve(kubectl, client.name, "default", name) is None
        time.sleep(2)
    finally:
        capture.terminate()
    seen = [line for line in capture.communicate(timeout=15)[0].splitlines() if label in line]
    assert refused["rcode"] == "REFUSED" and crossed["rcode"] == "REFUSED", (refused, crossed)
    interfaces = {line.split()[1] for line in seen}
    assert interfaces & lab_ifs, f"the capture did not see the question on the lab's interfaces: {seen}"
    assert interfaces <= lab_ifs, f"the question was seen on {sorted(interfaces - lab_ifs)}: {seen}"


# -- the guestbook by name -------------------------------------------------------------

def test_the_guestbook_works_by_name_across_nodes(lab, cp, kubectl, nodes, dns_ip, frontends, test_ns):
    """The guestbook with GET_HOSTS_FROM=dns in a namespace of its own, its pods given no
    Service environment variables (enableServiceLinks: false): written through one frontend
    pod, read back through another on another node, each finding redis by name."""
    objects = []
    for path in ("redis-master-controller.yaml", "redis-slave-controller.yaml", "frontend-controller.yaml",
                 "redis-master-service.yaml", "redis-slave-service.yaml", "frontend-service.yaml"):
        obj = yaml.safe_load((REPO / "manifests" / path).read_text())
        obj["metadata"]["namespace"] = test_ns
        if obj["kind"] == "ReplicationController":
            # No Service environment variables at all: names are the only way to find them.
            obj["spec"]["template"]["spec"]["enableServiceLinks"] = False
            obj["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 1
            for container in obj["spec"]["template"]["spec"]["containers"]:
                container["env"] = [{"name": "GET_HOSTS_FROM", "value": "dns"}]
                for port in container.get("ports", []):
                    port.pop("hostPort", None)  # the lesson's frontends hold port 80 of every node
            if obj["metadata"]["name"] == "frontend":
                obj["spec"]["replicas"] = len(lab.nodes)
                obj["spec"]["template"]["spec"]["affinity"] = {"podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {"labelSelector": {"matchLabels": {"name": "frontend"}},
                         "topologyKey": "kubernetes.io/hostname"}]}}
        objects.append(obj)
    kubectl_apply(cp, lab, *objects)

    def running() -> list[Pod]:
        found = [p for p in pods(kubectl, "name=frontend", test_ns) if p.phase == "Running" and p.ip]
        return found if len({p.node for p in found}) == len(lab.nodes) else []

    guestbook = wait_until(running, timeout=180, what=f"the dns-mode frontends on every node in {test_ns}")
    env = kubectl("exec", "-n", test_ns, guestbook[0].name, "--", "env").splitlines()
    assert not [v for v in env if v.startswith("REDIS_")], "the pods were given the Services' variables"
    guestbook_round_trip(nodes[lab.control_plane[0]], guestbook, "by-name-from", timeout=60)


# -- without cluster DNS ---------------------------------------------------------------

def test_without_cluster_dns_there_is_no_kube_dns_and_no_cluster_nameserver(lab, kubectl):
    if lab.cluster_dns:
        pytest.skip("netlab_cluster_dns is true: the other tests check the cluster DNS")
    assert kubectl("get", "services", "-n", "kube-system", "-l", dns.LABELS, "-o", "name") == ""
    # Pods made now (a pod keeps the resolv.conf it was given, whatever kubelet says later).
    run_playbook(lab, "step2-service.yml")
    for pod in pods(kubectl, "name=frontend"):
        conf = dns.resolv_conf(kubectl, pod.name, "default")
        assert not [s for s in conf.get("nameserver", []) if ipaddress.ip_address(s) in lab.service_cidr], conf
