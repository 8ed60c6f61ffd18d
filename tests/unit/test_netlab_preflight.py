"""Unit tests of the preflight filters (plugins/filter/netlab_preflight.py)."""

import copy
import importlib.util
import ipaddress
from pathlib import Path

import pytest
import yaml

from netlab_tests.lab import DEFAULT_INVENTORY, load_lab

ROOT = Path(__file__).resolve().parents[2]
_SPEC = importlib.util.spec_from_file_location("netlab_preflight", ROOT / "plugins/filter/netlab_preflight.py")
preflight = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(preflight)


def chapter_inventory():
    """The repository's lab inventory as (nodes, lab), built the way the role does."""
    hosts = yaml.safe_load((ROOT / "inventory/lab/hosts.yml").read_text())["all"]["children"]["nodes"]["hosts"]
    lab = yaml.safe_load((ROOT / "inventory/lab/group_vars/all/lab.yml").read_text())
    nodes = [
        {
            "name": name,
            "lab_ip": hv.get("netlab_lab_ip"),
            "pod_subnet": hv.get("netlab_pod_subnet"),
            "bip": hv.get("docker_bip") or preflight.netlab_first_address(hv.get("netlab_pod_subnet")),
        }
        for name, hv in hosts.items()
    ]
    return nodes, {
        "lab_network": lab["netlab_lab_network"],
        "pod_cidr": lab["netlab_pod_cidr"],
        "service_cidr": lab["netlab_service_cidr"],
        "mtu": lab["netlab_mtu"],
    }


# The chapter's addressing, stated here too so the tests do not depend on the
# inventory alone.
NODES = [
    {"name": "node1", "lab_ip": "192.168.1.129", "pod_subnet": "10.1.10.0/24", "bip": "10.1.10.1/24"},
    {"name": "node2", "lab_ip": "192.168.1.130", "pod_subnet": "10.1.20.0/24", "bip": "10.1.20.1/24"},
    {"name": "node3", "lab_ip": "192.168.1.131", "pod_subnet": "10.1.30.0/24", "bip": "10.1.30.1/24"},
]
LAB = {"lab_network": "192.168.1.0/24", "pod_cidr": "10.1.0.0/16", "service_cidr": "20.1.0.0/16", "mtu": 1400}


def problems_with(node_changes=None, lab_changes=None, nodes=None):
    """Problems of the chapter lab after changing {index: {key: value}} of nodes and keys of lab."""
    nodes = copy.deepcopy(NODES if nodes is None else nodes)
    for index, changes in (node_changes or {}).items():
        nodes[index].update(changes)
    return preflight.netlab_lab_problems(nodes, {**LAB, **(lab_changes or {})})


def test_chapter_inventory_has_no_problems():
    nodes, lab = chapter_inventory()
    assert nodes == NODES
    assert lab == LAB
    assert preflight.netlab_lab_problems(nodes, lab) == []


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"mtu": "1500"},  # -e netlab_mtu=1500 arrives as a string
        {"mtu": 576},
        {"mtu": 9000},
        {"lab_network": "172.30.0.0/16"},  # the nodes' IPs are then still inside it
    ],
)
def test_good_lab_values_pass(changes):
    if "lab_network" in changes:
        nodes = [{**n, "lab_ip": f"172.30.0.{i + 10}"} for i, n in enumerate(NODES)]
        assert problems_with(nodes=nodes, lab_changes=changes) == []
    else:
        assert problems_with(lab_changes=changes) == []


def test_more_nodes_and_other_bip_pass():
    fourth = {"name": "node4", "lab_ip": "192.168.1.132", "pod_subnet": "10.1.40.0/24", "bip": "10.1.40.254/24"}
    assert problems_with(nodes=NODES + [fourth]) == []


