"""How cost grows with the lab: more nodes (an inventory override), more Services.

Extra nodes are derived from the inventory's last two nodes: each next node takes the
next lab IP and the next pod subnet at the same step (node3 192.168.1.131, 10.1.30.0/24
-> node4 192.168.1.132, 10.1.40.0/24), named as the nodes are (nodeN). The override is
a second inventory file given after inventory/lab/hosts.yml; the preflight checks it
like any inventory (subnets inside the pod CIDR, addresses on the lab network).
"""

from __future__ import annotations

import ipaddress
import re
import time
from pathlib import Path

import yaml

from . import shell
from .dataplane import pause_image

SERVICE_NAMESPACE = "netlab-bench-services"


def derive_nodes(nodes: list[tuple[str, str, str]], count: int,
                 lab_network: str, pod_cidr: str) -> list[tuple[str, str, str]]:
    """The extra nodes that make `nodes` ([(name, lab IP, pod subnet)], at least two)
    `count` long, each one step past the last; ValueError when one would leave the lab
    network or the pod CIDR, or the names do not end in a number."""
    if len(nodes) < 2:
        raise ValueError("deriving nodes needs at least two nodes to take the step from")
    (_, ip_a, net_a), (name_b, ip_b, net_b) = nodes[-2], nodes[-1]
    ip_step = int(ipaddress.ip_address(ip_b)) - int(ipaddress.ip_address(ip_a))
    net_a, net_b = ipaddress.ip_network(net_a), ipaddress.ip_network(net_b)
    net_step = int(net_b.network_address) - int(net_a.network_address)
    match = re.fullmatch(r"(.*?)(\d+)", name_b)
    if not match or ip_step <= 0 or net_step <= 0 or net_a.prefixlen != net_b.prefixlen:
        raise ValueError("the last two nodes give no step to derive more from (names nodeN, rising IPs and subnets)")
    lab, pods = ipaddress.ip_network(lab_network), ipaddress.ip_network(pod_cidr)
    extra = []
    for k in range(1, count - len(nodes) + 1):
        ip = ipaddress.ip_address(int(ipaddress.ip_address(ip_b)) + k * ip_step)
        first = ipaddress.ip_address(int(net_b.network_address) + k * net_step)
        net = ipaddress.ip_network(f"{first}/{net_b.prefixlen}")
        if ip not in lab or ip in (lab.network_address, lab.broadcast_address) or not net.subnet_of(pods):
            raise ValueError(f"node {k + len(nodes)} would be {ip}, {net}: outside {lab} or {pods}")
        extra.append((f"{match[1]}{int(match[2]) + k}", str(ip), str(net)))
    return extra


def override(extra: list[tuple[str, str, str]]) -> str:
    """The inventory override (YAML) that adds the extra nodes to the nodes group."""
    hosts = {name: {"netlab_lab_ip": ip, "netlab_pod_subnet": net} for name, ip, net in extra}
    return yaml.safe_dump({"all": {"children": {"nodes": {"hosts": hosts}}}}, sort_keys=False)


def write_override(path: Path, extra: list[tuple[str, str, str]]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# make bench: extra nodes derived from the inventory's last two\n" + override(extra),
                    encoding="utf-8")
    return str(path)


def pod_routes(node: str) -> int:
    """The node's static pod routes (proto netlab): n-1 in an n-node lab."""
    return len(shell.node(node, "ip -4 route show proto netlab").splitlines())


# Services ---------------------------------------------------------------------

def _services(count: int) -> list[dict]:
    return [{"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": f"bench-{i:04d}", "namespace": SERVICE_NAMESPACE},
             "spec": {"selector": {"netlab-bench": "backend"},
                      "ports": [{"port": 80, "targetPort": 80, "protocol": "TCP"}]}}
            for i in range(count)]


def _backend(node: str, image: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "backend", "namespace": SERVICE_NAMESPACE, "labels": {"netlab-bench": "backend"}},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "pause", "image": image}]}}


def nat_rules(node: str) -> tuple[int, int, int]:
    """(rules in the node's nat table, KUBE-SVC-* chains, the bench's Services in
    KUBE-SERVICES) as iptables-save prints them. The bench's own are counted by the
    rule comment kube-proxy writes (`<namespace>/<name> cluster IP`, on the jump to the
    Service's chain), so that Services
    of other namespaces, coming or going meanwhile, do not count."""
    lines = shell.node(node, "iptables-save -t nat").splitlines()
    rules = sum(1 for line in lines if line.startswith("-A "))
    chains = sum(1 for line in lines if line.startswith(":KUBE-SVC-"))
    ours = sum(1 for line in lines if line.startswith("-A KUBE-SERVICES ")
               and f'"{SERVICE_NAMESPACE}/' in line and "cluster IP" in line and "-j KUBE-SVC-" in line)
    return rules, chains, ours


def sync_metrics(node: str) -> tuple[float, float]:
    """kube-proxy's (sum, count) of kubeproxy_sync_proxy_rules_duration_seconds on the node."""
    text = shell.node(node, "curl -fsS http://127.0.0.1:10249/metrics")
    values = {}
    for line in text.splitlines():
        for key in ("sum", "count"):
            if line.startswith(f"kubeproxy_sync_proxy_rules_duration_seconds_{key} "):
                values[key] = float(line.split()[1])
    return values.get("sum", 0.0), values.get("count", 0.0)


def services(counts: list[int], node: str, backend_node: str) -> list[dict]:
    """For each count: the Services made, nat rules and KUBE-SVC chains on `node`,
    seconds until its rules had them all, and kube-proxy's mean sync time meanwhile."""
    out = []
    shell.kubectl("create", "namespace", SERVICE_NAMESPACE)
    try:
        shell.apply([_backend(backend_node, pause_image(backend_node))])
        shell.kubectl("wait", "-n", SERVICE_NAMESPACE, "--for=condition=Ready", "pod/backend", "--timeout=120s")
        made = 0
        for count in counts:
            shell.say(f"{count} Services")
            s0, c0 = sync_metrics(node)
            objects = _services(count)[made:]
            start = time.monotonic()
            for first in range(0, len(objects), 250):
                shell.apply(objects[first:first + 250])
            applied = time.monotonic()
            shell.wait_for(lambda c=count: nat_rules(node)[2] >= c,
                           f"{count} Services in {node}'s rules", timeout=600, every=1)
            seen = time.monotonic()
            s1, c1 = sync_metrics(node)
            rules, chains, _ = nat_rules(node)
            made = count
            out.append({"services": count, "nat_rules": rules, "svc_chains": chains,
                        "apply_s": applied - start, "rules_after_s": seen - applied,
                        "sync_s": (s1 - s0) / (c1 - c0) if c1 > c0 else None, "syncs": c1 - c0})
    finally:
        shell.kubectl("delete", "namespace", SERVICE_NAMESPACE, "--wait=false")
    return out
