"""The Vagrantfile builds the inventory's lab: its machines, groups, lab IPs, network
and MTU are the inventory's (read through ansible-inventory, as the roles read
them), and they follow a changed inventory.

vagrant/netlab.rb is the Vagrantfile's reading of the inventory; `ruby
vagrant/netlab.rb` prints it as JSON. `vagrant status` shows that the Vagrantfile
defines exactly those machines.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
LAB_INVENTORY = REPO / "inventory" / "lab"


def plan(env: dict[str, str] | None = None) -> dict:
    out = subprocess.run(
        ["ruby", str(REPO / "vagrant" / "netlab.rb")],
        check=True, capture_output=True, text=True, env={**os.environ, **(env or {})},
    ).stdout
    return json.loads(out)


def ruby_fails(env: dict[str, str]) -> str:
    proc = subprocess.run(
        ["ruby", str(REPO / "vagrant" / "netlab.rb")],
        capture_output=True, text=True, env={**os.environ, **env},
    )
    assert proc.returncode == 2, proc
    return proc.stderr.strip()


def inventory(path: Path) -> dict:
    out = subprocess.run(
        ["ansible-inventory", "-i", str(path / "hosts.yml"), "--list"],
        check=True, capture_output=True, text=True, cwd=REPO,
    ).stdout
    return json.loads(out)


def vagrant_machines(env: dict[str, str], dotfile: Path) -> list[str]:
    """The machines `vagrant status` lists for the Vagrantfile (no provider is asked),
    with Vagrant's state in `dotfile`, away from any real Vagrant lab of the checkout."""
    out = subprocess.run(
        ["vagrant", "status", "--machine-readable"],
        check=True, capture_output=True, text=True, cwd=REPO,
        env={**os.environ, "VAGRANT_CHECKPOINT_DISABLE": "1", "VAGRANT_DEFAULT_PROVIDER": "docker",
             "VAGRANT_DOTFILE_PATH": str(dotfile), **env},
    ).stdout
    return [line.split(",")[1] for line in out.splitlines() if line.split(",")[2:3] == ["state"]]


def expected(inv: dict) -> dict:
    hv = inv["_meta"]["hostvars"]
    groups = {g: inv.get(g, {}).get("hosts", []) for g in ("nodes", "control_plane", "services")}
    first = hv[groups["nodes"][0]]
    return {
        "names": groups["services"] + groups["nodes"],
        "ips": {h: hv[h]["netlab_lab_ip"] for h in groups["services"] + groups["nodes"]},
        "groups": groups,
        "network": first["netlab_lab_network"],
        "mtu": first["netlab_mtu"],
    }


def assert_plan_is(p: dict, want: dict) -> None:
    assert [m["name"] for m in p["machines"]] == want["names"]
    assert {m["name"]: m["lab_ip"] for m in p["machines"]} == want["ips"]
    assert p["groups"] == want["groups"]
    assert p["lab_network"] == want["network"]
    assert p["mtu"] == want["mtu"]
    for m in p["machines"]:
        assert set(m["groups"]) == {g for g, hosts in want["groups"].items() if m["name"] in hosts}


def test_the_vagrantfile_machines_groups_and_ips_are_the_inventorys(tmp_path: Path):
    want = expected(inventory(LAB_INVENTORY))
    assert_plan_is(plan(), want)
    assert sorted(vagrant_machines({}, tmp_path / "dot")) == sorted(want["names"])
    # The provisioner's inventory directory links the inventory's group_vars.
    link = tmp_path / "dot" / "provisioners" / "ansible" / "inventory" / "group_vars"
    assert link.resolve() == (LAB_INVENTORY / "group_vars").resolve()


@pytest.fixture
def changed_inventory(tmp_path: Path) -> Path:
    """A copy of the lab inventory with a fourth node, other addresses and MTU."""
    inv = tmp_path / "inventory"
    shutil.copytree(LAB_INVENTORY, inv, symlinks=True)
    hosts = yaml.safe_load((inv / "hosts.yml").read_text())
    nodes = hosts["all"]["children"]["nodes"]["hosts"]
    for i, name in enumerate(nodes, start=1):
        nodes[name]["netlab_lab_ip"] = f"10.77.0.{10 + i}"
    nodes["node4"] = {"netlab_lab_ip": "10.77.0.99", "netlab_pod_subnet": "10.1.40.0/24"}
    hosts["all"]["children"]["services"]["hosts"]["depot"]["netlab_lab_ip"] = "10.77.0.2"
    hosts["all"]["children"]["control_plane"]["hosts"] = {"node2": None}
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts))
    lab = yaml.safe_load((inv / "group_vars" / "all" / "lab.yml").read_text())
    lab.update(netlab_lab_network="10.77.0.0/24", netlab_mtu=1300)
    (inv / "group_vars" / "all" / "lab.yml").write_text(yaml.safe_dump(lab))
    return inv


