"""Reading a node's nat table: which rules could rewrite a pod's source address.

Shared by the routing tests (no NAT between nodes) and the lesson (observation 7:
no MASQUERADE for pod traffic, Step 2: pod-to-Service traffic keeps its source).
"""

from __future__ import annotations

import ipaddress

# kube-proxy's own masquerading: KUBE-POSTROUTING first returns every packet that
# lacks its mark, and only KUBE-MARK-MASQ sets the mark (Service traffic from outside
# the pod range, a pod reaching itself through its Service). Pod-to-pod traffic is
# never marked; test_pod_traffic_crosses_nodes_with_its_real_source_ip proves it.
KUBE_MASQ_GUARD = "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN"


def nat_rules_that_could_rewrite_pod_sources(nat_table: str, pod_cidr) -> list[str]:
    """MASQUERADE/SNAT rules whose source match could include a pod address."""
    offenders = []
    rules = [r for r in nat_table.splitlines() if r.startswith("-A ")]
    kube_chain = [r for r in rules if r.startswith("-A KUBE-POSTROUTING ")]
    kube_guarded = bool(kube_chain) and kube_chain[0] == KUBE_MASQ_GUARD
    for rule in rules:
        if not ("-j MASQUERADE" in rule or "-j SNAT" in rule):
            continue
        if kube_guarded and rule.startswith("-A KUBE-POSTROUTING "):
            continue  # reached by kube-proxy-marked packets only
        words = rule.split()
        if "-s" not in words:
            offenders.append(rule)  # no source match: applies to pod traffic too
            continue
        i = words.index("-s")
        negated = i > 0 and words[i - 1] == "!"
        if negated or ipaddress.ip_network(words[i + 1]).overlaps(pod_cidr):
            offenders.append(rule)
    return offenders
