"""End-to-end tests of the preflight against broken copies of inventory/lab.

Each case copies the lab inventory to a temporary directory, breaks one thing
(in the inventory, or on this machine: a device, a Docker network, a cgroup2
mount, a dockerd command line, all made and removed by the test), runs the whole
of playbooks/lab.yml on it and expects it to fail with a sentence that names the
host and the bad value, and, from the json callback's stats, that only localhost
ran and nothing changed. The unmodified inventory must pass.

Every copy is cut off from the running lab, should the preflight ever let a bad
inventory through: each lab host's ansible_host names a container that does not
exist, and the host-side roles (node_containers, egress_guard) get a state they
refuse and a group with no hosts.
"""

import ipaddress
import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path

import pytest
import yaml

from netlab_tests.ansible import ansible_playbook
from netlab_tests.lab import DEFAULT_INVENTORY, load_lab

INVENTORY = DEFAULT_INVENTORY.parent
# The Kubernetes release the lab's inventory names (netlab_kube_version).
KUBE_VERSION = load_lab(str(DEFAULT_INVENTORY)).kube_version
LAB_VARS = Path("group_vars/all/lab.yml")
# The lab's own bridge on this host; the preflight ignores it, so must the tests.
LAB_BRIDGE = "netlab0"


# Settings that keep a copied inventory away from the running lab (group all).
ISOLATION = {
    "node_containers_state": "refused-in-preflight-tests",
    "node_containers_group": "netlab_preflight_test_no_such_group",
    "egress_guard_state": "refused-in-preflight-tests",
}
ABSENT = "netlab-preflight-test-absent-"


def inventory_copy(tmp_path, node_changes=None, lab_changes=None, renames=None, group_changes=None):
    """Copy inventory/lab to tmp_path, apply the changes, return the hosts.yml path.

    ``node_changes``: {host: {var: value}} (a node or the depot; None deletes the var) or
    {node: None} (removes the node). ``lab_changes``: {var: value} for lab.yml (group
    all). ``renames``: {old: new} host names, in every group and host_vars file.
    ``group_changes``: {group: None} (removes it) or {group: {host: vars}} (its hosts).
    Every host of the copy is then cut off from the running lab (ISOLATION, ABSENT).
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
    for old, new in (renames or {}).items():
        for group in groups.values():
            members = (group or {}).get("hosts") or {}
            if old in members:
                group["hosts"] = {new if name == old else name: hv for name, hv in members.items()}
        old_vars = lab_dir / "host_vars" / f"{old}.yml"
        if old_vars.exists():
            old_vars.rename(lab_dir / "host_vars" / f"{new}.yml")
    for group, members in (group_changes or {}).items():
        if members is None:
            groups.pop(group, None)
        else:
            groups[group] = {"hosts": members}
    for group in groups.values():
        for name in list((group or {}).get("hosts") or {}):
            group["hosts"][name] = {**(group["hosts"][name] or {}), "ansible_host": ABSENT + name}
    hosts_file.write_text(yaml.safe_dump(hosts, sort_keys=False))
    lab_file = lab_dir / LAB_VARS
    lab = yaml.safe_load(lab_file.read_text())
    lab.update(ISOLATION)
    lab.update(lab_changes or {})
    lab_file.write_text(yaml.safe_dump(lab, sort_keys=False))
    return hosts_file


PREFLIGHT = "playbooks/preflight.yml"
LAB = "playbooks/lab.yml"


def run_json_playbook(hosts_file, playbook, *args):
    """Run a playbook on an inventory with the json callback; return (exit code, output on one line, report).

    The output is every failed task's message and stderr, joined on single spaces;
    the report is the json callback's document ({} when it printed none).
    """
    result = ansible_playbook(playbook, *args, inventory=hosts_file, timeout=180,
                              env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    report = json_document(result.stdout)
    messages = [
        str(res.get("msg", ""))
        for play in report.get("plays", [])
        for task in play.get("tasks", [])
        for res in task.get("hosts", {}).values()
        if res.get("failed") or res.get("unreachable")
    ]
    text = " ".join(messages) if report else result.stdout
    # Joined on single spaces: the sentences may be wrapped or indented.
    return result.returncode, " ".join((text + " " + result.stderr).split()), report


def json_document(stdout):
    """The json callback's document in stdout ({} if none): other callbacks (profile_tasks) print around it."""
    decoder = json.JSONDecoder()
    for start in [0] + [i + 1 for i, char in enumerate(stdout) if char == "\n"]:
        if stdout.startswith("{", start):
            try:
                return decoder.raw_decode(stdout, start)[0]
            except ValueError:
                continue
    return {}