def test_the_vagrantfile_follows_a_changed_inventory(changed_inventory: Path, tmp_path: Path):
    env = {"NETLAB_VAGRANT_INVENTORY": str(changed_inventory)}
    want = expected(inventory(changed_inventory))
    assert "node4" in want["names"] and want["groups"]["control_plane"] == ["node2"]
    assert_plan_is(plan(env), want)
    assert sorted(vagrant_machines(env, tmp_path / "dot")) == sorted(want["names"])
    link = tmp_path / "dot" / "provisioners" / "ansible" / "inventory" / "group_vars"
    assert link.resolve() == (changed_inventory / "group_vars").resolve()


def test_one_setting_moves_every_lab_address_keeping_its_host_part():
    base = plan()
    moved = plan({"NETLAB_LAB_NETWORK": "192.168.56.0/24"})
    net = ipaddress.ip_network(moved["lab_network"])
    old = ipaddress.ip_network(base["lab_network"])
    assert str(net) == "192.168.56.0/24"
    for before, after in zip(base["machines"], moved["machines"], strict=True):
        a, b = ipaddress.ip_address(before["lab_ip"]), ipaddress.ip_address(after["lab_ip"])
        assert b in net
        assert int(b) - int(net.network_address) == int(a) - int(old.network_address)
        assert after["host_vars"]["netlab_lab_ip"] == after["lab_ip"]


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"NETLAB_LAB_NETWORK": "not-a-network"}, "NETLAB_LAB_NETWORK=not-a-network is not a network"),
        ({"NETLAB_LAB_NETWORK": "192.168.56.0/16"}, "must be an IPv4 network of the inventory's size, /24"),
        ({"NETLAB_VM_MEMORY": "lots"}, "NETLAB_VM_MEMORY for depot is lots: it must be a whole number above 0."),
        ({"NETLAB_VM_CPUS_NODE2": "0"}, "NETLAB_VM_CPUS for node2 is 0"),
        ({"NETLAB_VAGRANT_DEPOT": "maybe"}, "NETLAB_VAGRANT_DEPOT=maybe must be yes or no."),
    ],
)
def test_a_bad_setting_is_one_sentence(env, says):
    message = ruby_fails(env)
    assert says in message and "\n" not in message


def test_memory_and_cpus_per_machine_are_overridable():
    p = plan({"NETLAB_VM_MEMORY": "1024", "NETLAB_VM_MEMORY_NODE1": "3072", "NETLAB_VM_CPUS_NODE3": "1"})
    by = {m["name"]: m for m in p["machines"]}
    assert by["node1"]["memory"] == 3072 and by["node2"]["memory"] == 1024
    assert by["node3"]["cpus"] == 1 and by["node1"]["cpus"] == 2


def test_without_the_depot_only_the_nodes_are_machines():
    p = plan({"NETLAB_VAGRANT_DEPOT": "no"})
    assert [m["name"] for m in p["machines"]] == expected(inventory(LAB_INVENTORY))["groups"]["nodes"]
    assert p["groups"]["services"] == []


def ruby_eval(code: str) -> str:
    return subprocess.run(
        ["ruby", "-r", str(REPO / "vagrant" / "netlab.rb"), "-e", code],
        check=True, capture_output=True, text=True,
    ).stdout.strip()


def test_docker_machines_get_the_node_flags_the_role_states():
    defaults = yaml.safe_load((REPO / "roles" / "node_containers" / "defaults" / "main.yml").read_text())
    args = json.loads(ruby_eval("puts Netlab.node_container_args[:args].to_json"))
    for cap in defaults["node_containers_cap_drop"]:
        assert f"--cap-drop={cap}" in args
    for key, flag in [("node_containers_capabilities", "--cap-add"),
                      ("node_containers_security_opts", "--security-opt"),
                      ("node_containers_device_cgroup_rules", "--device-cgroup-rule"),
                      ("node_containers_devices", "--device"), ("node_containers_tmpfs", "--tmpfs")]:
        assert [a.split("=", 1)[1] for a in args if a.startswith(flag + "=")] == defaults[key], key
    assert f"--cgroupns={defaults['node_containers_cgroupns']}" in args


@pytest.mark.parametrize(
    ("network", "conf", "allowed"),
    [
        ("192.168.1.0/24", None, False),
        ("192.168.56.0/24", None, True),
        ("192.168.1.0/24", "* 10.0.0.0/8 192.168.0.0/16\n", True),
        ("192.168.1.0/24", "* 10.0.0.0/8\n", False),
    ],
)
def test_virtualbox_network_check(tmp_path: Path, network, conf, allowed):
    conf_file = tmp_path / "networks.conf"
    if conf is not None:
        conf_file.write_text(conf)
    net = ipaddress.ip_network(network)
    got = ruby_eval(
        f'puts Netlab.virtualbox_allows?(IPAddr.new("{net}"), {net.prefixlen}, "{conf_file}")'
    )
    assert got == str(allowed).lower()
