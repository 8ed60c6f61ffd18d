"""Asking the cluster DNS from a pod, two ways, and what the nodes' conntrack saw.

- `resolve`: the pod's own resolver (glibc, through its /etc/resolv.conf with
  kubelet's nameserver and search list), from PHP in the guestbook frontend's
  container: what an application in the pod gets for a name.
- `ask`: one raw DNS question (netlab_tests/dnsquery.py, run by the node's python3
  inside the pod's network namespace, nsenter): the response code, every answer,
  and the source port, so that the question's path can be found in conntrack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from netlab_tests import dnsquery
from netlab_tests.ansible import ansible_value, role_default
from netlab_tests.lab import Lab
from netlab_tests.lesson import Pod, pods

# The CoreDNS pods and the kube-dns Service, as roles/cluster_dns labels them.
LABELS = "k8s-app=kube-dns"
DNSQUERY = Path(dnsquery.__file__).read_text()
# gethostbynamel: every IPv4 address of the name (search list and ndots applied), or false.
PHP_RESOLVE = "echo json_encode(gethostbynamel($argv[1]));"


@dataclass(frozen=True)
class Flow:
    """One conntrack entry: the original direction's and the reply's tuple."""

    src: str
    dst: str
    sport: int
    dport: int
    reply_src: str
    reply_dst: str


def endpoint_ips(kubectl) -> set[str]:
    """kube-dns's ready endpoints' addresses."""
    ep = json.loads(kubectl("get", "endpoints", "kube-dns", "-n", "kube-system", "-o", "json"))
    return {a["ip"] for s in ep.get("subsets", []) for a in s.get("addresses", [])}


def ready_pods(kubectl) -> list[Pod]:
    """The CoreDNS pods when every one runs and is behind kube-dns (its ready endpoints),
    as many as the role deploys; else an empty list."""
    found = [p for p in pods(kubectl, LABELS, "kube-system") if p.phase == "Running" and p.ip]
    wanted = role_default("cluster_dns", "cluster_dns_replicas")
    return found if len(found) == wanted and endpoint_ips(kubectl) == {p.ip for p in found} else []


def cluster_dns_ip(lab: Lab) -> str:
    """kube-dns's address, as the inventory derives it (netlab_cluster_dns_ip)."""
    return str(ansible_value(lab, next(iter(lab.nodes)), "{{ netlab_cluster_dns_ip }}"))


def sandbox_pid(host, pod: str, namespace: str) -> int:
    """The PID of the pod's pause container on its node: the holder of its network namespace."""
    ids = host.check_output(
        "docker ps -q --filter label=io.kubernetes.pod.name=%s --filter label=io.kubernetes.pod.namespace=%s "
        "--filter label=io.kubernetes.docker.type=podsandbox", pod, namespace).split()
    assert len(ids) == 1, f"{namespace}/{pod}: {len(ids)} sandboxes on this node"
    return int(host.check_output("docker inspect -f '{{.State.Pid}}' %s", ids[0]))


def ask(host, pod: str, namespace: str, server: str, name: str, qtype: str = "A", sport: int = 0) -> dict:
    """One DNS question from inside the pod (on its node `host`) to `server`, port 53."""
    pid = sandbox_pid(host, pod, namespace)
    out = host.check_output("nsenter -t %s -n python3 -c %s %s %s %s %s",
                            str(pid), DNSQUERY, server, name, qtype, str(sport))
    return json.loads(out)


def addresses(reply: dict) -> set[str]:
    return {a["data"] for a in reply.get("answers", []) if a["type"] in ("A", "AAAA")}


def resolve(kubectl, pod: str, namespace: str, name: str) -> list[str] | None:
    """The name's IPv4 addresses as the pod's own resolver finds them (None: not found)."""
    return json.loads(kubectl("exec", "-n", namespace, pod, "--", "php", "-r", PHP_RESOLVE, name)) or None


def resolv_conf(kubectl, pod: str, namespace: str) -> dict[str, list[str]]:
    """The pod's /etc/resolv.conf: keyword -> its values (nameserver: every server)."""
    conf: dict[str, list[str]] = {}
    for line in kubectl("exec", "-n", namespace, pod, "--", "cat", "/etc/resolv.conf").splitlines():
        words = line.split()
        if words and not words[0].startswith("#"):
            conf.setdefault(words[0], []).extend(words[1:])
    return conf


def udp_flows(host, src: str, sport: int) -> list[Flow]:
    """The node's conntrack entries for UDP from src:sport (empty if it saw none)."""
    out = host.run("conntrack -L -p udp --orig-src %s --sport %s", src, str(sport)).stdout
    flows = []
    for line in out.splitlines():
        fields = [f.split("=", 1) for f in line.split() if "=" in f]
        keys = [k for k, _ in fields]
        if keys.count("src") < 2:
            continue
        first, second = keys.index("src"), keys.index("src", keys.index("src") + 1)
        orig, reply = dict(fields[first:second]), dict(fields[second:])
        flows.append(Flow(orig["src"], orig["dst"], int(orig["sport"]), int(orig["dport"]),
                          reply["src"], reply["dst"]))
    return flows
