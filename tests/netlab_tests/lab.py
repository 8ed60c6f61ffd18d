"""The lab as the inventory describes it: its nodes, addressing and lab-wide facts.

Read the way Ansible reads it (`ansible-inventory --list`), so expectations come from
the same data the roles use, never from literals: the tests hold for any addressing a
user chooses. The lab-wide facts (the Kubernetes release, where the binaries, the
certificates and the admin kubeconfig are, the registry's port, the cluster DNS) are the `netlab_*`
variables of inventory/lab/group_vars/all/netlab.yml.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEFAULT_INVENTORY = REPO / "inventory" / "lab" / "hosts.yml"
NODES_GROUP = "nodes"
# Where the inventory to test is named: pytest's --ansible-inventory (molecule passes
# it), else this variable (`make vagrant-test`), else the embedded lab.
INVENTORY_ENV = "NETLAB_INVENTORY"


@dataclass(frozen=True)
class Node:
    """One lab node, as the inventory describes it."""

    name: str
    lab_ip: str
    pod_subnet: ipaddress.IPv4Network
    bip: ipaddress.IPv4Interface


@dataclass(frozen=True)
class Lab:
    """The lab's addressing and lab-wide facts, as the inventory describes them."""

    inventory: str
    nodes: dict[str, Node]
    control_plane: list[str]
    services: dict[str, str]  # the lab's other hosts (the depot): name -> lab IP
    lab_network: ipaddress.IPv4Network
    pod_cidr: ipaddress.IPv4Network
    service_cidr: ipaddress.IPv4Network
    mtu: int
    container_nodes: bool
    kube_version: str  # netlab_kube_version: the Kubernetes release, as "v<major>.<minor>.<patch>"
    bin_dir: str  # netlab_bin_dir: where the Kubernetes binaries are on every node
    kubeconfig_dir: str  # netlab_kubeconfig_dir
    pki_dir: str  # netlab_pki_dir: the certificates and keys
    admin_kubeconfig: str  # netlab_admin_kubeconfig: the admin's kubeconfig on the control plane
    registry_port: int  # netlab_registry_port: the depot's image registry
    lab_label: str  # netlab_lab_label: the Docker label on the embedded lab's network and containers
    coredns_version: str  # netlab_coredns_version: the CoreDNS release of the cluster DNS
    cluster_dns: bool  # netlab_cluster_dns: whether the lab runs its cluster DNS (CoreDNS as kube-dns)
    cluster_domain: str  # netlab_cluster_domain: the cluster's DNS domain

    def others(self, name: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.name != name]


def inventory_path(config: pytest.Config) -> str:
    """The inventory this run tests."""
    return (
        getattr(config.option, "ansible_inventory", None)
        or os.environ.get(INVENTORY_ENV)
        or str(DEFAULT_INVENTORY)
    )


@functools.cache
def inventory_list(path: str) -> dict:
    """`ansible-inventory --list` of the inventory, parsed (read once per path)."""
    out = subprocess.run(
        ["ansible-inventory", "-i", path, "--list"],
        check=True, capture_output=True, text=True, cwd=REPO,
    ).stdout
    return json.loads(out)


def hostvars(path: str) -> dict[str, dict]:
    """Every host's inventory variables (not templated), by host name."""
    return inventory_list(path)["_meta"]["hostvars"]


def _as_bool(value: object) -> bool:
    """A string in INI inventories (Vagrant writes one): read it as Ansible's `bool` does."""
    return str(value).lower() in ("true", "yes", "1", "on")


@functools.cache
def load_lab(path: str) -> Lab:
    """The lab the inventory at `path` describes (read once per path)."""
    data = inventory_list(path)
    hv = data["_meta"]["hostvars"]
    names = data[NODES_GROUP]["hosts"]
    first = hv[names[0]]
    nodes = {}
    for name in names:
        subnet = ipaddress.ip_network(hv[name]["netlab_pod_subnet"])
        bip = hv[name].get("docker_bip") or f"{subnet.network_address + 1}/{subnet.prefixlen}"
        nodes[name] = Node(name, hv[name]["netlab_lab_ip"], subnet, ipaddress.ip_interface(bip))
    services = {name: hv[name]["netlab_lab_ip"] for name in data.get("services", {}).get("hosts", [])}
    return Lab(
        inventory=path,
        nodes=nodes,
        control_plane=data.get("control_plane", {}).get("hosts", []),
        services=services,
        lab_network=ipaddress.ip_network(first["netlab_lab_network"]),
        pod_cidr=ipaddress.ip_network(first["netlab_pod_cidr"]),
        service_cidr=ipaddress.ip_network(first["netlab_service_cidr"]),
        mtu=int(first["netlab_mtu"]),
        container_nodes=_as_bool(first.get("netlab_container_node", False)),
        kube_version=str(first["netlab_kube_version"]),
        bin_dir=str(first["netlab_bin_dir"]),
        kubeconfig_dir=str(first["netlab_kubeconfig_dir"]),
        pki_dir=str(first["netlab_pki_dir"]),
        admin_kubeconfig=str(first["netlab_admin_kubeconfig"]),
        registry_port=int(first["netlab_registry_port"]),
        lab_label=str(first["netlab_lab_label"]),
        coredns_version=str(first["netlab_coredns_version"]),
        cluster_dns=_as_bool(first["netlab_cluster_dns"]),
        cluster_domain=str(first["netlab_cluster_domain"]),
    )