# (node index -> changes, lab changes, fragments the one expected sentence must contain)
NODE_CASES = {
    "lab ip duplicate": ({1: {"lab_ip": "192.168.1.129"}}, {}, ["node2:", "192.168.1.129", "node1"]),
    "lab ip invalid": ({0: {"lab_ip": "192.168.1.300"}}, {}, ["node1:", "netlab_lab_ip 192.168.1.300", "not a valid"]),
    "lab ip with prefix": ({0: {"lab_ip": "192.168.1.129/24"}}, {}, ["node1:", "192.168.1.129/24", "without a prefix"]),
    "lab ip missing": ({2: {"lab_ip": None}}, {}, ["node3:", "netlab_lab_ip is not set"]),
    "lab ip empty": ({2: {"lab_ip": ""}}, {}, ["node3:", "netlab_lab_ip is not set"]),
    "lab ip outside": (
        {1: {"lab_ip": "192.168.2.130"}},
        {},
        ["node2:", "192.168.2.130", "not inside", "192.168.1.0/24"],
    ),
    "lab ip network": ({1: {"lab_ip": "192.168.1.0"}}, {}, ["node2:", "192.168.1.0 ", "network address"]),
    "lab ip broadcast": ({1: {"lab_ip": "192.168.1.255"}}, {}, ["node2:", "192.168.1.255", "broadcast address"]),
    "lab ip gateway": ({1: {"lab_ip": "192.168.1.1"}}, {}, ["node2:", "192.168.1.1 ", "first address", "gateway"]),
    "pod subnet outside": (
        {1: {"pod_subnet": "10.2.20.0/24", "bip": "10.2.20.1/24"}},
        {},
        ["node2: netlab_pod_subnet 10.2.20.0/24 is not inside netlab_pod_cidr 10.1.0.0/16."],
    ),
    "pod subnet host bits": (
        {0: {"pod_subnet": "10.1.10.5/24"}},
        {},
        ["node1:", "10.1.10.5/24", "host bits", "10.1.10.0/24"],
    ),
    "pod subnet no prefix": (
        {0: {"pod_subnet": "10.1.10.0"}},
        {},
        ["node1:", "netlab_pod_subnet 10.1.10.0 ", "not a CIDR"],
    ),
    "pod subnet garbage": ({0: {"pod_subnet": "10.1.10.0/33"}}, {}, ["node1:", "10.1.10.0/33", "not a valid"]),
    "pod subnet too small": (
        {0: {"pod_subnet": "10.1.10.0/31", "bip": None}},
        {},
        ["node1:", "10.1.10.0/31", "too small"],
    ),
    "pod subnet missing": ({0: {"pod_subnet": None, "bip": ""}}, {}, ["node1:", "netlab_pod_subnet is not set"]),
    "bip outside": (
        {1: {"bip": "10.1.30.1/24"}},
        {},
        ["node2:", "docker_bip 10.1.30.1/24", "10.1.20.0/24", "10.1.20.1/24"],
    ),
    "bip prefix": ({1: {"bip": "10.1.20.1/16"}}, {}, ["node2:", "10.1.20.1/16", "prefix /24"]),
    "bip network": ({1: {"bip": "10.1.20.0/24"}}, {}, ["node2:", "docker_bip 10.1.20.0/24", "network or broadcast"]),
    "bip broadcast": ({1: {"bip": "10.1.20.255/24"}}, {}, ["node2:", "10.1.20.255/24", "network or broadcast"]),
    "bip no prefix": ({1: {"bip": "10.1.20.1"}}, {}, ["node2:", "docker_bip 10.1.20.1 ", "address/prefix"]),
    "bip missing": ({1: {"bip": None}}, {}, ["node2:", "docker_bip is not set", "10.1.20.1/24"]),
    "lab network invalid": (
        {},
        {"lab_network": "192.168.1.0/24x"},
        ["netlab_lab_network 192.168.1.0/24x", "not a valid"],
    ),
    "pod cidr host bits": ({}, {"pod_cidr": "10.1.0.0/8"}, ["netlab_pod_cidr 10.1.0.0/8", "host bits", "10.0.0.0/8"]),
    "service cidr missing": ({}, {"service_cidr": None}, ["netlab_service_cidr is not set"]),
    "ranges overlap": (
        {},
        {"service_cidr": "10.1.128.0/17"},
        ["netlab_pod_cidr 10.1.0.0/16", "overlaps", "10.1.128.0/17"],
    ),
    "mtu small": ({}, {"mtu": 575}, ["netlab_mtu 575", "576 to 9000"]),
    "mtu big": ({}, {"mtu": 9001}, ["netlab_mtu 9001", "576 to 9000"]),
    "mtu text": ({}, {"mtu": "jumbo"}, ["netlab_mtu jumbo", "not an integer"]),
    "mtu bool": ({}, {"mtu": True}, ["netlab_mtu True", "not an integer"]),
    "mtu missing": ({}, {"mtu": None}, ["netlab_mtu is not set"]),
}


@pytest.mark.parametrize("node_changes, lab_changes, fragments", NODE_CASES.values(), ids=NODE_CASES.keys())
def test_one_bad_value_gives_one_sentence(node_changes, lab_changes, fragments):
    problems = problems_with(node_changes, lab_changes)
    assert len(problems) == 1, problems
    for fragment in fragments:
        assert fragment in problems[0]
    assert problems[0].endswith(".")


def test_too_few_nodes():
    problems = problems_with(nodes=NODES[:2])
    assert problems == ["the inventory has 2 node(s) (node1, node2); the lab needs at least 3."]


def test_no_nodes():
    assert problems_with(nodes=[]) == ["the inventory has 0 node(s) (none); the lab needs at least 3."]


def test_duplicate_names():
    twin = {**NODES[0], "lab_ip": "192.168.1.140", "pod_subnet": "10.1.40.0/24", "bip": "10.1.40.1/24"}
    assert problems_with(nodes=NODES + [twin]) == ["node1 is listed more than once; node names must be unique."]


