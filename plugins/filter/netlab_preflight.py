"""Filters for the preflight role: check the lab inventory's addressing.

Pure Python (stdlib ``ipaddress``), so they run before anything is installed and
never need a node. Every check returns plain English sentences that name the
host (or this machine's device) and the bad value and say what is expected; an
empty list means the inventory is fine.
"""

import ipaddress
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
MTU_MIN, MTU_MAX = 576, 9000
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
        else:
            ranges[key] = net
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
    """Preflight filters: netlab_lab_problems, netlab_host_conflicts, netlab_first_address."""

    def filters(self):
        """Map filter names to functions."""
        return {
            "netlab_lab_problems": netlab_lab_problems,
            "netlab_host_conflicts": netlab_host_conflicts,
            "netlab_first_address": netlab_first_address,
        }
