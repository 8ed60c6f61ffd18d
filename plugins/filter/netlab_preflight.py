"""Filters for the preflight role: check the lab inventory's addressing.

Pure Python (stdlib ``ipaddress``), so they run before anything is installed and
never need a node. Every check returns plain English sentences that name the
host (or this machine's device) and the bad value and say what is expected; an
empty list means the inventory is fine.
"""

import ipaddress
import json
import re
from itertools import combinations

# Lab-wide keys: the inventory variable behind each, and an example value.
LAB_VARS = {
    "lab_network": ("netlab_lab_network", "192.168.1.0/24"),
    "pod_cidr": ("netlab_pod_cidr", "10.1.0.0/16"),
    "service_cidr": ("netlab_service_cidr", "20.1.0.0/16"),
}
# How the sentences call the three lab-wide ranges.
RANGE_LABELS = {
    "lab_network": "the lab network",
    "pod_cidr": "the pod range",
    "service_cidr": "the service range",
}
MIN_NODES = 3
MTU_MIN = 576
MTU_MAX = 9000
# kube-apiserver refuses a service range of more than 2^20 addresses (wider
# than /12); narrower than /28 leaves too few cluster IPs for the lab.
SERVICE_PREFIX_MIN = 12
SERVICE_PREFIX_MAX = 28
# Ranges no lab range may touch: packets to them never cross a router, or mean
# something else to every host.
SPECIAL_RANGES = [
    (ipaddress.IPv4Network("0.0.0.0/8"), "the 'this network' range"),
    (ipaddress.IPv4Network("127.0.0.0/8"), "the loopback range"),
    (ipaddress.IPv4Network("169.254.0.0/16"), "the link-local range"),
    (ipaddress.IPv4Network("224.0.0.0/4"), "the multicast range"),
    (ipaddress.IPv4Network("240.0.0.0/4"), "the reserved range"),
]
# A Kubernetes node name, container name and hostname: a DNS-1123 label.
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
GIB = 1024**3
# Subnets that home routers hand out; a clash with one of them gets a hint.
HOME_LANS = {ipaddress.IPv4Network("192.168.0.0/24"), ipaddress.IPv4Network("192.168.1.0/24")}


def _missing(value):
    """True when an inventory value was not set (None or empty string)."""
    return value is None or str(value).strip() == ""


def _network(value, var, who=""):
    """Parse a CIDR network such as 10.1.10.0/24; return (network, problem)."""
    text = str(value).strip()
    if "/" not in text:
        return None, f"{who}{var} {text} is not a CIDR network; expected network/prefix, e.g. 10.1.10.0/24."
    try:
        return ipaddress.IPv4Network(text), None
    except ValueError:
        pass
    try:
        loose = ipaddress.IPv4Network(text, strict=False)
    except ValueError:
        return None, f"{who}{var} {text} is not a valid IPv4 CIDR network; expected network/prefix, e.g. 10.1.10.0/24."
    return None, f"{who}{var} {text} has host bits set; expected the network address, i.e. {loose}."


def _address(value, var, who=""):
    """Parse a plain IPv4 address such as 192.168.1.129; return (address, problem)."""
    text = str(value).strip()
    try:
        return ipaddress.IPv4Address(text), None
    except ValueError:
        hint = " without a prefix" if "/" in text else ""
        return (
            None,
            f"{who}{var} {text} is not a valid IPv4 address; expected a plain address{hint}, e.g. 192.168.1.129.",
        )


def _interface(value, var, who=""):
    """Parse an interface address such as 10.1.10.1/24; return (interface, problem)."""
    text = str(value).strip()
    try:
        if "/" not in text:
            raise ValueError(text)
        return ipaddress.IPv4Interface(text), None
    except ValueError:
        return None, f"{who}{var} {text} is not an IPv4 interface address; expected address/prefix, e.g. 10.1.10.1/24."