def test_overlapping_pod_subnets_name_both_nodes():
    problems = problems_with({2: {"pod_subnet": "10.1.20.128/25", "bip": "10.1.20.129/25"}})
    assert problems == [
        "node3: netlab_pod_subnet 10.1.20.128/25 overlaps node2's netlab_pod_subnet 10.1.20.0/24; "
        "every node needs its own pod subnet."
    ]


def test_pod_subnet_in_the_service_range():
    problems = problems_with({2: {"pod_subnet": "20.1.30.0/24", "bip": "20.1.30.1/24"}})
    assert problems == [
        "node3: netlab_pod_subnet 20.1.30.0/24 is not inside netlab_pod_cidr 10.1.0.0/16.",
        "node3: netlab_pod_subnet 20.1.30.0/24 overlaps netlab_service_cidr 20.1.0.0/16; "
        "a pod subnet must stay out of the service range.",
    ]


def test_every_problem_is_reported_at_once():
    problems = problems_with(
        {0: {"lab_ip": "10.0.0.1"}, 1: {"pod_subnet": "10.1.20.5/24"}, 2: {"bip": "10.1.99.1/24"}},
        {"mtu": 100},
    )
    assert problems[0] == "netlab_mtu 100 is out of range; expected a number from 576 to 9000."
    assert [p.split(":")[0] for p in problems[1:]] == ["node1", "node2", "node3"]


def test_invalid_pod_subnet_does_not_also_blame_the_derived_bip():
    nodes, lab = chapter_inventory()
    nodes[0]["pod_subnet"] = "banana"
    nodes[0]["bip"] = preflight.netlab_first_address("banana")
    assert preflight.netlab_lab_problems(nodes, lab) == [
        "node1: netlab_pod_subnet banana is not a CIDR network; expected network/prefix, e.g. 10.1.10.0/24."
    ]


# ip -j -4 route show table main / ip -j -4 addr show, trimmed, as on a typical lab host.
ROUTES = [
    {"dst": "default", "gateway": "192.0.2.1", "dev": "eth0"},
    {"dst": "172.17.0.0/16", "dev": "docker0", "prefsrc": "172.17.0.1"},
    {"dst": "192.0.2.0/24", "dev": "eth0", "prefsrc": "192.0.2.2"},
    {"dst": "192.168.1.0/24", "dev": "netlab0", "prefsrc": "192.168.1.1"},
]
ADDRESSES = [
    {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
    {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "192.0.2.2", "prefixlen": 24}]},
    {"ifname": "docker0", "addr_info": [{"family": "inet", "local": "172.17.0.1", "prefixlen": 16}]},
    {"ifname": "netlab0", "addr_info": [{"family": "inet", "local": "192.168.1.1", "prefixlen": 24}]},
]


def conflicts(routes=ROUTES, addresses=ADDRESSES, ignore=("netlab0",), **lab_changes):
    """Host conflicts of the chapter lab on a host with these routes and addresses."""
    return preflight.netlab_host_conflicts({**LAB, **lab_changes}, routes, addresses, list(ignore))


def test_free_host_has_no_conflicts():
    assert conflicts() == []


def test_the_lab_bridge_counts_unless_ignored():
    problems = conflicts(ignore=())
    assert len(problems) == 1
    assert problems[0].startswith("the lab network 192.168.1.0/24 overlaps 192.168.1.0/24 on netlab0,")


def test_home_lan_on_eth0():
    routes = [{"dst": "default", "gateway": "192.168.1.254", "dev": "eth0"}, {"dst": "192.168.1.0/24", "dev": "eth0"}]
    addresses = [{"ifname": "eth0", "addr_info": [{"family": "inet", "local": "192.168.1.23", "prefixlen": 24}]}]
    assert conflicts(routes, addresses) == [
        "the lab network 192.168.1.0/24 overlaps 192.168.1.0/24 on eth0, already on this host "
        "(many home LANs use 192.168.1.0/24). Pick a free subnet for netlab_lab_network and the "
        "nodes' netlab_lab_ip in inventory/lab/, e.g. 192.168.77.0/24."
    ]


def test_suggestion_avoids_what_the_host_already_has():
    routes = [{"dst": "192.168.0.0/17", "dev": "wlan0"}, {"dst": "192.168.128.0/24", "dev": "tun0"}]
    problems = conflicts(routes, [])
    assert len(problems) == 1
    assert "overlaps 192.168.0.0/17 on wlan0" in problems[0]
    assert "home LANs" not in problems[0]
    assert problems[0].endswith("e.g. 192.168.129.0/24.")


