"""End-to-end tests of playbooks/preflight.yml against broken copies of inventory/lab.

Each case copies the lab inventory to a temporary directory, breaks one thing,
runs the preflight playbook and expects it to fail with a sentence that names
the host and the bad value. The unmodified inventory must pass. The playbook
runs on localhost only, so no node container is needed.
"""

import ipaddress
import json
import os
import shutil
import subprocess
from itertools import islice
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
INVENTORY = ROOT / "inventory/lab"
LAB_VARS = Path("group_vars/all/lab.yml")
# The lab's own bridge on this host; the preflight ignores it, so must the tests.
LAB_BRIDGE = "netlab0"


def inventory_copy(tmp_path, node_changes=None, lab_changes=None):
    """Copy inventory/lab to tmp_path, apply the changes, return the hosts.yml path.

    ``node_changes``: {host: {var: value}} (a node or the depot; None deletes the var) or
    {node: None} (removes the node). ``lab_changes``: {var: value} for lab.yml.
    """
    lab_dir = tmp_path / "lab"
    shutil.copytree(INVENTORY, lab_dir)
    hosts_file = lab_dir / "hosts.yml"
    hosts = yaml.safe_load(hosts_file.read_text())
    groups = hosts["all"]["children"]
    for name, changes in (node_changes or {}).items():
        group = next(g for g in ("nodes", "services") if name in groups[g]["hosts"])
        members = groups[group]["hosts"]
        if changes is None:
            del members[name]
            continue
        for var, value in changes.items():
            if value is None:
                members[name].pop(var, None)
            else:
                members[name][var] = value
    hosts_file.write_text(yaml.safe_dump(hosts, sort_keys=False))
    lab_file = lab_dir / LAB_VARS
    lab = yaml.safe_load(lab_file.read_text())
    lab.update(lab_changes or {})
    lab_file.write_text(yaml.safe_dump(lab, sort_keys=False))
    return hosts_file