def _mtu_problem(value):
    """A sentence if the MTU is not an integer in MTU_MIN..MTU_MAX, else None.

    Digit strings count as integers: ``-e netlab_mtu=1500`` passes a string.
    """
    expected = f"expected a number from {MTU_MIN} to {MTU_MAX}."
    if _missing(value):
        return f"netlab_mtu is not set; {expected}"
    if isinstance(value, bool) or not (isinstance(value, int) or str(value).strip().isdigit()):
        return f"netlab_mtu {value} is not an integer; {expected}"
    if not MTU_MIN <= int(value) <= MTU_MAX:
        return f"netlab_mtu {value} is out of range; {expected}"
    return None


def _lab_ranges(lab, problems):
    """Parse the lab-wide ranges and the MTU; append problems; return {key: network}."""
    ranges = {}
    for key, (var, example) in LAB_VARS.items():
        if _missing(lab.get(key)):
            problems.append(f"{var} is not set; expected a CIDR network, e.g. {example}.")
            continue
        net, problem = _network(lab[key], var)
        if problem:
            problems.append(problem)
            continue
        ranges[key] = net
        problems.extend(_special_range_problems(f"{var} {net}", net, example))
        if key == "service_cidr":
            problems.extend(_service_prefix_problems(net))
    for (key_a, net_a), (key_b, net_b) in combinations(ranges.items(), 2):
        if net_a.overlaps(net_b):
            problems.append(
                f"{LAB_VARS[key_a][0]} {net_a} overlaps {LAB_VARS[key_b][0]} {net_b}; "
                "the lab network, pod range and service range must not overlap."
            )
    mtu_problem = _mtu_problem(lab.get("mtu"))
    if mtu_problem:
        problems.append(mtu_problem)
    return ranges


def _special_range_problems(what, net, example):
    """Sentences for a range that touches loopback, link-local, multicast or reserved space."""
    return [
        f"{what} overlaps {label} {special}; the lab's ranges must be ordinary unicast networks, e.g. {example}."
        for special, label in SPECIAL_RANGES
        if net.overlaps(special)
    ]


def _service_prefix_problems(net):
    """A sentence for a service range wider than /12 or narrower than /28."""
    expected = f"expected a prefix from /{SERVICE_PREFIX_MIN} to /{SERVICE_PREFIX_MAX}, e.g. 20.1.0.0/16"
    if net.prefixlen < SERVICE_PREFIX_MIN:
        return [
            f"netlab_service_cidr {net} is wider than /{SERVICE_PREFIX_MIN}: kube-apiserver refuses a service "
            f"range of more than 2^{32 - SERVICE_PREFIX_MIN} addresses; {expected}."
        ]
    if net.prefixlen > SERVICE_PREFIX_MAX:
        return [
            f"netlab_service_cidr {net} is narrower than /{SERVICE_PREFIX_MAX}: it leaves fewer than "
            f"{2 ** (32 - SERVICE_PREFIX_MAX)} cluster IPs for the lab's Services; {expected}."
        ]
    return []


def _check_lab_ip(who, ip, lab_net):
    """Sentences for a lab IP outside the lab network or on a reserved address."""
    usable = f"expected an address from {lab_net.network_address + 2} to {lab_net.broadcast_address - 1}"
    if ip not in lab_net:
        return [f"{who}netlab_lab_ip {ip} is not inside netlab_lab_network {lab_net}; {usable}."]
    reserved = {
        lab_net.network_address: "the network address",
        lab_net.broadcast_address: "the broadcast address",
        lab_net.network_address + 1: "the first address (the lab's gateway on this host)",
    }
    if ip in reserved:
        return [f"{who}netlab_lab_ip {ip} is {reserved[ip]} of netlab_lab_network {lab_net}; {usable}."]
    return []


