"""The lesson's key observations, checked quickly: is the lab as step 2 left it?

For drills (and anything else that breaks the lab on purpose and wants to see it
whole again). With the step-2 workloads deployed (`lesson_step2` in
tests/drills/conftest.py runs playbooks/step2-service.yml), one call:

    from netlab_tests.observations import check
    seen = check(lab, nodes, kubectl)            # waits up to 180 s in all, else fails

checks, as tests/lesson/test_step2_service.py does (with netlab_tests.lesson's helpers):

1. the frontend pods run one per node, the redis pods run, every pod's IP is in its
   node's pod subnet (the inventory's `netlab_pod_subnet`), and the Endpoints are
   exactly the pods;
2. kube-proxy's rules: on every node the frontend cluster IP chains to exactly one
   DNAT per endpoint;
3. the frontend cluster IP answers from every node, and from a pod (reaching a pod
   on another node, which sees the caller's own IP), its page read from redis
   through the redis-slave cluster IP;
4. pod to pod across nodes: each frontend pod reaches the frontend pod on the next
   node by its pod IP, which sees the caller's own IP (no NAT);
5. with the cluster DNS on (`netlab_cluster_dns`): from the frontend pod on every
   node, the name `frontend` resolves to its cluster IP.

Each part waits (polling) for the lab to converge, within one overall `timeout`.
It returns `Seen` (the pods it checked, the frontend cluster IP and how long it
took); it fails the test with the part that did not hold. Also here:
`dnat_targets(host, cluster_ip)`, where kube-proxy's rules on a node send a cluster IP.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

from netlab_tests import dns
from netlab_tests.lesson import (
    Pod,
    endpoint_addresses,
    guestbook_from_node,
    guestbook_from_pod,
    kube_proxy_chain,
    pods,
)
from netlab_tests.wait import wait_until

DEFAULT_TIMEOUT_S = 180
SERVICE = "frontend"
PORT = 80


@dataclass(frozen=True)
class Seen:
    frontends: list[Pod]
    redis: list[Pod]
    cluster_ip: str
    seconds: float  # how long the observations took to hold


class NotYet(Exception):
    """What does not hold yet (the last one is in the timeout's message)."""


def _placed(lab, kubectl) -> tuple[list[Pod], list[Pod]]:
    frontends = pods(kubectl, "name=frontend")
    redis = pods(kubectl, "name=redis-master") + pods(kubectl, "name=redis-slave")
    running = frontends + redis
    table = ", ".join(f"{p.name} {p.phase or '?'} on {p.node or '-'} at {p.ip or '-'}" for p in running)
    if sorted(p.node for p in frontends) != sorted(lab.nodes) or len(redis) != 3:
        raise NotYet(f"not one frontend pod per node and three redis pods: {table}")
    if not all(p.phase == "Running" and p.ip and p.node in lab.nodes
               and ipaddress.ip_address(p.ip) in lab.nodes[p.node].pod_subnet for p in running):
        raise NotYet(f"not every pod Running with an IP in its node's pod subnet: {table}")
    endpoints = endpoint_addresses(kubectl, SERVICE)
    if endpoints != {f"{p.ip}:{PORT}" for p in frontends}:
        raise NotYet(f"the Endpoints of {SERVICE} are {sorted(endpoints)}, the pods: {table}")
    return frontends, redis


def dnat_targets(host, cluster_ip: str, port: int = PORT) -> set[str]:
    """Where kube-proxy's chains on `host` send `cluster_ip:port`: one DNAT target per
    endpoint chain (KUBE-SERVICES -> KUBE-SVC-* -> KUBE-SEP-*; fails if the chain is not there)."""
    return set(kube_proxy_chain(host.check_output("iptables-save -t nat"), cluster_ip, port)[2].values())


def _served(answer: dict, by: set[str], client_ip: str | None = None) -> bool:
    """The guestbook answered from one of `by`, read redis (`messages`), and saw `client_ip`."""
    return (answer.get("served_by") in by and "messages" in answer and "error" not in answer
            and (client_ip is None or answer.get("client_ip") == client_ip))


def check(lab, nodes, kubectl, timeout: float = DEFAULT_TIMEOUT_S) -> Seen:
    """Wait until the step-2 observations hold again (at most `timeout` s in all)."""
    start = time.monotonic()

    def until(probe, what: str):
        left = max(timeout - (time.monotonic() - start), 1)
        return wait_until(probe, timeout=left, interval=2, what=f"the lesson's observation: {what}")

    frontends, redis = until(lambda: _placed(lab, kubectl),
                             "the frontend pods one per node and the redis pods running, each IP in "
                             "its node's pod subnet, the Endpoints exactly the frontend pods")
    cluster_ip = kubectl("get", "service", SERVICE, "-o", "jsonpath={.spec.clusterIP}")
    endpoints = sorted(endpoint_addresses(kubectl, SERVICE))
    names = {p.name for p in frontends}

    for name, host in nodes.items():
        until(lambda host=host: dnat_targets(host, cluster_ip) == set(endpoints),
              f"kube-proxy's chains for {cluster_ip} to {endpoints} on {name}")
        until(lambda host=host: _served(guestbook_from_node(host, cluster_ip), names),
              f"the cluster IP {cluster_ip} (and redis behind it) answers from {name}")

    caller = frontends[0]

    def from_a_pod():
        # One that comes back to the caller itself is a hairpin (masqueraded): ask again.
        return _served(guestbook_from_pod(kubectl, caller.name, cluster_ip), names - {caller.name}, caller.ip)

    until(from_a_pod, f"the cluster IP {cluster_ip} from the pod {caller.name} reaches a pod on another node")

    ordered = sorted(frontends, key=lambda p: p.node)
    for here, there in zip(ordered, ordered[1:] + ordered[:1], strict=True):
        until(lambda here=here, there=there:
              _served(guestbook_from_pod(kubectl, here.name, there.ip), {there.name}, here.ip),
              f"{here.name} on {here.node} reaches {there.name} on {there.node} at {there.ip}, "
              "which sees its own IP")
    if lab.cluster_dns:
        for pod in ordered:
            until(lambda pod=pod: dns.resolve(kubectl, pod.name, "default", SERVICE) == [cluster_ip],
                  f"the name {SERVICE} resolves to {cluster_ip} from {pod.name} on {pod.node}")
    return Seen(frontends, redis, cluster_ip, time.monotonic() - start)