def run_preflight(hosts_file, *args):
    """Run the preflight playbook on an inventory; return (exit code, output on one line)."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    result = subprocess.run(
        [str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(hosts_file), "playbooks/preflight.yml", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Joined on single spaces: the callback may wrap or indent long sentences.
    return result.returncode, " ".join((result.stdout + result.stderr).split())


@pytest.mark.parametrize("args", [(), ("--check",)], ids=["run", "check-mode"])
def test_chapter_inventory_passes(tmp_path, args):
    code, output = run_preflight(inventory_copy(tmp_path), *args)
    assert code == 0, output
    assert "Inventory check failed" not in output


# id: (node changes, lab changes, fragments the output must contain: the host and the bad value)
BAD_CASES = {
    "only two nodes": ({"node3": None}, {}, ["node1, node2", "has 2 node(s)", "at least 3"]),
    "duplicate lab ip": ({"node2": {"netlab_lab_ip": "192.168.1.129"}}, {}, ["node2: netlab_lab_ip 192.168.1.129"]),
    "lab ip outside lab network": (
        {"node2": {"netlab_lab_ip": "192.168.2.130"}},
        {},
        ["node2: netlab_lab_ip 192.168.2.130 is not inside netlab_lab_network 192.168.1.0/24"],
    ),
    "depot shares a node's lab ip": (
        {"depot": {"netlab_lab_ip": "192.168.1.129"}},
        {},
        ["depot: netlab_lab_ip 192.168.1.129 is already used by node1"],
    ),
    "lab ip is the gateway": ({"node3": {"netlab_lab_ip": "192.168.1.1"}}, {}, ["node3: netlab_lab_ip 192.168.1.1 "]),
    "pod subnet outside pod range": (
        {"node2": {"netlab_pod_subnet": "10.2.20.0/24"}},
        {},
        ["node2: netlab_pod_subnet 10.2.20.0/24 is not inside netlab_pod_cidr 10.1.0.0/16."],
    ),
    "overlapping pod subnets": (
        {"node3": {"netlab_pod_subnet": "10.1.20.0/24"}},
        {},
        ["node3: netlab_pod_subnet 10.1.20.0/24 overlaps node2's"],
    ),
    "pod subnet with host bits": (
        {"node1": {"netlab_pod_subnet": "10.1.10.5/24"}},
        {},
        ["node1: netlab_pod_subnet 10.1.10.5/24 has host bits set", "10.1.10.0/24"],
    ),
    "pod subnet in service range": (
        {"node3": {"netlab_pod_subnet": "20.1.30.0/24"}},
        {},
        ["node3: netlab_pod_subnet 20.1.30.0/24 overlaps netlab_service_cidr 20.1.0.0/16"],
    ),
    "invalid cidr": ({"node1": {"netlab_pod_subnet": "10.1.10.0/33"}}, {}, ["node1: netlab_pod_subnet 10.1.10.0/33"]),
    "missing pod subnet": ({"node3": {"netlab_pod_subnet": None}}, {}, ["node3: netlab_pod_subnet is not set"]),
    "bip outside its subnet": (
        {"node2": {"docker_bip": "10.1.30.1/24"}},
        {},
        ["node2: docker_bip 10.1.30.1/24 is not inside its pod subnet 10.1.20.0/24"],
    ),
    "mtu out of range": ({}, {"netlab_mtu": 100}, ["netlab_mtu 100 is out of range"]),
    "service range overlaps pod range": (
        {},
        {"netlab_service_cidr": "10.1.0.0/16"},
        ["netlab_pod_cidr 10.1.0.0/16 overlaps netlab_service_cidr 10.1.0.0/16"],
    ),
}


@pytest.mark.parametrize("node_changes, lab_changes, fragments", BAD_CASES.values(), ids=BAD_CASES.keys())
def test_bad_inventory_fails_naming_the_value(tmp_path, node_changes, lab_changes, fragments):
    code, output = run_preflight(inventory_copy(tmp_path, node_changes, lab_changes))
    assert code != 0, output
    assert "Inventory check failed:" in output
    for fragment in fragments:
        assert fragment in output


def test_bad_inventory_fails_in_check_mode(tmp_path):
    code, output = run_preflight(inventory_copy(tmp_path, {"node2": {"docker_bip": "10.1.30.1/24"}}), "--check")
    assert code != 0, output
    assert "node2: docker_bip 10.1.30.1/24" in output


def host_subnet():
    """(subnet, device) of a network this host already routes, the default route's interface first.

    Only a subnet with room for three nodes that stays clear of the chapter's pod
    and service ranges will do, so that the host conflict is the only problem.
    """
    lab = yaml.safe_load((INVENTORY / LAB_VARS).read_text())
    lab_ranges = [ipaddress.IPv4Network(lab[var]) for var in ("netlab_pod_cidr", "netlab_service_cidr")]
    listing = subprocess.run(
        ["ip", "-j", "-4", "route", "show", "table", "main"], capture_output=True, text=True, check=True
    )
    routes = json.loads(listing.stdout)
    default_devs = [r.get("dev") for r in routes if r.get("dst") == "default"]
    linked = [r for r in routes if r.get("dst") not in (None, "default") and r.get("dev") not in (None, LAB_BRIDGE)]
    linked.sort(key=lambda r: r["dev"] not in default_devs)
    for route in linked:
        subnet = ipaddress.IPv4Network(route["dst"], strict=False)
        if subnet.prefixlen <= 29 and not any(subnet.overlaps(other) for other in lab_ranges):
            return subnet, route["dev"]
    pytest.skip(f"this host routes no IPv4 subnet (besides {LAB_BRIDGE}) usable as a lab network: {routes}")


def lab_on(subnet):
    """Changes that put the lab hosts' IPs in subnet (past its first address, the gateway)."""
    names = ["node1", "node2", "node3", "depot"]
    return {name: {"netlab_lab_ip": str(ip)} for name, ip in zip(names, islice(subnet.hosts(), 1, None))}


def test_lab_network_on_a_route_of_this_host_fails(tmp_path):
    subnet, dev = host_subnet()
    code, output = run_preflight(inventory_copy(tmp_path, lab_on(subnet), {"netlab_lab_network": str(subnet)}))
    assert code != 0, output
    assert f"the lab network {subnet} overlaps {subnet} on {dev}, already on this host" in output
    assert "Pick a free subnet for netlab_lab_network" in output


def test_host_check_is_off_for_real_nodes(tmp_path):
    """With netlab_container_node false the nodes are VMs: this host's routes do not matter."""
    subnet, _dev = host_subnet()
    lab_changes = {"netlab_lab_network": str(subnet), "netlab_container_node": False}
    code, output = run_preflight(inventory_copy(tmp_path, lab_on(subnet), lab_changes))
    assert code == 0, output
