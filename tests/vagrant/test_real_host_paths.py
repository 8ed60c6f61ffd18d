"""What the embedded lab never exercises, on Vagrant's machines (`make vagrant-test`):
a first interface that holds the default route beside the lab interface, and the
cgroup v1 switch that real VMs need and container nodes must never run.

Each machine of Vagrant's docker provider is a node with a NAT interface (eth0, on
Docker's default bridge, the default route) and the lab interface on the lab
network: the roles must find the lab interface by its IP. The cgroup switch is
decided by facts (netlab_cgroup_v1_plan, unit-tested for VMs in
tests/unit/test_netlab_boot.py): on these container nodes it must be skipped and
leave a stand-in /etc/default/grub alone; made to act (the plan given as a VM's),
check mode shows it would set the flag on GRUB's command line, run update-grub and
reboot.
"""

from __future__ import annotations

import re

import pytest

from netlab_tests.ansible import run_playbook
from netlab_tests.hosts import ip_json

STANDIN_GRUB = 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="console=ttyS0 net.ifnames=0"\n'
FLAG = "systemd.unified_cgroup_hierarchy=0"


def lab_link(host, lab_ip: str) -> dict:
    links = ip_json(host, "addr", "show", "to", f"{lab_ip}/32")
    assert len(links) == 1, f"{len(links)} interfaces hold {lab_ip}"
    return links[0]


def test_the_default_route_is_on_another_interface_than_the_lab_ip(lab, nodes, node_name):
    """The situation under test: the NAT interface holds the default route."""
    default = ip_json(nodes[node_name], "route", "show", "default")
    assert default, "no default route"
    assert default[0]["dev"] != lab_link(nodes[node_name], lab.nodes[node_name].lab_ip)["ifname"]


def test_pod_routes_leave_through_the_interface_that_holds_the_lab_ip(lab, nodes, node_name):
    host = nodes[node_name]
    link = lab_link(host, lab.nodes[node_name].lab_ip)
    routes = ip_json(host, "route", "show", "proto", "netlab")
    assert {r["dst"] for r in routes} == {str(o.pod_subnet) for o in lab.others(node_name)}
    assert {r["dev"] for r in routes} == {link["ifname"]}


def test_the_lab_interface_has_the_inventorys_mtu(lab, nodes, node_name):
    assert lab_link(nodes[node_name], lab.nodes[node_name].lab_ip)["mtu"] == lab.mtu


def test_etcd_and_the_api_server_use_the_control_planes_lab_ip(lab, cp, kubectl):
    lab_ip = lab.nodes[lab.control_plane[0]].lab_ip
    listening = cp.check_output("ss -Hltn")
    assert re.search(rf"\s{re.escape(lab_ip)}:2379\s", listening), listening
    endpoints = kubectl("get", "endpoints", "kubernetes", "-o", "jsonpath={.subsets[0].addresses[*].ip}")
    assert endpoints.split() == [lab_ip]


@pytest.fixture
def standin_grub(lab, nodes):
    """A stand-in /etc/default/grub on every node, removed afterwards."""
    for name in lab.nodes:
        nodes[name].check_output("printf '%%s' %s > /etc/default/grub", STANDIN_GRUB)
    yield
    for name in lab.nodes:
        nodes[name].run("rm -f /etc/default/grub")


def test_the_cgroup_switch_is_skipped_on_container_nodes_and_grub_untouched(lab, nodes, standin_grub):
    out = run_playbook(lab, "network.yml", "--tags", "cgroup_v1", "--diff")
    for name in lab.nodes:
        assert nodes[name].file("/etc/default/grub").content_string == STANDIN_GRUB
        assert re.search(rf"^{name}\s*: ok=\d+\s+changed=0\s", out, re.M), out[-3000:]
    assert "TASK [common : Put systemd.unified_cgroup_hierarchy=0 on the kernel command line]" in out
    assert not any(f"changed: [{name}]" in out for name in lab.nodes), out[-3000:]


def test_the_cgroup_switch_acts_where_the_facts_say_a_vm_boots_unified(lab, nodes, standin_grub):
    """Given a VM's plan, check mode shows the GRUB edit, update-grub and the reboot;
    nothing on the node changes (check mode)."""
    out = run_playbook(lab, "network.yml", "--tags", "cgroup_v1", "--check", "--diff",
                       "-e", "common_cgroup_v1_plan=configure")
    assert f'+GRUB_CMDLINE_LINUX="console=ttyS0 net.ifnames=0 {FLAG}"' in out, out[-3000:]
    for task in ("Put systemd.unified_cgroup_hierarchy=0 on the kernel command line", "Reboot into cgroup v1"):
        block = out.split(f"TASK [common : {task}]", 1)[1].split("TASK [", 1)[0]
        assert all(f"changed: [{name}]" in block for name in lab.nodes), block
    for name in lab.nodes:
        assert nodes[name].file("/etc/default/grub").content_string == STANDIN_GRUB