def _check_pod_subnet(who, subnet, ranges):
    """Sentences for a pod subnet outside the pod range, on another range, or too small."""
    problems = []
    pod_cidr = ranges.get("pod_cidr")
    if pod_cidr is not None and not subnet.subnet_of(pod_cidr):
        problems.append(f"{who}netlab_pod_subnet {subnet} is not inside netlab_pod_cidr {pod_cidr}.")
    for key in ("lab_network", "service_cidr"):
        other = ranges.get(key)
        if other is not None and subnet.overlaps(other):
            problems.append(
                f"{who}netlab_pod_subnet {subnet} overlaps {LAB_VARS[key][0]} {other}; "
                f"a pod subnet must stay out of {RANGE_LABELS[key]}."
            )
    if pod_cidr is None or not any(pod_cidr.overlaps(special) for special, _label in SPECIAL_RANGES):
        problems.extend(_special_range_problems(f"{who}netlab_pod_subnet {subnet}", subnet, "10.1.10.0/24"))
    if subnet.prefixlen > 30:
        problems.append(
            f"{who}netlab_pod_subnet {subnet} is too small; expected a prefix of /30 or shorter "
            "(room for docker0 and pods)."
        )
    return problems


def _check_bip(who, bip, subnet):
    """Sentences for a docker0 address that does not fit its node's pod subnet."""
    expected = f"expected an address of the pod subnet, e.g. {netlab_first_address(str(subnet))}"
    if bip.ip not in subnet:
        return [f"{who}docker_bip {bip} is not inside its pod subnet {subnet}; {expected}."]
    if bip.network.prefixlen != subnet.prefixlen:
        return [
            f"{who}docker_bip {bip} does not have the prefix /{subnet.prefixlen} "
            f"of its pod subnet {subnet}; {expected}."
        ]
    if bip.ip in (subnet.network_address, subnet.broadcast_address):
        return [f"{who}docker_bip {bip} is the network or broadcast address of its pod subnet {subnet}; {expected}."]
    return []


def _check_host_ip(host, ranges, ip_owner):
    """Problems of one lab host's netlab_lab_ip (a node's or a service host's).

    ``ip_owner`` maps the lab IPs seen so far to their host; it is updated.
    """
    who = f"{host.get('name')}: "
    if _missing(host.get("lab_ip")):
        return [f"{who}netlab_lab_ip is not set; expected the host's address on netlab_lab_network."]
    ip, problem = _address(host["lab_ip"], "netlab_lab_ip", who)
    if problem:
        return [problem]
    if ip in ip_owner:
        return [f"{who}netlab_lab_ip {ip} is already used by {ip_owner[ip]}; every lab host needs its own lab IP."]
    ip_owner[ip] = host.get("name")
    return _check_lab_ip(who, ip, ranges["lab_network"]) if "lab_network" in ranges else []


def _check_node(node, ranges, ip_owner):
    """Problems of one node dict; return (problems, its pod subnet or None).

    ``ip_owner`` maps the lab IPs seen so far to their host; it is updated.
    """
    who = f"{node.get('name')}: "
    problems = _check_host_ip(node, ranges, ip_owner)

    subnet = None
    if _missing(node.get("pod_subnet")):
        problems.append(f"{who}netlab_pod_subnet is not set; expected a subnet of netlab_pod_cidr, e.g. 10.1.10.0/24.")
    else:
        subnet, problem = _network(node["pod_subnet"], "netlab_pod_subnet", who)
        problems.extend([problem] if problem else _check_pod_subnet(who, subnet, ranges))

    if _missing(node.get("bip")):
        # Without a usable pod subnet there is no docker0 address to derive, and
        # that subnet's own problem already says so.
        derived = netlab_first_address(str(subnet)) if subnet is not None else ""
        if derived:
            problems.append(f"{who}docker_bip is not set; expected an address of {subnet}, e.g. {derived}.")
    else:
        bip, problem = _interface(node["bip"], "docker_bip", who)
        if problem:
            problems.append(problem)
        elif subnet is not None:
            problems.extend(_check_bip(who, bip, subnet))
    return problems, subnet


