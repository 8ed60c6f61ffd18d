"""Unit tests of the preflight filters (plugins/filter/netlab_preflight.py)."""

import copy
import importlib.util
from pathlib import Path

import pytest
import yaml

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
    assert set(preflight.FilterModule().filters()) == {
        "netlab_lab_problems",
        "netlab_host_conflicts",
        "netlab_first_address",
    }
