"""The lesson's handles: the chapter's pods as kubectl sees them, a Service's
endpoints and kube-proxy's chains for it, and the guestbook frontend's JSON API
(guestbook.php answers with the pod that served the request and the caller's address
as that pod saw it)."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

from netlab_tests.wait import wait_until

# A caller inside a pod: the frontend image has PHP, not curl.
# The answer is read whatever its status (the frontend says 503 without redis).
PHP_GET = (
    'echo file_get_contents($argv[1], false, stream_context_create('
    '["http" => ["ignore_errors" => true, "timeout" => 10]]));'
)


@dataclass(frozen=True)
class Pod:
    name: str
    node: str
    ip: str
    phase: str


def kubectl_apply(cp, lab, *objects: dict) -> None:
    """`kubectl apply` of the objects, given as data, on the control-plane node `cp` (as the admin)."""
    doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)})
    cp.check_output("printf '%%s' %s | kubectl --kubeconfig %s apply -f -", doc, lab.admin_kubeconfig)


def pods(kubectl, selector: str, namespace: str = "default") -> list[Pod]:
    items = json.loads(kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json"))["items"]
    return [
        Pod(p["metadata"]["name"], p["spec"].get("nodeName", ""), p["status"].get("podIP", ""),
            p["status"].get("phase", ""))
        for p in items
    ]


def guestbook_from_node(host, address: str, query: str = "cmd=get") -> dict:
    """Ask the frontend at `address` from a node; the answer's JSON."""
    out = host.check_output("curl -sS -m 10 %s", f"http://{address}/guestbook.php?{query}")
    return json.loads(out)


def guestbook_from_pod(kubectl, pod: str, address: str, query: str = "cmd=get", namespace: str = "default") -> dict:
    """Ask the frontend at `address` from inside `pod` (its php-redis container)."""
    out = kubectl(
        "exec", "-n", namespace, pod, "--", "php", "-r", PHP_GET,
        f"http://{address}/guestbook.php?{query}",
    )
    return json.loads(out)


def guestbook_round_trip(asker, frontends: list[Pod], label: str, timeout: float = 30) -> tuple[Pod, Pod]:
    """A new message written through the first frontend pod and read back through one on
    another node (both asked from the node `asker` by pod IP): the write goes to the redis
    master, the read to a slave. Fails unless each happens within `timeout` s."""
    writer = frontends[0]
    reader = next(p for p in frontends if p.node != writer.node)
    message = f"{label}-{writer.node}-{uuid.uuid4().hex[:8]}"

    def write():
        answer = guestbook_from_node(asker, writer.ip, f"cmd=set&value={message}")
        return answer if answer.get("served_by") == writer.name and answer.get("count", 0) >= 1 else None

    def read_back():
        answer = guestbook_from_node(asker, reader.ip)
        return answer if message in answer.get("messages", []) else None

    wait_until(write, timeout=timeout, what=f"{message} written through {writer.name} on {writer.node}")
    answer = wait_until(read_back, timeout=timeout, what=f"{message} read back through {reader.name} on {reader.node}")
    assert answer["served_by"] == reader.name, answer
    return writer, reader


def endpoint_addresses(kubectl, name: str, namespace: str = "default") -> set[str]:
    """The Service's endpoints, as `<ip>:<port>`."""
    ep = json.loads(kubectl("get", "endpoints", name, "-n", namespace, "-o", "json"))
    return {f"{a['ip']}:{port['port']}" for s in ep.get("subsets", []) for a in s.get("addresses", [])
            for port in s["ports"]}


def kube_proxy_chain(nat: str, cluster_ip: str, port: int) -> tuple[str, list[str], dict[str, str]]:
    """KUBE-SERVICES -> KUBE-SVC-* -> KUBE-SEP-*: the service chain, its endpoint
    chains in order, and each endpoint chain's DNAT target."""
    rules = [r for r in nat.splitlines() if r.startswith("-A ")]
    jump = [r for r in rules if r.startswith("-A KUBE-SERVICES ") and f"-d {cluster_ip}/32" in r
            and f"--dport {port}" in r and "-j KUBE-SVC-" in r]
    assert len(jump) == 1, jump
    svc = jump[0].split("-j ")[-1].strip()
    seps = [r.split("-j ")[-1].strip() for r in rules if r.startswith(f"-A {svc} ") and "-j KUBE-SEP-" in r]
    dnat = {}
    for sep in seps:
        targets = [re.search(r"--to-destination (\S+)", r).group(1)
                   for r in rules if r.startswith(f"-A {sep} ") and "-j DNAT" in r]
        assert len(targets) == 1, (sep, targets)
        dnat[sep] = targets[0]
    return svc, seps, dnat