def netlab_lab_problems(nodes, lab, services=()):
    """Check the lab's addressing; return a list of problem sentences (empty = fine).

    ``nodes``: list of dicts {name, lab_ip, pod_subnet, bip} (bip is docker0's
    address, e.g. 10.1.10.1/24). ``lab``: dict {lab_network, pod_cidr,
    service_cidr, mtu}. ``services``: the lab's other hosts (the depot), dicts
    {name, lab_ip}. A value that is None or empty counts as not set.
    """
    problems = []
    names = [str(node.get("name")) for node in nodes]
    if len(nodes) < MIN_NODES:
        listed = ", ".join(names) or "none"
        problems.append(f"the inventory has {len(nodes)} node(s) ({listed}); the lab needs at least {MIN_NODES}.")
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{name} is listed more than once; node names must be unique.")

    ranges = _lab_ranges(lab, problems)
    ip_owner = {}
    subnets = []
    for node in nodes:
        node_problems, subnet = _check_node(node, ranges, ip_owner)
        problems.extend(node_problems)
        if subnet is not None:
            subnets.append((node.get("name"), subnet))

    for host in services:
        problems.extend(_check_host_ip(host, ranges, ip_owner))

    for (name_a, net_a), (name_b, net_b) in combinations(subnets, 2):
        if net_a.overlaps(net_b):
            problems.append(
                f"{name_b}: netlab_pod_subnet {net_b} overlaps {name_a}'s netlab_pod_subnet {net_a}; "
                "every node needs its own pod subnet."
            )
    return problems


def _host_networks(routes, addresses, ignore_devs):
    """This machine's IPv4 networks as unique (network, device) pairs, minus ignored devices.

    Default routes are skipped. A route without a device (multipath, blackhole)
    is named after its next hops' devices or its type.
    """
    found = []
    for route in routes or []:
        dst = route.get("dst")
        if dst in (None, "default"):
            continue
        devs = [route["dev"]] if route.get("dev") else [hop.get("dev") for hop in route.get("nexthops", [])]
        devs = [dev for dev in devs if dev] or [route.get("type", "no device")]
        try:
            net = ipaddress.IPv4Network(dst, strict=False)
        except ValueError:
            continue
        found.extend((net, dev) for dev in devs if dev not in ignore_devs)
    for link in addresses or []:
        dev = link.get("ifname")
        if dev in ignore_devs:
            continue
        for info in link.get("addr_info", []):
            if info.get("family", "inet") == "inet" and info.get("local"):
                address = ipaddress.IPv4Interface(f"{info['local']}/{info.get('prefixlen', 32)}")
                found.append((address.network, dev))
    return list(dict.fromkeys(found))


def _free_subnet(pools, prefixlen, taken, start=0):
    """First subnet of ``pools`` with ``prefixlen`` that overlaps none of ``taken``, or None.

    In each pool the search begins at the ``start``-th candidate and wraps
    around, so that a suggestion skips the low numbers home routers and VPNs favour.
    """
    for pool in map(ipaddress.IPv4Network, pools):
        candidates = list(pool.subnets(new_prefix=max(prefixlen, pool.prefixlen)))
        for net in candidates[start:] + candidates[:start]:
            if not any(net.overlaps(other) for other in taken):
                return net
    return None


def netlab_host_conflicts(lab, routes, addresses, ignore_devs=("netlab0",)):
    """Lab ranges that overlap a route or address already on this machine.

    For the embedded default (nodes as containers here) the lab network, pod
    range and service range must be free on this host. ``routes`` is the parsed
    output of ``ip -j -4 route show table main``, ``addresses`` that of
    ``ip -j -4 addr show``. Default routes and devices in ``ignore_devs`` (the
    lab's own bridge) are ignored; invalid lab values are left to
    netlab_lab_problems. Returns a list of sentences (empty = fine), each with a
    free subnet to use instead.
    """
    ranges = {}
    for key, (var, _example) in LAB_VARS.items():
        if not _missing(lab.get(key)):
            net, _problem = _network(lab[key], var)
            if net is not None:
                ranges[key] = net
    host = _host_networks(routes, addresses, set(ignore_devs or ()))
    problems = []
    suggested = []
    for key, net in ranges.items():
        clashes = [(other, dev) for other, dev in host if net.overlaps(other)]
        if not clashes:
            continue
        avoid = [other for other, _dev in host] + [other for k, other in ranges.items() if k != key] + suggested
        if key == "lab_network":
            fix = "netlab_lab_network and the nodes' netlab_lab_ip"
            free = _free_subnet(["192.168.0.0/16"], 24, avoid, start=77)
        else:
            fix = "netlab_pod_cidr and the nodes' netlab_pod_subnet" if key == "pod_cidr" else "netlab_service_cidr"
            free = _free_subnet(["10.0.0.0/8", "172.16.0.0/12"], net.prefixlen, avoid, start=1)
        suggestion = ""
        if free:
            suggested.append(free)
            suggestion = f", e.g. {free}"
        for other, dev in clashes:
            home = f" (many home LANs use {other})" if other in HOME_LANS else ""
            problems.append(
                f"{RANGE_LABELS[key]} {net} overlaps {other} on {dev}, already on this host{home}. "
                f"Pick a free subnet for {fix} in inventory/lab/{suggestion}."
            )
    return problems