def run_preflight(hosts_file, *args, playbook=PREFLIGHT):
    """Run the preflight (alone, or the playbook given) on an inventory; return (exit code, output on one line)."""
    code, output, _report = run_json_playbook(hosts_file, playbook, *args)
    return code, output


def executions(report, task_name):
    """How many times localhost really ran (not skipped) the task of that name, over all plays."""
    return sum(
        1
        for play in report.get("plays", [])
        for task in play.get("tasks", [])
        if task["task"]["name"].endswith(task_name)
        and not task.get("hosts", {}).get("localhost", {"skipped": True}).get("skipped")
    )


def assert_nothing_changed(report):
    """Only localhost ran, and it changed nothing: the preflight stopped the run before any host."""
    stats = report["stats"]
    assert set(stats) == {"localhost"}, stats
    assert stats["localhost"]["changed"] == 0, stats
    assert stats["localhost"]["failures"] >= 1, stats


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


# More bad inventories. id: (inventory_copy's keyword arguments, fragments the output must contain)
MORE_BAD_CASES = {
    "host name with upper case and underscore": (
        {"renames": {"node2": "Node_2"}},
        ["Node_2: the host name is not a DNS-1123 label", "e.g. node-2"],
    ),
    "host name with a dot": ({"renames": {"node3": "node.3"}}, ["node.3: the host name is not a DNS-1123 label"]),
    "depot name not a label": ({"renames": {"depot": "Depot"}}, ["Depot: the host name is not a DNS-1123 label"]),
    "no control_plane group": ({"group_changes": {"control_plane": None}}, ["no group control_plane", "e.g. node1"]),
    "empty control_plane group": ({"group_changes": {"control_plane": {}}}, ["the group control_plane is empty"]),
    "two control-plane hosts": (
        {"group_changes": {"control_plane": {"node1": None, "node2": None}}},
        ["the group control_plane has 2 hosts (node1, node2)"],
    ),
    "control-plane host not a node": (
        {"group_changes": {"control_plane": {"depot": None}}},
        ["depot: the host of group control_plane is not in group nodes"],
    ),
    "no depot": ({"group_changes": {"services": {}}}, ["the group services has 0 host(s) (none)", "exactly one depot"]),
    "two depots": (
        {
            "group_changes": {
                "services": {"depot": {"netlab_lab_ip": "192.168.1.2"}, "depot2": {"netlab_lab_ip": "192.168.1.3"}}
            }
        },
        ["the group services has 2 host(s) (depot, depot2)"],
    ),
    "service range wider than /12": (
        {"lab_changes": {"netlab_service_cidr": "20.0.0.0/8"}},
        ["netlab_service_cidr 20.0.0.0/8 is wider than /12"],
    ),
    "service range narrower than /28": (
        {"lab_changes": {"netlab_service_cidr": "20.1.0.0/29"}},
        ["netlab_service_cidr 20.1.0.0/29 is narrower than /28"],
    ),
    "loopback pod range": (
        {
            "lab_changes": {"netlab_pod_cidr": "127.1.0.0/16"},
            "node_changes": {f"node{i}": {"netlab_pod_subnet": f"127.1.{i}0.0/24"} for i in (1, 2, 3)},
        },
        ["netlab_pod_cidr 127.1.0.0/16 overlaps the loopback range 127.0.0.0/8"],
    ),
    "link-local lab network": (
        {
            "lab_changes": {"netlab_lab_network": "169.254.77.0/24"},
            "node_changes": {
                name: {"netlab_lab_ip": f"169.254.77.{10 + i}"}
                for i, name in enumerate(["node1", "node2", "node3", "depot"])
            },
        },
        ["netlab_lab_network 169.254.77.0/24 overlaps the link-local range 169.254.0.0/16"],
    ),
    "multicast service range": (
        {"lab_changes": {"netlab_service_cidr": "224.1.0.0/16"}},
        ["netlab_service_cidr 224.1.0.0/16 overlaps the multicast range 224.0.0.0/4"],
    ),
    "pod subnet in the loopback range": (
        {"node_changes": {"node2": {"netlab_pod_subnet": "127.0.20.0/24"}}},
        ["node2: netlab_pod_subnet 127.0.20.0/24 overlaps the loopback range 127.0.0.0/8"],
    ),
    "unknown kubernetes version": (
        {"lab_changes": {"download_kube_version": "v1.21.0"}},
        ["node1, node2, node3: download_kube_version v1.21.0 is not a release the download role knows"],
    ),
    "unknown architecture on one node": (
        {"node_changes": {"node3": {"download_arch": "arm64"}}},
        [f"node3: download_arch arm64 is not an architecture the download role knows for {KUBE_VERSION}"],
    ),
    "huge free space needed": (
        {"lab_changes": {"preflight_docker_free_gib": 1048576}},
        ["free on the file system of", "Docker's data root", "which need"],
    ),
    "docker nat chain missing": (
        {"lab_changes": {"preflight_docker_nat_chain": "NETLAB-PREFLIGHT-TEST-ABSENT"}},
        ["the nat chain NETLAB-PREFLIGHT-TEST-ABSENT that dockerd makes", "the egress guard could not hook"],
    ),
}

