"""Parsers of what the observed commands printed, each into pieces of the model:
a command record, `docker inspect`, `ip -json addr` and `ip -json route`, and
`kubectl get ... -o json`. Every parser takes whatever JSON it is given: a missing or
mistyped field reads as empty, never as an error."""

from __future__ import annotations

import ipaddress
from typing import Any

from netlab_report.model import Command, Container, Endpoint, Pod, Route, Service


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def as_text(value: Any) -> str:
    return "" if value is None else str(value)


def as_bool(value: Any) -> bool:
    """true, or a string that says so ("True", "yes", "1"): templated values may be either."""
    return value is True or as_text(value).strip().lower() in ("true", "yes", "1")


def parse_command(obj: Any) -> Command:
    obj = as_dict(obj)
    rc = obj.get("rc")
    return Command(
        command=as_text(obj.get("command")) or "?",
        rc=rc if isinstance(rc, int) else None,
        stdout=as_text(obj.get("stdout")),
        stderr=as_text(obj.get("stderr")),
    )


# ----------------------------------------------------------------- docker inspect


def port_mappings(ports: Any) -> list[str]:
    """Docker's {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "80"}]} as [":80 → 80/tcp"]."""
    found: list[str] = []
    for container_port, bindings in sorted(as_dict(ports).items()):
        for binding in as_list(bindings):
            host_port = as_text(as_dict(binding).get("HostPort"))
            host_ip = as_text(as_dict(binding).get("HostIp"))
            if not host_port:
                continue
            host = "" if host_ip in ("", "0.0.0.0", "::") else host_ip
            mapping = f"{host}:{host_port} → {container_port}"
            if mapping not in found:
                found.append(mapping)
    return found


def container_ip(settings: dict) -> str:
    if settings.get("IPAddress"):
        return as_text(settings["IPAddress"])
    for network in as_dict(settings.get("Networks")).values():
        if as_dict(network).get("IPAddress"):
            return as_text(network["IPAddress"])
    return ""


def container_kind(labels: dict) -> str:
    sandbox = labels.get("io.kubernetes.docker.type") == "podsandbox"
    if sandbox or labels.get("io.kubernetes.container.name") == "POD":
        return "pause"
    return "app" if "io.kubernetes.pod.name" in labels else "other"


def parse_container(obj: dict) -> Container:
    config = as_dict(obj.get("Config"))
    labels = as_dict(config.get("Labels"))
    host_config = as_dict(obj.get("HostConfig"))
    settings = as_dict(obj.get("NetworkSettings"))
    kind = container_kind(labels)
    names = {"pause": "pause", "app": as_text(labels.get("io.kubernetes.container.name"))}
    return Container(
        id=as_text(obj.get("Id")),
        name=names.get(kind) or as_text(obj.get("Name")).lstrip("/") or as_text(obj.get("Id"))[:12],
        image=as_text(config.get("Image")),
        kind=kind,
        ip=container_ip(settings),
        network_mode=as_text(host_config.get("NetworkMode")),
        ports=port_mappings(settings.get("Ports")) or port_mappings(host_config.get("PortBindings")),
        pod=None if kind == "other" else (as_text(labels.get("io.kubernetes.pod.namespace")) or "default",
                                          as_text(labels.get("io.kubernetes.pod.name"))),
    )


# ------------------------------------------------------------------ ip -json


def lab_interface(addresses: list, lab_ip: str, routes: list) -> str:
    for link in addresses:
        for info in as_list(as_dict(link).get("addr_info")):
            if lab_ip and as_dict(info).get("local") == lab_ip:
                return as_text(link.get("ifname"))
    for route in routes:
        if lab_ip and as_dict(route).get("prefsrc") == lab_ip:
            return as_text(route.get("dev"))
    return ""


def docker0_address(addresses: list) -> str:
    for link in addresses:
        if as_dict(link).get("ifname") == "docker0":
            for info in as_list(link.get("addr_info")):
                info = as_dict(info)
                if info.get("family") == "inet":
                    return f"{info.get('local')}/{info.get('prefixlen')}"
    return ""