def _label_hint(name):
    """A DNS-1123 label close to ``name``: 'Node_2' -> 'node-2'."""
    hint = re.sub(r"[^a-z0-9-]+", "-", str(name).lower()).strip("-")[:63].strip("-")
    return hint or "node1"


def netlab_group_problems(
    groups, container_node=True, nodes_group="nodes", services_group="services", control_plane_group="control_plane"
):
    """Check the inventory's groups and host names; return a list of sentences (empty = fine).

    ``groups``: the inventory's groups, {group: [host, ...]} (Ansible's ``groups``).
    Every lab host's name (nodes, services, control plane) must be a DNS-1123
    label: Kubernetes, Docker and the node's hostname use it. The control-plane
    group must hold exactly one host, which is a node. The embedded lab
    (``container_node``) needs exactly one depot in the services group.
    """
    problems = []
    nodes = list(groups.get(nodes_group) or [])
    services = list(groups.get(services_group) or [])
    control_plane = groups.get(control_plane_group)
    seen = []
    for name in nodes + services + list(control_plane or []):
        if name in seen:
            continue
        seen.append(name)
        if not DNS1123_LABEL.match(str(name)):
            problems.append(
                f"{name}: the host name is not a DNS-1123 label (at most 63 lower-case letters, digits and '-', "
                f"starting and ending with a letter or digit); Kubernetes, Docker and the node's hostname use it, "
                f"so rename it in the inventory, e.g. {_label_hint(name)}."
            )
    expected = f"expected exactly one host of group {nodes_group}, e.g. {nodes[0] if nodes else 'node1'}"
    if control_plane is None:
        problems.append(f"the inventory has no group {control_plane_group}; {expected}.")
    elif not control_plane:
        problems.append(f"the group {control_plane_group} is empty; {expected}.")
    else:
        if len(control_plane) > 1:
            problems.append(
                f"the group {control_plane_group} has {len(control_plane)} hosts "
                f"({', '.join(map(str, control_plane))}); "
                f"the lab runs one control plane, {expected}."
            )
        for name in control_plane:
            if name not in nodes:
                problems.append(
                    f"{name}: the host of group {control_plane_group} is not in group {nodes_group}; "
                    f"the control plane runs on a node, {expected}."
                )
    if container_node and len(services) != 1:
        listed = ", ".join(map(str, services)) or "none"
        problems.append(
            f"the group {services_group} has {len(services)} host(s) ({listed}); the embedded lab needs exactly "
            f"one depot there (the nodes' artifact mirror and image registry), e.g. depot."
        )
    return problems


def _known_releases(table):
    """{version: sorted archs} of a download_checksums table {artifact: {version: {arch: sha256}}}."""
    known = {}
    for versions in (table or {}).values():
        for version, archs in (versions or {}).items():
            known.setdefault(str(version), set()).update(map(str, (archs or {}).keys()))
    return {version: sorted(archs) for version, archs in known.items()}