ALL_BAD_CASES = {
    **{
        case: ({"node_changes": node_changes, "lab_changes": lab_changes}, fragments)
        for case, (node_changes, lab_changes, fragments) in BAD_CASES.items()
    },
    **MORE_BAD_CASES,
}


# Cases about this machine's state; the others are about the inventory alone and
# run with the host check off (it reads this machine: 4-5 s of CPU per run).
HOST_CHECK_CASES = {"huge free space needed", "docker nat chain missing"}


@pytest.fixture(scope="module")
def bad_runs(request, tmp_path_factory):
    """The selected bad inventories run through the whole of playbooks/lab.yml, four at a time.

    Returns {case: (code, output, report)}.
    """
    selected = [
        item.callspec.params["case"]
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_bad_inventory_fails_naming_the_value"
    ]

    def run(case):
        kwargs, _fragments = ALL_BAD_CASES[case]
        if case not in HOST_CHECK_CASES:
            kwargs = {**kwargs, "lab_changes": {"preflight_host_check": False, **(kwargs.get("lab_changes") or {})}}
        return case, run_json_playbook(inventory_copy(tmp_path_factory.mktemp("bad"), **kwargs), LAB)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(run, selected))


@pytest.mark.parametrize("case", ALL_BAD_CASES)
def test_bad_inventory_fails_naming_the_value(bad_runs, case):
    code, output, report = bad_runs[case]
    assert code != 0, output
    assert "Inventory check failed:" in output
    for fragment in ALL_BAD_CASES[case][1]:
        assert fragment in output
    assert_nothing_changed(report)


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
    return {name: {"netlab_lab_ip": str(ip)} for name, ip in zip(names, islice(subnet.hosts(), 1, None), strict=False)}