def network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def static_routes(routes: list, pod_cidr: str) -> list[Route]:
    """Routes with a gateway to a destination inside the pod range (any, if unknown)."""
    pod_range = network(pod_cidr)
    found = []
    for route in map(as_dict, routes):
        dst, via = as_text(route.get("dst")), as_text(route.get("gateway"))
        net = network(dst) if dst != "default" else None
        if not via or net is None:
            continue
        if pod_range is not None and (net.version != pod_range.version or not net.subnet_of(pod_range)):
            continue
        found.append(Route(dst=dst, via=via, dev=as_text(route.get("dev"))))
    return sorted(found, key=lambda r: network(r.dst))


# ----------------------------------------------------------- kubectl get -o json


def kubernetes_items(obs: dict, kind: str) -> list[dict]:
    items = as_list(as_dict(obs.get("kubernetes")).get("items"))
    return [as_dict(i) for i in items if as_dict(i).get("kind") == kind]


def owner_of(meta: dict) -> str:
    for ref in as_list(meta.get("ownerReferences")):
        ref = as_dict(ref)
        if ref.get("controller") or len(as_list(meta.get("ownerReferences"))) == 1:
            return f"{as_text(ref.get('kind'))}/{as_text(ref.get('name'))}"
    return ""


def parse_pods(obs: dict) -> dict[tuple[str, str], Pod]:
    pods = {}
    for item in kubernetes_items(obs, "Pod"):
        meta, spec, status = (as_dict(item.get(k)) for k in ("metadata", "spec", "status"))
        pod = Pod(
            namespace=as_text(meta.get("namespace")) or "default",
            name=as_text(meta.get("name")) or "?",
            node=as_text(spec.get("nodeName")),
            ip=as_text(status.get("podIP")),
            phase=as_text(status.get("phase")),
            owner=owner_of(meta),
        )
        pods[pod.key] = pod
    return pods


def parse_endpoints(item: dict) -> list[Endpoint]:
    endpoints = []
    for subset in map(as_dict, as_list(item.get("subsets"))):
        ports = [port_label(p) for p in as_list(subset.get("ports"))]
        for ready, key in ((True, "addresses"), (False, "notReadyAddresses")):
            for address in map(as_dict, as_list(subset.get(key))):
                ref = as_dict(address.get("targetRef"))
                is_pod = ref.get("kind") == "Pod"
                pod = (as_text(ref.get("namespace")), as_text(ref.get("name"))) if is_pod else None
                endpoints.append(Endpoint(as_text(address.get("ip")), ports, ready, pod,
                                          as_text(address.get("nodeName"))))
    return endpoints


def port_label(port: Any) -> str:
    port = as_dict(port)
    protocol = as_text(port.get("protocol")) or "TCP"
    return as_text(port.get("port")) + ("" if protocol == "TCP" else f"/{protocol}")


def parse_services(obs: dict) -> list[Service]:
    endpoints = {}
    for item in kubernetes_items(obs, "Endpoints"):
        meta = as_dict(item.get("metadata"))
        key = (as_text(meta.get("namespace")) or "default", as_text(meta.get("name")))
        endpoints[key] = parse_endpoints(item)
    services = []
    for item in kubernetes_items(obs, "Service"):
        meta, spec = as_dict(item.get("metadata")), as_dict(item.get("spec"))
        key = (as_text(meta.get("namespace")) or "default", as_text(meta.get("name")) or "?")
        selector = ",".join(f"{k}={v}" for k, v in as_dict(spec.get("selector")).items())
        services.append(Service(key[0], key[1], as_text(spec.get("clusterIP")),
                                [port_label(p) for p in as_list(spec.get("ports"))], selector,
                                endpoints.get(key, [])))
    return sorted(services, key=lambda s: (s.namespace, s.name))