def netlab_release_problems(hosts, table):
    """Kubernetes versions and architectures the download role does not know; list of sentences.

    ``hosts``: [{name, version, arch}] (each node's download_kube_version and
    download_arch); ``table``: the role's download_checksums. Hosts with the
    same bad value share one sentence.
    """
    known = _known_releases(table)
    listed = ", ".join(sorted(known)) or "none"
    bad = {}
    for host in hosts:
        version, arch = str(host.get("version")), str(host.get("arch"))
        if version not in known:
            key = (
                f"download_kube_version {version}",
                f"is not a release the download role knows (its download_checksums table lists {listed}); "
                "pick one of those or add the release's sha256 there",
            )
        elif arch not in known[version]:
            key = (
                f"download_arch {arch}",
                f"is not an architecture the download role knows for {version} "
                f"(its download_checksums table lists {', '.join(known[version])}); "
                "pick one of those or add its sha256 there",
            )
        else:
            continue
        bad.setdefault(key, []).append(str(host.get("name")))
    return [f"{', '.join(names)}: {value} {why}." for (value, why), names in bad.items()]


def netlab_ancestors(path):
    """'/var/cache/x' -> ['/var/cache/x', '/var/cache', '/var', '/']: where df can look when a path is missing."""
    parts = [part for part in str(path).split("/") if part]
    return ["/" + "/".join(parts[:i]) for i in range(len(parts), 0, -1)] + ["/"]


def _cmdline(text):
    """A /proc/<pid>/cmdline (NUL-separated) as a list of arguments."""
    return [arg for arg in str(text or "").split("\0") if arg]


def netlab_dockerd_config_file(cmdline, default="/etc/docker/daemon.json"):
    """The daemon config file dockerd reads: its --config-file, else ``default``."""
    path = default
    args = _cmdline(cmdline)
    for i, arg in enumerate(args):
        if arg.startswith("--config-file="):
            path = arg.split("=", 1)[1]
        elif arg == "--config-file" and i + 1 < len(args):
            path = args[i + 1]
    return path


GO_FALSE = {"0", "f", "F", "false", "FALSE", "False"}
GO_TRUE = {"1", "t", "T", "true", "TRUE", "True"}


def _iptables_problems(state):
    """Sentences when Docker's iptables integration is off (dockerd's flag, its config, its nat chain)."""
    fix = (
        "start dockerd with its iptables integration on (the default: drop --iptables=false, "
        '"iptables": false) so that the egress guard can hook into Docker\'s chains'
    )
    args = _cmdline(state.get("dockerd_cmdline"))
    if args and args[0].rsplit("/", 1)[-1] != "dockerd":
        args = []  # a stale pid file: that process is not dockerd
    flag = None
    for arg in args[1:]:
        if arg == "--iptables":
            flag = "true"
        elif arg.startswith("--iptables="):
            flag = arg.split("=", 1)[1]
    if flag in GO_FALSE:
        return [
            f"dockerd runs with --iptables={flag} (pid {state.get('dockerd_pid')}): Docker's iptables "
            f"integration is off, so the egress guard could not hook; {fix}."
        ]
    config_text = state.get("dockerd_config")
    if flag is None and config_text:
        path = state.get("dockerd_config_file")
        try:
            config = json.loads(config_text)
        except ValueError:
            config = {}
        if isinstance(config, dict) and config.get("iptables") is False:
            return [
                f'{path} sets "iptables": false: Docker\'s iptables integration is off, so the egress '
                f"guard could not hook; {fix}."
            ]
    if not state.get("nat_chain_present", True):
        chain = state.get("nat_chain", "DOCKER")
        return [
            f"the nat chain {chain} that dockerd makes when its iptables integration is on is missing on "
            f"this host: Docker's iptables integration is off (or its rules were flushed), so the egress "
            f"guard could not hook; {fix}, then restart it."
        ]
    return []


def _bridge_of(network):
    """The Linux bridge of a Docker bridge network: its bridge.name option, else br-<id[:12]>."""
    if network.get("Driver") != "bridge":
        return None
    name = (network.get("Options") or {}).get("com.docker.network.bridge.name")
    return name or f"br-{str(network.get('Id', ''))[:12]}"


def netlab_lab_bridges(networks, label):
    """The bridges of the Docker networks that carry the lab's label (the lab's own, even while it is up)."""
    return [
        bridge for bridge in (_bridge_of(net) for net in networks or [] if label in (net.get("Labels") or {})) if bridge
    ]