def test_lab_network_on_a_route_of_this_host_fails(tmp_path):
    subnet, dev = host_subnet()
    code, output, report = run_json_playbook(
        inventory_copy(tmp_path, lab_on(subnet), {"netlab_lab_network": str(subnet)}), LAB
    )
    assert code != 0, output
    assert f"the lab network {subnet} overlaps {subnet} on {dev}, already on this host" in output
    assert "Pick a free subnet for netlab_lab_network" in output
    assert_nothing_changed(report)


def test_host_check_is_off_for_real_nodes(tmp_path):
    """With netlab_container_node false the nodes are VMs: this host's routes do not matter."""
    subnet, _dev = host_subnet()
    lab_changes = {"netlab_lab_network": str(subnet), "netlab_container_node": False}
    code, output = run_preflight(inventory_copy(tmp_path, lab_on(subnet), lab_changes))
    assert code == 0, output


# --- Host state: each case makes real state on this machine that the lab does not
# use (a device, a Docker network, a mount, a process), and removes it again.

TEST_TAG = f"nlt{os.getpid() % 100000}"


def bad_lab_run(tmp_path, **kwargs):
    """Run lab.yml on a broken copy; it must fail in the preflight and change nothing. Return its output."""
    code, output, report = run_json_playbook(inventory_copy(tmp_path, **kwargs), LAB)
    assert code != 0, output
    assert "Inventory check failed:" in output
    assert_nothing_changed(report)
    return output


def ip_json(*args):
    return json.loads(subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=True).stdout)


def uplink():
    """(device, MTU) of this host's default route, or skip."""
    devs = [r.get("dev") for r in ip_json("-4", "route", "show", "table", "main") if r.get("dst") == "default"]
    mtus = {link["ifname"]: link["mtu"] for link in ip_json("link", "show")}
    for dev in devs:
        if dev in mtus:
            return dev, mtus[dev]
    pytest.skip("this host has no IPv4 default route: there is no uplink to compare netlab_mtu with")


def free_subnets(count=2):
    """/24s that no route or address of this host and none of the chapter's ranges touch."""
    lab = yaml.safe_load((INVENTORY / LAB_VARS).read_text())
    taken = [
        ipaddress.IPv4Network(lab[var]) for var in ("netlab_lab_network", "netlab_pod_cidr", "netlab_service_cidr")
    ]
    for route in ip_json("-4", "route", "show", "table", "all"):
        try:
            taken.append(ipaddress.IPv4Network(route.get("dst"), strict=False))
        except ValueError:
            continue
    for link in ip_json("-4", "addr", "show"):
        for info in link.get("addr_info", []):
            taken.append(ipaddress.IPv4Interface(f"{info['local']}/{info['prefixlen']}").network)
    found = []
    for net in list(ipaddress.IPv4Network("172.29.0.0/16").subnets(new_prefix=24))[200:]:
        if not any(net.overlaps(other) for other in taken):
            found.append(net)
            if len(found) == count:
                return found
    pytest.skip("no free /24 in 172.29.200.0-172.29.255.0 on this host")


@pytest.fixture
def foreign_bridge():
    """A Linux bridge that is no Docker network's (down, no address, no port, no route), removed afterwards."""
    name = f"{TEST_TAG}br"
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)


@pytest.fixture
def foreign_network():
    """make(name, subnet): a Docker network without the lab's label; all removed afterwards."""
    made = []

    def make(name, subnet):
        subprocess.run(["docker", "network", "create", "--subnet", str(subnet), name], check=True, capture_output=True)
        made.append(name)
        return name

    try:
        yield make
    finally:
        for name in made:
            subprocess.run(["docker", "network", "rm", name], check=False, capture_output=True)


@pytest.fixture
def cgroup2_mount(tmp_path):
    """A cgroup2 file system mounted in a temporary directory, unmounted afterwards."""
    target = tmp_path / "cgroup2"
    target.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "cgroup2", "none", str(target)], capture_output=True, text=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount cgroup2 here: {mounted.stderr.strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=False)


