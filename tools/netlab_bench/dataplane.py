"""iperf3 between the lab's own hosts and pods (Debian's iperf3, in every node).

A pod here is a bare pod (a pause container) pinned to a node by nodeName; iperf3
runs in its network namespace (`nsenter -n` into the pod's sandbox on its node), so
the packets take the pod's path: its veth, docker0, the node's routes, kube-proxy's
DNAT for the Service. Every server and client is bounded by `timeout` and ends by
itself; every address is the lab's own (a node's lab IP, a pod IP, a cluster IP).
"""

from __future__ import annotations

import json
import re
import shlex

from . import shell

NAMESPACE = "netlab-bench"
PORT = 5201
SERVER_SECONDS = 600  # a server outlives the runs, then ends by itself
CLIENT_SECONDS = 5    # each measurement
LABEL = "netlab-bench"


def pause_image(node: str) -> str:
    """The image kubelet runs every pod's sandbox from (on the node already)."""
    unit = shell.node(node, "systemctl cat kubelet")
    match = re.search(r"--pod-infra-container-image=(\S+)", unit)
    if not match:
        raise RuntimeError(f"{node}: kubelet's unit names no --pod-infra-container-image")
    return match[1]


def pod(name: str, node: str, role: str, image: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {LABEL: role}},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                 "containers": [{"name": "pause", "image": image,
                                 "ports": [{"containerPort": PORT, "protocol": "TCP"}]}]},
    }


def service() -> dict:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "iperf3", "namespace": NAMESPACE},
        "spec": {"selector": {LABEL: "server"}, "ports": [{"port": PORT, "targetPort": PORT, "protocol": "TCP"}]},
    }


def sandbox_pid(node: str, pod_name: str) -> int:
    """The PID of the pod's pause container on its node (holder of its network namespace)."""
    ids = shell.node(node, "docker ps -q --filter label=io.kubernetes.pod.name=" + shlex.quote(pod_name)
                     + " --filter label=io.kubernetes.pod.namespace=" + NAMESPACE
                     + " --filter label=io.kubernetes.docker.type=podsandbox").split()
    if len(ids) != 1:
        raise RuntimeError(f"{pod_name}: {len(ids)} sandboxes on {node}")
    return int(shell.node(node, f"docker inspect -f '{{{{.State.Pid}}}}' {ids[0]}"))


def bits_per_second(report: str) -> float:
    """The receiver's throughput from `iperf3 -J`."""
    return float(json.loads(report)["end"]["sum_received"]["bits_per_second"])


class Bench:
    """Two nodes and three pods: the server pod on `far`, client pods on `near` and
    on `far`, and a Service in front of the server pod."""

    def __init__(self, near: str, far: str, far_lab_ip: str) -> None:
        self.near, self.far, self.far_lab_ip = near, far, far_lab_ip

    def __enter__(self) -> Bench:
        shell.say(f"iperf3: pods on {self.near} and {self.far}")
        shell.kubectl("create", "namespace", NAMESPACE)
        image = pause_image(self.far)
        shell.apply([pod("server", self.far, "server", image), pod("client-near", self.near, "client", image),
                     pod("client-far", self.far, "client", image), service()])
        shell.kubectl("wait", "-n", NAMESPACE, "--for=condition=Ready", "pod", "--all", "--timeout=120s")
        pods = shell.kubectl_json("get", "pods", "-n", NAMESPACE)["items"]
        self.pod_ip = {p["metadata"]["name"]: p["status"]["podIP"] for p in pods}
        self.cluster_ip = shell.kubectl_json("get", "service", "-n", NAMESPACE, "iperf3")["spec"]["clusterIP"]
        self.pid = {name: sandbox_pid(node, name) for name, node in
                    (("server", self.far), ("client-near", self.near), ("client-far", self.far))}
        # Servers: one in the server pod, one in the far node's own namespace.
        self._server(f"nsenter -t {self.pid['server']} -n")
        self._server("")
        for prefix in (f"nsenter -t {self.pid['server']} -n", ""):
            shell.wait_for(lambda p=prefix: shell.node(self.far, f"{p} ss -Hltn 'sport = :{PORT}'").strip(),
                           "an iperf3 server", timeout=30, every=0.5)
        return self

    def _server(self, prefix: str) -> None:
        shell.node_detached(self.far, f"exec {prefix} timeout {SERVER_SECONDS} iperf3 -s -p {PORT}")

    def __exit__(self, *exc) -> None:
        shell.node(self.far, "pkill -x iperf3 || true")
        shell.kubectl("delete", "namespace", NAMESPACE, "--wait=false")

    def _client(self, node: str, prefix: str, target: str) -> float:
        report = shell.node(node, f"{prefix} timeout {CLIENT_SECONDS + 20} iperf3 -J -c {target} -p {PORT} "
                                  f"-t {CLIENT_SECONDS}", timeout=CLIENT_SECONDS + 30)
        return bits_per_second(report) / 1e9

    def node_to_node(self) -> float:
        return self._client(self.near, "", self.far_lab_ip)

    def pod_to_pod_across(self) -> float:
        return self._client(self.near, f"nsenter -t {self.pid['client-near']} -n", self.pod_ip["server"])

    def pod_to_pod_same_node(self) -> float:
        return self._client(self.far, f"nsenter -t {self.pid['client-far']} -n", self.pod_ip["server"])

    def through_cluster_ip(self) -> float:
        return self._client(self.near, f"nsenter -t {self.pid['client-near']} -n", self.cluster_ip)


MEASURES = {
    "node to node": Bench.node_to_node,
    "pod to pod, across nodes": Bench.pod_to_pod_across,
    "pod to pod, one node": Bench.pod_to_pod_same_node,
    "pod to its Service's cluster IP": Bench.through_cluster_ip,
}


def measure(runs: int, near: str, far: str, far_lab_ip: str) -> dict[str, list[float]]:
    """Gbit/s per path, `runs` rounds; each round measures every path once, in turn,
    so that a ratio compares figures taken side by side."""
    out: dict[str, list[float]] = {name: [] for name in MEASURES}
    with Bench(near, far, far_lab_ip) as bench:
        for i in range(runs):
            shell.say(f"iperf3 round {i + 1}/{runs}")
            for name, how in MEASURES.items():
                out[name].append(how(bench))
    return out


def ratios(gbps: dict[str, list[float]]) -> dict[str, list[float]]:
    """Per-round ratios: pod-to-pod across nodes / node-to-node, and cluster IP / pod direct."""
    pairs = {
        "pod to pod across nodes / node to node": ("pod to pod, across nodes", "node to node"),
        "cluster IP / pod direct": ("pod to its Service's cluster IP", "pod to pod, across nodes"),
    }
    return {name: [a / b for a, b in zip(gbps[top], gbps[bottom], strict=True) if b]
            for name, (top, bottom) in pairs.items()}
