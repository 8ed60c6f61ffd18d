"""The lab as the report sees it: nodes, their pods and containers, Services and their
endpoints, and the transcript's sections, as plain dataclasses (built by
netlab_report.observations)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Command:
    command: str
    rc: int | None
    stdout: str
    stderr: str


@dataclass
class Section:
    """The commands run on one host, under one heading."""

    host: str
    title: str
    commands: list[Command]


@dataclass
class Container:
    id: str
    name: str  # the Kubernetes container name; "pause" for a sandbox; Docker's name otherwise
    image: str
    kind: str  # "pause", "app" or "other"
    ip: str
    network_mode: str
    ports: list[str]  # host port mappings, ":80 → 80/tcp"
    pod: tuple[str, str] | None  # (namespace, name) of its pod, from kubelet's labels

    @property
    def short_id(self) -> str:
        return self.id[:12]


@dataclass
class Pod:
    namespace: str
    name: str
    node: str
    ip: str = ""
    phase: str = ""
    owner: str = ""
    containers: list[Container] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def host_ports(self) -> list[str]:
        return [p for c in self.containers if c.kind == "pause" for p in c.ports]


@dataclass
class Route:
    dst: str
    via: str
    dev: str


@dataclass
class Node:
    name: str
    lab_ip: str
    iface: str
    bip: str
    pod_subnet: str
    control_plane: bool
    routes: list[Route]
    pods: list[Pod]
    others: list[Container]  # containers Kubernetes did not make


@dataclass
class Endpoint:
    ip: str
    ports: list[str]
    ready: bool
    pod: tuple[str, str] | None  # (namespace, name) of the pod behind it, if any
    node: str

    @property
    def label(self) -> str:
        return f"{self.ip}:{','.join(self.ports)}" if self.ports else self.ip


@dataclass
class Service:
    namespace: str
    name: str
    cluster_ip: str
    ports: list[str]
    selector: str
    endpoints: list[Endpoint]

    @property
    def address(self) -> str:
        ip = self.cluster_ip if self.cluster_ip not in ("", "None") else "headless"
        return ", ".join(f"{ip}:{p}" for p in self.ports) or ip


@dataclass
class Lab:
    generated_at: str
    lab_network: str
    pod_cidr: str
    service_cidr: str
    nodes: list[Node]
    pods: list[Pod]  # every pod, also those on no observed node
    services: list[Service]
    sections: list[Section]


def is_node_ip(ip: str, lab: Lab) -> bool:
    return any(ip == n.lab_ip for n in lab.nodes)


def endpoint_note(ep: Endpoint, lab: Lab) -> str:
    """Where an endpoint lives: its pod's node, or the node it is the address of."""
    for node in lab.nodes:
        if ep.ip == node.lab_ip:
            return f"{node.name} host"
    pods = {p.key: p for p in lab.pods}
    pod = pods.get(ep.pod) if ep.pod else next((p for p in lab.pods if p.ip == ep.ip), None)
    return (pod.node if pod and pod.node else ep.node) + ("" if ep.ready else " not ready")
