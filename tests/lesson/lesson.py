"""The lesson's handles: the chapter's pods as kubectl sees them, and the guestbook
frontend's JSON API (guestbook.php answers with the pod that served the request
and the caller's address as that pod saw it)."""

from __future__ import annotations

import json
from dataclasses import dataclass

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

