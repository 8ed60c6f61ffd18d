"""Reading a host (testinfra): its addresses and routes, its units' main processes,
and which nodes the cluster has Ready."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable


def ip_json(host, *args: str):
    """`ip -j -4 <args>` on a host, parsed."""
    return json.loads(host.check_output("ip -j -4 " + " ".join(args)) or "[]")


def ipv4_addresses(host, interface: str) -> list[str]:
    """The interface's IPv4 addresses with their prefix length, as `ip addr` lists them."""
    return [f"{a['local']}/{a['prefixlen']}" for link in ip_json(host, "addr", "show", "dev", interface)
            for a in link["addr_info"]]


def main_pid(host, unit: str) -> int:
    """The unit's main process (0 while it has none)."""
    return int(host.check_output("systemctl show -p MainPID --value %s", unit) or 0)


def nodes_ready(kubectl: Callable[..., str], names: Iterable[str]) -> bool:
    """Every node in `names` has the condition Ready=True."""
    items = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    ready = {i["metadata"]["name"] for i in items
             for c in i["status"]["conditions"] if c["type"] == "Ready" and c["status"] == "True"}
    return set(names) <= ready


def kubelet_config(kubectl: Callable[..., str], node: str) -> dict:
    """kubelet's running configuration on `node` (its configz, through the API server)."""
    return json.loads(kubectl("get", "--raw", f"/api/v1/nodes/{node}/proxy/configz"))["kubeletconfig"]