@pytest.fixture
def fake_dockerd(tmp_path):
    """start(*args): a process named dockerd with these arguments and a pid file of its own; stopped afterwards.

    The preflight reads dockerd's command line through its pid file
    (preflight_docker_pidfile): this one says what a dockerd run that way would.
    """
    procs = []

    def start(*args):
        proc = subprocess.Popen(
            ["bash", "-c", 'exec -a dockerd /usr/bin/python3 -c "import time; time.sleep(600)" "$@"', "bash", *args]
        )
        procs.append(proc)
        cmdline = Path(f"/proc/{proc.pid}/cmdline")
        for _ in range(100):
            if cmdline.read_bytes().split(b"\0")[0] == b"dockerd":
                break
            time.sleep(0.05)
        pidfile = tmp_path / "docker.pid"
        pidfile.write_text(f"{proc.pid}\n")
        return pidfile, proc.pid

    try:
        yield start
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_mtu_above_the_uplinks_fails(tmp_path):
    dev, mtu = uplink()
    if mtu + 1 > 9000:
        pytest.skip(f"{dev}'s MTU {mtu} leaves no valid netlab_mtu above it")
    output = bad_lab_run(tmp_path, lab_changes={"netlab_mtu": mtu + 1})
    assert f"netlab_mtu {mtu + 1} is above the MTU {mtu} of {dev}, this host's uplink" in output


def test_cgroup_v2_fails_naming_the_ways_out(tmp_path, cgroup2_mount):
    output = bad_lab_run(tmp_path, lab_changes={"preflight_cgroup_root": str(cgroup2_mount)})
    assert f"this host runs cgroup v2 ({cgroup2_mount} is a cgroup2fs file system)" in output
    assert "kubelet v1.20 with dockershim, here on cgroup v1 only" in output
    assert "systemd.unified_cgroup_hierarchy=0" in output
    assert "vagrant up" in output


def test_bridge_name_used_by_another_device_fails(tmp_path, foreign_bridge):
    output = bad_lab_run(tmp_path, lab_changes={"node_containers_bridge": foreign_bridge})
    assert f"the device {foreign_bridge} (bridge) already exists on this host and is not the bridge" in output


def test_docker_network_name_used_by_a_foreign_network_fails(tmp_path, foreign_network):
    (subnet,) = free_subnets(1)
    name = foreign_network(f"{TEST_TAG}-net", subnet)
    output = bad_lab_run(tmp_path, lab_changes={"node_containers_network": name})
    assert f"the Docker network {name} (" in output
    assert "already exists and is not this lab's" in output


def test_lab_subnet_used_by_a_foreign_docker_network_fails(tmp_path, foreign_network):
    (subnet,) = free_subnets(1)
    name = foreign_network(f"{TEST_TAG}-sub", subnet)
    output = bad_lab_run(tmp_path, node_changes=lab_on(subnet), lab_changes={"netlab_lab_network": str(subnet)})
    assert f"the Docker network {name} (" in output
    assert f"has the subnet {subnet}, which overlaps the lab network {subnet}" in output


def test_dockerd_with_iptables_off_fails(tmp_path, fake_dockerd):
    pidfile, pid = fake_dockerd("-H", "fd://", "--iptables=false")
    output = bad_lab_run(tmp_path, lab_changes={"preflight_docker_pidfile": str(pidfile)})
    assert f"dockerd runs with --iptables=false (pid {pid})" in output
    assert "the egress guard could not hook" in output


def test_dockerd_config_with_iptables_off_fails(tmp_path, fake_dockerd):
    config = tmp_path / "daemon.json"
    config.write_text(json.dumps({"iptables": False, "log-level": "warn"}))
    pidfile, _pid = fake_dockerd(f"--config-file={config}")
    output = bad_lab_run(tmp_path, lab_changes={"preflight_docker_pidfile": str(pidfile)})
    assert f'{config} sets "iptables": false' in output