def _docker_problems(state):
    """Sentences for a lab bridge name, network name or subnet that something else already uses."""
    label = state["label"]
    bridge, name = state.get("bridge"), state.get("network")
    lab_net = None
    try:
        lab_net = ipaddress.IPv4Network(str(state.get("lab_network")))
    except ValueError:
        pass
    networks = state.get("networks") or []
    problems = []
    for net in networks:
        if label in (net.get("Labels") or {}):
            continue
        who = f"the Docker network {net.get('Name')} ({str(net.get('Id', ''))[:12]})"
        if net.get("Name") == name:
            problems.append(
                f"{who} already exists and is not this lab's (it lacks the label {label}); remove it "
                f"(docker network rm {name}) or set node_containers_network to another name."
            )
        if _bridge_of(net) == bridge:
            problems.append(
                f"{who} already uses the bridge {bridge}, the lab's bridge name; remove that network or set "
                "node_containers_bridge to another name."
            )
        for config in (net.get("IPAM") or {}).get("Config") or []:
            try:
                subnet = ipaddress.ip_network(str(config.get("Subnet")), strict=False)
            except ValueError:
                continue
            if lab_net is not None and subnet.version == 4 and subnet.overlaps(lab_net):
                problems.append(
                    f"{who} has the subnet {subnet}, which overlaps the lab network {lab_net}; remove that "
                    "network or pick another netlab_lab_network (and the lab hosts' netlab_lab_ip)."
                )
    owned = set(netlab_lab_bridges(networks, label))
    foreign_bridges = {_bridge_of(net) for net in networks if label not in (net.get("Labels") or {})}
    links = {link.get("ifname"): link for link in state.get("links") or []}
    if bridge in links and bridge not in owned and bridge not in foreign_bridges:
        kind = (links[bridge].get("linkinfo") or {}).get("info_kind") or links[bridge].get("link_type", "device")
        problems.append(
            f"the device {bridge} ({kind}) already exists on this host and is not the bridge of this lab's Docker "
            f"network; remove it or set node_containers_bridge to another name."
        )
    return problems


def _uplink_problems(state):
    """A sentence when netlab_mtu is above the MTU of this host's default-route interface."""
    mtu = state.get("mtu")
    if isinstance(mtu, bool) or not str(mtu).strip().isdigit():
        return []  # the lab check reports it
    mtus = {link.get("ifname"): link.get("mtu") for link in state.get("links") or []}
    problems = []
    for route in state.get("routes") or []:
        if route.get("dst") != "default":
            continue
        devs = [route.get("dev")] if route.get("dev") else [hop.get("dev") for hop in route.get("nexthops", [])]
        for dev in devs:
            if dev in mtus and isinstance(mtus[dev], int) and int(mtu) > mtus[dev]:
                problems.append(
                    f"netlab_mtu {mtu} is above the MTU {mtus[dev]} of {dev}, this host's uplink (its default "
                    f"route): the lab's packets would not fit; set netlab_mtu to {mtus[dev]} or less."
                )
    return list(dict.fromkeys(problems))


def _gib(size):
    return f"{size / GIB:.1f} GiB"


def _statfs_lines(text):
    """`stat -f -c '%i %T %a %S %n'` lines -> {path: (file system id, type, free bytes)}."""
    found = {}
    for line in (text or "").splitlines():
        fields = line.split(" ", 4)
        if len(fields) == 5 and fields[2].isdigit() and fields[3].isdigit():
            found[fields[4]] = (fields[0], fields[1], int(fields[2]) * int(fields[3]))
    return found