def test_pod_and_service_ranges_clash_with_a_vpn():
    routes = [{"dst": "10.0.0.0/8", "dev": "tun0"}, {"dst": "20.0.0.0/8", "dev": "tun0"}]
    problems = conflicts(routes, [])
    assert problems == [
        "the pod range 10.1.0.0/16 overlaps 10.0.0.0/8 on tun0, already on this host. Pick a free subnet "
        "for netlab_pod_cidr and the nodes' netlab_pod_subnet in inventory/lab/, e.g. 172.17.0.0/16.",
        "the service range 20.1.0.0/16 overlaps 20.0.0.0/8 on tun0, already on this host. Pick a free "
        "subnet for netlab_service_cidr in inventory/lab/, e.g. 172.18.0.0/16.",
    ]


def test_suggestions_do_not_collide_with_docker0_or_the_other_lab_ranges():
    routes = ROUTES + [{"dst": "10.0.0.0/8", "dev": "tun0"}]
    problems = conflicts(routes, ADDRESSES, pod_cidr="10.1.0.0/16")
    assert len(problems) == 1
    assert problems[0].endswith("e.g. 172.18.0.0/16.")


def test_default_route_and_unparsable_routes_are_ignored():
    routes = [{"dst": "default", "dev": "eth0"}, {"dst": "fe80::/64", "dev": "eth0"}, {"gateway": "1.2.3.4"}]
    assert conflicts(routes, []) == []


def test_address_without_route_counts():
    addresses = [{"ifname": "lo", "addr_info": [{"family": "inet", "local": "20.1.5.5", "prefixlen": 32}]}]
    problems = conflicts([], addresses)
    assert len(problems) == 1
    assert problems[0].startswith("the service range 20.1.0.0/16 overlaps 20.1.5.5/32 on lo, already on this host.")


def test_route_and_address_of_one_network_are_reported_once():
    routes = [{"dst": "192.168.1.0/24", "dev": "eth0"}]
    addresses = [{"ifname": "eth0", "addr_info": [{"family": "inet", "local": "192.168.1.23", "prefixlen": 24}]}]
    assert len(conflicts(routes, addresses)) == 1


def test_routes_without_a_device():
    routes = [
        {"dst": "10.1.0.0/24", "nexthops": [{"gateway": "192.0.2.9", "dev": "eth0"}, {"dev": "eth1"}]},
        {"type": "blackhole", "dst": "20.1.0.0/24"},
    ]
    problems = conflicts(routes, [])
    assert [p.split(",")[0] for p in problems] == [
        "the pod range 10.1.0.0/16 overlaps 10.1.0.0/24 on eth0",
        "the pod range 10.1.0.0/16 overlaps 10.1.0.0/24 on eth1",
        "the service range 20.1.0.0/16 overlaps 20.1.0.0/24 on blackhole",
    ]


def test_invalid_lab_values_are_left_to_the_lab_check():
    routes = [{"dst": "0.0.0.0/1", "dev": "tun0"}, {"dst": "128.0.0.0/1", "dev": "tun0"}]
    assert conflicts(routes, [], lab_network="nonsense", pod_cidr="10.1.0.5/16", service_cidr=None) == []