HOST_STATE_TESTS = [
    test_lab_network_on_a_route_of_this_host_fails,
    test_mtu_above_the_uplinks_fails,
    test_cgroup_v2_fails_naming_the_ways_out,
    test_bridge_name_used_by_another_device_fails,
    test_docker_network_name_used_by_a_foreign_network_fails,
    test_lab_subnet_used_by_a_foreign_docker_network_fails,
    test_dockerd_with_iptables_off_fails,
    test_dockerd_config_with_iptables_off_fails,
]


def test_there_are_at_least_26_bad_input_cases():
    assert len(ALL_BAD_CASES) + len(HOST_STATE_TESTS) >= 26


# --- Always, and once.


def test_the_preflight_runs_under_any_tags_before_any_host(tmp_path):
    """site.yml --tags cluster and lab-up.yml --tags lab still run the preflight first, which stops them."""
    hosts_file = inventory_copy(tmp_path, {"node2": {"docker_bip": "10.1.30.1/24"}})
    for playbook, tags in (
        ("playbooks/site.yml", "cluster"),
        ("playbooks/site.yml", "network"),
        ("playbooks/lab-up.yml", "lab"),
    ):
        code, output, report = run_json_playbook(hosts_file, playbook, "--tags", tags)
        assert code != 0, (playbook, output)
        assert "node2: docker_bip 10.1.30.1/24" in output, playbook
        assert_nothing_changed(report)


def test_list_tasks_with_tags_cluster_shows_the_preflight():
    proc = ansible_playbook(LAB, "--list-tasks", "--tags", "cluster", timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    listing = proc.stdout
    assert "preflight : Stop on any problem in the inventory or on this host" in listing
    assert listing.index("preflight : Stop on any problem") < listing.index("pki : ")


def test_the_preflight_runs_once_in_lab_yml(tmp_path):
    """lab.yml imports it twice (lab-up.yml, site.yml): the checks run once, the second import skips them.

    --skip-tags lab leaves out the host side (the copy's node_containers and
    egress_guard settings are refused on purpose); the nodes of the copy do not
    exist, so the cluster play stops at them, after both preflight plays.
    """
    code, output, report = run_json_playbook(inventory_copy(tmp_path), LAB, "--tags", "cluster", "--skip-tags", "lab")
    plays = [play["play"]["name"] for play in report["plays"]]
    assert plays.count("Preflight: validate the lab inventory") == 2, plays
    assert executions(report, "Read this host's IPv4 routes") == 1
    assert executions(report, "Remember that the preflight passed (the rest of this run skips it)") == 1
    assert report["stats"]["localhost"]["failures"] == 0, output
    assert all(stat["changed"] == 0 for stat in report["stats"].values()), report["stats"]


@pytest.mark.parametrize("playbook", ["playbooks/site.yml", "playbooks/lab-up.yml"])
def test_site_and_lab_up_alone_each_run_the_preflight(tmp_path, playbook):
    """Each alone runs the checks (once). --skip-tags lab: the copy refuses the host side on purpose."""
    code, output, report = run_json_playbook(
        inventory_copy(tmp_path), playbook, "--tags", "preflight", "--skip-tags", "lab")
    assert code == 0, output
    assert executions(report, "Read this host's IPv4 routes") == 1
    assert report["stats"]["localhost"]["changed"] == 0


def test_inventory_without_the_lab_wide_facts_fails_naming_each(tmp_path):
    """An inventory without group_vars/all/netlab.yml: one sentence per fact, nothing changed."""
    facts_file = INVENTORY / "group_vars" / "all" / "netlab.yml"
    facts = yaml.safe_load(facts_file.read_text())
    hosts_file = inventory_copy(tmp_path)
    (hosts_file.parent / "group_vars" / "all" / "netlab.yml").unlink()
    code, output, report = run_json_playbook(hosts_file, LAB)
    assert code != 0, output
    assert "Inventory check failed:" in output
    for name in facts:
        assert f"{name} is not set: an inventory needs the lab-wide facts" in output, name
    assert_nothing_changed(report)
