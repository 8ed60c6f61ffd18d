"""The lab model built from observations.json (as roles/observe writes it): the nodes
with their pods, containers and static routes, the Services with their endpoints, and
the transcript's sections, the control plane's kubectl first, then node by node."""

from __future__ import annotations

import json
from pathlib import Path

from netlab_report.model import Container, Lab, Node, Pod, Section
from netlab_report.parsing import (
    as_bool,
    as_dict,
    as_list,
    as_text,
    docker0_address,
    lab_interface,
    parse_command,
    parse_container,
    parse_pods,
    parse_services,
    static_routes,
)


class InputError(Exception):
    """The observations file cannot be used."""


def load_observations(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path} holds no observations (a JSON object is expected)")
    return data


def attach_containers(pods: dict[tuple[str, str], Pod], node: str,
                      containers: list[Container]) -> list[Container]:
    """File a node's Kubernetes containers under their pods (adding pods only Docker knows);
    return the others."""
    others = []
    for container in containers:
        if container.pod is None:
            others.append(container)
            continue
        namespace, name = container.pod
        pod = pods.setdefault(container.pod, Pod(namespace=namespace, name=name, node=node))
        pod.containers.append(container)
        if container.kind == "pause" and not pod.ip:
            pod.ip = container.ip
    for pod in pods.values():
        pod.containers.sort(key=lambda c: (c.kind != "pause", c.name))
    return others


def control_plane_names(obs: dict) -> list[str]:
    value = obs.get("control_plane")
    return [value] if isinstance(value, str) and value else [as_text(v) for v in as_list(value)]


def parse_node(name: str, obj: dict, lab: dict, pods: dict, control_plane: list[str]) -> Node:
    addresses, routes = as_list(obj.get("addresses")), as_list(obj.get("routes"))
    containers = [parse_container(c) for c in as_list(obj.get("containers")) if isinstance(c, dict)]
    lab_ip = as_text(obj.get("lab_ip"))
    others = attach_containers(pods, name, containers)
    return Node(
        name=name,
        lab_ip=lab_ip,
        iface=lab_interface(addresses, lab_ip, routes),
        bip=as_text(obj.get("bip")) or docker0_address(addresses),
        pod_subnet=as_text(obj.get("pod_subnet")),
        control_plane=as_bool(obj.get("control_plane")) or name in control_plane,
        routes=static_routes(routes, as_text(lab.get("pod_cidr"))),
        pods=[],
        others=others,
    )


def node_title(node: Node) -> str:
    facts = [f for f in (node.lab_ip, node.bip and f"docker0 {node.bip}") if f]
    role = " (control plane)" if node.control_plane else ""
    return f"{node.name}{role}" + (f": {', '.join(facts)}" if facts else "")


def parse_sections(obs: dict, nodes: list[Node], raw_nodes: dict) -> list[Section]:
    sections = []
    kubectl = [parse_command(c) for c in as_list(obs.get("kubectl"))]
    if kubectl:
        host = (control_plane_names(obs) or ["control-plane"])[0]
        sections.append(Section(host, f"control plane ({host}): the cluster as kubectl sees it", kubectl))
    for node in nodes:
        commands = [parse_command(c) for c in as_list(as_dict(raw_nodes[node.name]).get("commands"))]
        sections.append(Section(node.name, node_title(node), commands))
    return sections


def pod_order(pod: Pod) -> tuple:
    return (pod.namespace != "default", pod.namespace, pod.name)


def parse_lab(obs: dict) -> Lab:
    lab = as_dict(obs.get("lab"))
    pods = parse_pods(obs)
    raw_nodes = as_dict(obs.get("nodes"))
    cp = control_plane_names(obs)
    nodes = [parse_node(name, as_dict(obj), lab, pods, cp) for name, obj in raw_nodes.items()]
    by_name = {n.name: n for n in nodes}
    for pod in sorted(pods.values(), key=pod_order):
        if pod.node in by_name:
            by_name[pod.node].pods.append(pod)
    return Lab(
        generated_at=as_text(obs.get("generated_at")),
        lab_network=as_text(lab.get("lab_network")),
        pod_cidr=as_text(lab.get("pod_cidr")),
        service_cidr=as_text(lab.get("service_cidr")),
        nodes=nodes,
        pods=sorted(pods.values(), key=pod_order),
        services=parse_services(obs),
        sections=parse_sections(obs, nodes, raw_nodes),
    )