@pytest.mark.parametrize(
    "subnet, bip",
    [
        ("10.1.10.0/24", "10.1.10.1/24"),
        ("10.2.0.0/16", "10.2.0.1/16"),
        ("10.1.10.4/30", "10.1.10.5/30"),
        ("10.1.10.0/31", ""),
        ("10.1.10.5/24", ""),
        ("banana", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_first_address(subnet, bip):
    assert preflight.netlab_first_address(subnet) == bip


def test_filter_module_exports_the_filters():
    assert set(preflight.FilterModule().filters()) >= {
        "netlab_lab_problems",
        "netlab_host_conflicts",
        "netlab_first_address",
    }
    assert set(preflight.FilterModule().filters()) == {
        "netlab_lab_problems",
        "netlab_host_conflicts",
        "netlab_first_address",
        "netlab_group_problems",
        "netlab_release_problems",
        "netlab_host_state_problems",
        "netlab_lab_bridges",
        "netlab_ancestors",
        "netlab_dockerd_config_file",
    }


# --- Ranges: the service range's size, special ranges.


@pytest.mark.parametrize(
    "lab_changes, fragments",
    [
        ({"service_cidr": "20.0.0.0/8"}, ["netlab_service_cidr 20.0.0.0/8 is wider than /12", "2^20", "/12 to /28"]),
        ({"service_cidr": "20.0.0.0/11"}, ["netlab_service_cidr 20.0.0.0/11 is wider than /12"]),
        ({"service_cidr": "20.1.0.0/29"}, ["netlab_service_cidr 20.1.0.0/29 is narrower than /28", "fewer than 16"]),
        (
            {"service_cidr": "127.20.0.0/16"},
            ["netlab_service_cidr 127.20.0.0/16 overlaps the loopback range 127.0.0.0/8"],
        ),
        (
            {"service_cidr": "224.1.0.0/16"},
            ["netlab_service_cidr 224.1.0.0/16 overlaps the multicast range 224.0.0.0/4"],
        ),
        (
            {"service_cidr": "240.1.0.0/16"},
            ["netlab_service_cidr 240.1.0.0/16 overlaps the reserved range 240.0.0.0/4"],
        ),
        (
            {"service_cidr": "0.1.0.0/16"},
            ["netlab_service_cidr 0.1.0.0/16 overlaps the 'this network' range 0.0.0.0/8"],
        ),
    ],
)
def test_one_bad_range_gives_one_sentence(lab_changes, fragments):
    problems = problems_with(lab_changes=lab_changes)
    assert len(problems) == 1, problems
    for fragment in fragments:
        assert fragment in problems[0]
    assert problems[0].endswith(".")


@pytest.mark.parametrize("prefix", [12, 16, 28])
def test_service_range_prefixes_from_12_to_28_pass(prefix):
    net = ipaddress.IPv4Network(f"20.0.0.0/{prefix}")
    assert problems_with(lab_changes={"service_cidr": str(net)}) == []


def test_link_local_lab_network():
    nodes = [{**n, "lab_ip": f"169.254.77.{i + 10}"} for i, n in enumerate(NODES)]
    problems = problems_with(nodes=nodes, lab_changes={"lab_network": "169.254.77.0/24"})
    assert problems == [
        "netlab_lab_network 169.254.77.0/24 overlaps the link-local range 169.254.0.0/16; the lab's ranges must "
        "be ordinary unicast networks, e.g. 192.168.1.0/24."
    ]


def test_loopback_pod_range_is_reported_once_not_per_pod_subnet():
    nodes = [{**n, "pod_subnet": f"127.1.{i + 1}0.0/24", "bip": f"127.1.{i + 1}0.1/24"} for i, n in enumerate(NODES)]
    problems = problems_with(nodes=nodes, lab_changes={"pod_cidr": "127.1.0.0/16"})
    assert problems == [
        "netlab_pod_cidr 127.1.0.0/16 overlaps the loopback range 127.0.0.0/8; the lab's ranges must be "
        "ordinary unicast networks, e.g. 10.1.0.0/16."
    ]


def test_multicast_pod_subnet_outside_the_pod_range():
    problems = problems_with({1: {"pod_subnet": "224.0.20.0/24", "bip": "224.0.20.1/24"}})
    assert problems == [
        "node2: netlab_pod_subnet 224.0.20.0/24 is not inside netlab_pod_cidr 10.1.0.0/16.",
        "node2: netlab_pod_subnet 224.0.20.0/24 overlaps the multicast range 224.0.0.0/4; the lab's ranges "
        "must be ordinary unicast networks, e.g. 10.1.10.0/24.",
    ]


# --- Groups and host names.

GROUPS = {"nodes": ["node1", "node2", "node3"], "control_plane": ["node1"], "services": ["depot"]}


def group_problems(container_node=True, **changes):
    groups = {**GROUPS, **changes}
    return preflight.netlab_group_problems({k: v for k, v in groups.items() if v is not None}, container_node)


def test_chapter_groups_pass():
    hosts = yaml.safe_load((ROOT / "inventory/lab/hosts.yml").read_text())["all"]["children"]
    groups = {name: list((group or {}).get("hosts") or {}) for name, group in hosts.items() if name != "lab"}
    assert groups == GROUPS
    assert preflight.netlab_group_problems(groups) == []


@pytest.mark.parametrize(
    "name, hint",
    [
        ("Node_2", "node-2"),
        ("node.2", "node-2"),
        ("-node2", "node2"),
        ("node2-", "node2"),
        ("n" * 64, "n" * 63),
        ("NODE 2", "node-2"),
    ],
)
def test_host_names_that_are_not_dns_1123_labels(name, hint):
    problems = group_problems(nodes=["node1", name, "node3"])
    assert problems == [
        f"{name}: the host name is not a DNS-1123 label (at most 63 lower-case letters, digits and '-', starting "
        "and ending with a letter or digit); Kubernetes, Docker and the node's hostname use it, so rename it in "
        f"the inventory, e.g. {hint}."
    ]


@pytest.mark.parametrize("name", ["node1", "n", "0", "node-2", "a" * 63, "depot"])
def test_dns_1123_labels_pass(name):
    assert group_problems(nodes=[name, "x2", "x3"], control_plane=[name]) == []


def test_a_bad_name_in_two_groups_is_reported_once():
    problems = group_problems(nodes=["Node1", "node2", "node3"], control_plane=["Node1"])
    assert len(problems) == 1
    assert problems[0].startswith("Node1: the host name is not a DNS-1123 label")


@pytest.mark.parametrize(
    "control_plane, expected",
    [
        (None, "the inventory has no group control_plane; expected exactly one host of group nodes, e.g. node1."),
        ([], "the group control_plane is empty; expected exactly one host of group nodes, e.g. node1."),
        (
            ["node1", "node2"],
            "the group control_plane has 2 hosts (node1, node2); the lab runs one control plane, expected exactly "
            "one host of group nodes, e.g. node1.",
        ),
        (
            ["depot"],
            "depot: the host of group control_plane is not in group nodes; the control plane runs on a node, "
            "expected exactly one host of group nodes, e.g. node1.",
        ),
    ],
)
def test_control_plane_group_problems(control_plane, expected):
    assert group_problems(control_plane=control_plane) == [expected]


@pytest.mark.parametrize(
    "services, listed",
    [(None, "0 host(s) (none)"), ([], "0 host(s) (none)"), (["depot", "depot2"], "2 host(s) (depot, depot2)")],
)
def test_embedded_lab_needs_exactly_one_depot(services, listed):
    assert group_problems(services=services) == [
        f"the group services has {listed}; the embedded lab needs exactly one depot there (the nodes' artifact "
        "mirror and image registry), e.g. depot."
    ]


def test_real_hosts_may_have_no_depot():
    assert group_problems(container_node=False, services=[]) == []


# --- Releases the download role knows.

DOWNLOAD = yaml.safe_load((ROOT / "roles/download/defaults/main.yml").read_text())
# Its release is the lab's (download_kube_version: "{{ netlab_kube_version }}"), read through the inventory.
DOWNLOAD["download_kube_version"] = load_lab(str(DEFAULT_INVENTORY)).kube_version
TABLE = DOWNLOAD["download_checksums"]


def releases(**changes):
    hosts = [
        {"name": n["name"], "version": DOWNLOAD["download_kube_version"], "arch": DOWNLOAD["download_arch"]}
        for n in NODES
    ]
    for index, change in changes.items():
        hosts[int(index[1:])].update(change)
    return preflight.netlab_release_problems(hosts, TABLE)


def test_the_download_roles_own_release_passes():
    assert releases() == []


def test_unknown_version_on_every_node_is_one_sentence():
    hosts = [{"name": n["name"], "version": "v1.21.0", "arch": "amd64"} for n in NODES]
    assert preflight.netlab_release_problems(hosts, TABLE) == [
        "node1, node2, node3: download_kube_version v1.21.0 is not a release the download role knows (its "
        f"download_checksums table lists {DOWNLOAD['download_kube_version']}); pick one of those or add the "
        "release's sha256 there."
    ]


def test_unknown_arch_on_one_node():
    problems = releases(n2={"arch": "arm64"})
    assert problems == [
        f"node3: download_arch arm64 is not an architecture the download role knows for "
        f"{DOWNLOAD['download_kube_version']} (its download_checksums table lists amd64); pick one of those or add "
        "its sha256 there."
    ]


def test_a_release_added_to_the_table_passes():
    table = {**TABLE, "kubelet": {**TABLE["kubelet"], "v1.21.0": {"arm64": "0" * 64}}}
    hosts = [{"name": "node1", "version": "v1.21.0", "arch": "arm64"}]
    assert preflight.netlab_release_problems(hosts, table) == []


# --- This host's state.

LINKS = [
    {"ifname": "lo", "mtu": 65536, "link_type": "loopback"},
    {"ifname": "eth0", "mtu": 1400, "link_type": "ether"},
    {"ifname": "netlab0", "mtu": 1400, "link_type": "ether", "linkinfo": {"info_kind": "bridge"}},
]
LAB_NETWORK = {
    "Name": "netlab",
    "Id": "15dbb0a9828d5107",
    "Driver": "bridge",
    "Labels": {"io.k8s-netlab.lab": "true"},
    "Options": {"com.docker.network.bridge.name": "netlab0"},
    "IPAM": {"Config": [{"Subnet": "192.168.1.0/24"}]},
}
DEFAULT_BRIDGE = {
    "Name": "bridge",
    "Id": "7dda717817c2",
    "Driver": "bridge",
    "Labels": {},
    "Options": {"com.docker.network.bridge.name": "docker0"},
    "IPAM": {"Config": [{"Subnet": "172.17.0.0/16"}]},
}
STATFS = (
    "2e4d447b0dd47f0e tmpfs 3085448 4096 /sys/fs/cgroup\n"
    "f91a4bc5be660d2d ext2/ext3 2621440 4096 /var/cache/k8s-netlab\n"
    "f91a4bc5be660d2d ext2/ext3 2621440 4096 /var/lib/docker\n"
)
NEEDS = [
    {"what": "NETLAB_CACHE", "path": "/var/cache/k8s-netlab", "need_gib": 5, "minus_used": True},
    {"what": "Docker's data root", "path": "/var/lib/docker", "need_gib": 3, "minus_used": False},
]
HOST = {
    "cgroup_root": "/sys/fs/cgroup",
    "routes": ROUTES,
    "links": LINKS,
    "mtu": 1400,
    "docker_error": "",
    "networks": [DEFAULT_BRIDGE, LAB_NETWORK],
    "bridge": "netlab0",
    "network": "netlab",
    "label": "io.k8s-netlab.lab",
    "lab_network": "192.168.1.0/24",
    "nat_chain": "DOCKER",
    "nat_chain_present": True,
    "dockerd_pid": "3042",
    "dockerd_cmdline": "dockerd\0-H\0fd://\0",
    "dockerd_config_file": "/etc/docker/daemon.json",
    "dockerd_config": "",
    "statfs": STATFS,
    "du": "4487000000\t/var/cache/k8s-netlab\n",
    "needs": NEEDS,
}


def host_problems(**changes):
    return preflight.netlab_host_state_problems({**HOST, **changes})


def test_a_host_fit_for_the_lab_has_no_problems():
    # 10 GiB free; the cache holds 4.2 GiB of its 5, Docker keeps 3: 3.8 GiB needed.
    assert host_problems() == []


def test_cgroup_v2():
    statfs = STATFS.replace("tmpfs 3085448 4096 /sys/fs/cgroup", "cgroup2fs 0 4096 /sys/fs/cgroup")
    assert host_problems(statfs=statfs) == [
        "this host runs cgroup v2 (/sys/fs/cgroup is a cgroup2fs file system), but the embedded lab runs kubelet "
        "v1.20 with dockershim, here on cgroup v1 only: boot the host with systemd.unified_cgroup_hierarchy=0 on "
        "its kernel command line, or run the lab on VMs with vagrant up."
    ]


@pytest.mark.parametrize("mtu", [1401, "1500"])
def test_mtu_above_the_uplinks(mtu):
    assert host_problems(mtu=mtu) == [
        f"netlab_mtu {mtu} is above the MTU 1400 of eth0, this host's uplink (its default route): the lab's packets "
        "would not fit; set netlab_mtu to 1400 or less."
    ]


def test_mtu_checks_every_next_hop_of_a_multipath_default_route():
    routes = [{"dst": "default", "nexthops": [{"dev": "eth0"}, {"dev": "wlan0"}]}]
    links = LINKS + [{"ifname": "wlan0", "mtu": 1280}]
    problems = host_problems(routes=routes, links=links, mtu=1400)
    assert len(problems) == 1
    assert "above the MTU 1280 of wlan0" in problems[0]


def test_mtu_without_a_default_route_or_invalid_is_left_alone():
    assert host_problems(routes=[], mtu=9000) == []
    assert host_problems(mtu="jumbo") == []


def test_docker_engine_that_does_not_answer():
    problems = host_problems(docker_error="Error connecting: permission denied", nat_chain_present=False)
    assert problems == [
        "the Docker engine on this host does not answer (Error connecting: permission denied); the embedded lab "
        "runs its machines on it: start it first (make host)."
    ]


def test_bridge_name_taken_by_another_device():
    links = LINKS + [{"ifname": "nlt0", "mtu": 1500, "link_type": "ether", "linkinfo": {"info_kind": "dummy"}}]
    assert host_problems(links=links, bridge="nlt0") == [
        "the device nlt0 (dummy) already exists on this host and is not the bridge of this lab's Docker network; "
        "remove it or set node_containers_bridge to another name."
    ]


def test_the_labs_own_bridge_and_network_pass_while_the_lab_is_up():
    assert host_problems() == []
    assert preflight.netlab_lab_bridges([DEFAULT_BRIDGE, LAB_NETWORK], "io.k8s-netlab.lab") == ["netlab0"]


def test_lab_network_name_taken_by_a_foreign_network():
    foreign = {
        **LAB_NETWORK,
        "Labels": {},
        "Id": "abcdef0123456789",
        "Options": {},
        "IPAM": {"Config": [{"Subnet": "172.29.200.0/24"}]},
    }
    # No lab up: no netlab0 either.
    assert host_problems(networks=[DEFAULT_BRIDGE, foreign], links=LINKS[:2]) == [
        "the Docker network netlab (abcdef012345) already exists and is not this lab's (it lacks the label "
        "io.k8s-netlab.lab); remove it (docker network rm netlab) or set node_containers_network to another name."
    ]


def test_foreign_network_with_the_labs_bridge_name_and_subnet():
    foreign = {**LAB_NETWORK, "Name": "other", "Labels": {"owner": "someone"}, "Id": "0123456789abcdef"}
    problems = host_problems(networks=[DEFAULT_BRIDGE, foreign])
    assert problems == [
        "the Docker network other (0123456789ab) already uses the bridge netlab0, the lab's bridge name; remove "
        "that network or set node_containers_bridge to another name.",
        "the Docker network other (0123456789ab) has the subnet 192.168.1.0/24, which overlaps the lab network "
        "192.168.1.0/24; remove that network or pick another netlab_lab_network (and the lab hosts' netlab_lab_ip).",
    ]


def test_unnamed_bridge_is_br_and_its_id():
    net = {"Driver": "bridge", "Id": "0123456789abcdef", "Options": {}, "Labels": {"io.k8s-netlab.lab": "true"}}
    host = {"Driver": "host", "Labels": {"io.k8s-netlab.lab": ""}}
    assert preflight.netlab_lab_bridges([net, host], "io.k8s-netlab.lab") == ["br-0123456789ab"]


@pytest.mark.parametrize("flag", ["--iptables=false", "--iptables=0", "--iptables=False", "--iptables=f"])
def test_dockerd_flag_turns_iptables_off(flag):
    problems = host_problems(dockerd_cmdline=f"/usr/sbin/dockerd\0-H\0fd://\0{flag}\0")
    assert problems == [
        f"dockerd runs with {flag} (pid 3042): Docker's iptables integration is off, so the egress guard could not "
        'hook; start dockerd with its iptables integration on (the default: drop --iptables=false, "iptables": '
        "false) so that the egress guard can hook into Docker's chains."
    ]


@pytest.mark.parametrize("args", ["--iptables=false\0--iptables=true", "--iptables", "--ip6tables=false"])
def test_dockerd_flags_that_leave_iptables_on(args):
    assert host_problems(dockerd_cmdline=f"dockerd\0{args}\0") == []


def test_a_process_that_is_not_dockerd_is_ignored():
    assert host_problems(dockerd_cmdline="sleep\0--iptables=false\0") == []


def test_daemon_json_turns_iptables_off():
    problems = host_problems(dockerd_config='{"iptables": false, "log-level": "warn"}')
    assert len(problems) == 1
    assert problems[0].startswith(
        '/etc/docker/daemon.json sets "iptables": false: Docker\'s iptables integration is off'
    )


@pytest.mark.parametrize("config", ['{"iptables": true}', "{}", "not json", '["iptables", false]'])
def test_daemon_json_that_leaves_iptables_on(config):
    assert host_problems(dockerd_config=config) == []


def test_missing_nat_chain_means_iptables_off():
    problems = host_problems(nat_chain_present=False)
    assert len(problems) == 1
    assert problems[0].startswith(
        "the nat chain DOCKER that dockerd makes when its iptables integration is on is " "missing on this host"
    )


def test_dockerd_config_file_from_the_command_line():
    assert preflight.netlab_dockerd_config_file("dockerd\0-H\0fd://\0") == "/etc/docker/daemon.json"
    assert preflight.netlab_dockerd_config_file("dockerd\0--config-file=/srv/d.json\0") == "/srv/d.json"
    assert preflight.netlab_dockerd_config_file("dockerd\0--config-file\0/srv/e.json\0", "/x") == "/srv/e.json"
    assert preflight.netlab_dockerd_config_file("", "/x") == "/x"


def test_disk_space_on_one_file_system_adds_up():
    statfs = STATFS.replace("2621440", "524288")  # 2 GiB free
    assert host_problems(statfs=statfs) == [
        "this host has 2.0 GiB free on the file system of NETLAB_CACHE /var/cache/k8s-netlab and Docker's data root "
        "/var/lib/docker, which need 3.8 GiB; free some space there or point NETLAB_CACHE at a larger disk."
    ]


def test_disk_space_of_a_cache_not_made_yet_is_its_parents():
    statfs = "f91a ext2/ext3 262144 4096 /var\naa01 xfs 262144 4096 /var/lib/docker\n"
    problems = host_problems(statfs=statfs, du="")
    assert problems == [
        "this host has 1.0 GiB free on the file system of NETLAB_CACHE /var/cache/k8s-netlab, which needs 5.0 GiB; "
        "free some space there or point NETLAB_CACHE at a larger disk.",
        "this host has 1.0 GiB free on the file system of Docker's data root /var/lib/docker, which needs 3.0 GiB; "
        "free some space there or point NETLAB_CACHE at a larger disk.",
    ]


def test_ancestors():
    assert preflight.netlab_ancestors("/var/cache/k8s-netlab") == ["/var/cache/k8s-netlab", "/var/cache", "/var", "/"]
    assert preflight.netlab_ancestors("/") == ["/"]


def test_the_lab_host_check_sees_a_fit_host_in_the_role_defaults():
    defaults = yaml.safe_load((ROOT / "roles/preflight/defaults/main.yml").read_text())
    assert defaults["preflight_cache_need_gib"] > 0
    assert defaults["preflight_docker_free_gib"] > 0