def _disk_problems(state):
    """A sentence per file system with less free space than the lab's caches need there.

    ``statfs``: `stat -f -c '%i %T %a %S %n'` lines of each path's ancestors;
    ``du``: `du -sxB1` lines; ``needs``: [{what, path, need_gib, minus_used}]
    (minus_used: what the path already holds counts towards its need, as for
    NETLAB_CACHE). Needs on one file system add up.
    """
    statfs = _statfs_lines(state.get("statfs"))
    used = {}
    for line in (state.get("du") or "").splitlines():
        fields = line.split("\t", 1)
        if len(fields) == 2 and fields[0].isdigit():
            used[fields[1]] = int(fields[0])
    by_fs = {}
    for need in state.get("needs") or []:
        path = str(need["path"])
        fs = next((statfs[p] for p in netlab_ancestors(path) if p in statfs), None)
        if fs is None:
            continue
        size = float(need["need_gib"]) * GIB
        if need.get("minus_used"):
            size -= used.get(path, 0)
        entry = by_fs.setdefault(fs[0], {"free": fs[2], "need": 0, "what": []})
        entry["need"] += max(size, 0)
        entry["what"].append(f"{need['what']} {path}")
    problems = []
    for entry in by_fs.values():
        if entry["free"] < entry["need"]:
            what = " and ".join(entry["what"])
            verb = "need" if len(entry["what"]) > 1 else "needs"
            problems.append(
                f"this host has {_gib(entry['free'])} free on the file system of {what}, which {verb} "
                f"{_gib(entry['need'])}; free some space there or point NETLAB_CACHE at a larger disk."
            )
    return problems


def netlab_host_state_problems(state):
    """The host's state the embedded lab needs; return a list of sentences (empty = fine).

    ``state`` (each key optional, a check without its data is skipped):
    ``cgroup_root`` (its type is read from ``statfs``); ``routes``, ``links``
    (`ip -j route`, `ip -j link`) and ``mtu`` for the uplink; ``docker_error``
    when the engine does not answer, else ``networks`` (Docker's networks,
    inspected), ``bridge``, ``network``, ``label``, ``lab_network``; the
    iptables evidence ``nat_chain``, ``nat_chain_present``, ``dockerd_pid``,
    ``dockerd_cmdline``, ``dockerd_config_file``, ``dockerd_config``; the disk
    data ``statfs``, ``du``, ``needs`` (see _disk_problems).
    """
    problems = []
    root = state.get("cgroup_root", "/sys/fs/cgroup")
    if _statfs_lines(state.get("statfs")).get(root, ("", "", 0))[1] == "cgroup2fs":
        problems.append(
            f"this host runs cgroup v2 ({root} is a cgroup2fs file system), but the "
            "embedded lab runs kubelet v1.20 with dockershim, here on cgroup v1 only: boot the host with "
            "systemd.unified_cgroup_hierarchy=0 on its kernel command line, or run the lab on VMs with vagrant up."
        )
    problems.extend(_uplink_problems(state))
    if state.get("docker_error"):
        problems.append(
            f"the Docker engine on this host does not answer ({state['docker_error']}); the embedded lab runs "
            "its machines on it: start it first (make host)."
        )
    else:
        problems.extend(_docker_problems(state))
        problems.extend(_iptables_problems(state))
    problems.extend(_disk_problems(state))
    return problems


def netlab_first_address(subnet):
    """docker0's default address for a pod subnet: '10.1.10.0/24' -> '10.1.10.1/24'.

    Returns '' when ``subnet`` is not a network with room for it, so that the
    preflight's problem list, not a template error, reports the bad subnet.
    """
    try:
        net = ipaddress.IPv4Network(str(subnet).strip())
    except ValueError:
        return ""
    if net.prefixlen > 30:
        return ""
    return f"{net.network_address + 1}/{net.prefixlen}"


class FilterModule:
    """Preflight filters: the inventory's addressing, groups and releases; this host's state."""

    def filters(self):
        """Map filter names to functions."""
        return {
            "netlab_lab_problems": netlab_lab_problems,
            "netlab_host_conflicts": netlab_host_conflicts,
            "netlab_first_address": netlab_first_address,
            "netlab_group_problems": netlab_group_problems,
            "netlab_release_problems": netlab_release_problems,
            "netlab_host_state_problems": netlab_host_state_problems,
            "netlab_lab_bridges": netlab_lab_bridges,
            "netlab_ancestors": netlab_ancestors,
            "netlab_dockerd_config_file": netlab_dockerd_config_file,
        }
