"""The no-NAT check sees every netfilter backend (tests/natrules.py).

On one node of the inventory, a source NAT rule for the pod range is added through
each backend the check must read - iptables-legacy, iptables-nft, a native nftables
table, native rules inside iptables-nft's own nat table - and the check must name it,
labelled with its backend; the rule goes again in a `finally`, and the node is clean
again afterwards. Every rule added also matches an output interface the node does not
have (NO_SUCH_LINK), so it never rewrites a packet, and no test sends traffic. The
tests without fixtures check the reading of nft's JSON on rules written here.
"""

from __future__ import annotations

import ipaddress
import json
from types import SimpleNamespace

import pytest

from netlab_tests.natrules import (
    BACKENDS,
    IP6TABLES_LEGACY,
    IP6TABLES_NFT,
    IPTABLES_LEGACY,
    IPTABLES_NFT,
    NFTABLES,
    NatReport,
    Offender,
    pod_nat_offenders,
    pod_nat_offenders_in,
    read_nat_backends,
)

NO_SUCH_LINK = "netlab-nonat0"  # an interface name no node has: the rules below never match
TEST_TABLE = "netlab_nat_test"  # a native nftables table of the tests' own
TEST_CHAIN = "netlab_nat_test"  # a native base chain the tests add to iptables-nft's table


@pytest.fixture(scope="module")
def target(lab) -> str:
    """The node the tests break and restore: the inventory's last."""
    assert lab.pod_cidr.version == 4  # preflight's rule: the iptables commands below are IPv4's
    return list(lab.nodes)[-1]


@pytest.fixture(scope="module")
def node(nodes, target):
    host = nodes[target]
    assert host.run("ip link show %s", NO_SUCH_LINK).rc != 0, f"{target} has a link {NO_SUCH_LINK}"
    return host


def own_rule_handles(node, chain: str) -> list[str]:
    """The handles of the rules of chain `ip nat <chain>` that name NO_SUCH_LINK: the tests' own."""
    listed = json.loads(node.check_output("nft -j list chain ip nat %s", chain))["nftables"]
    return [str(i["rule"]["handle"]) for i in listed if "rule" in i and NO_SUCH_LINK in json.dumps(i["rule"])]


def clean(node, lab) -> NatReport:
    """The node's NAT backends, asserted clean: every program there, no offender."""
    report = read_nat_backends(node, lab.pod_cidr)
    assert report.missing == [], f"no program for {report.missing}"
    assert report.offenders == []
    return report


@pytest.mark.parametrize("backend", [b.name for b in BACKENDS])
def test_a_clean_node_shows_no_pod_nat_on_each_backend(lab, node, backend):
    report = read_nat_backends(node, lab.pod_cidr)
    assert backend not in report.missing, f"the node has no {backend} program"
    if backend == NFTABLES:
        assert "nftables" in json.loads(report.outputs[backend])
    elif backend in (IPTABLES_NFT, IP6TABLES_NFT):
        assert "*nat" in report.outputs[backend]  # listed whole: no native rule hides it
    assert report.on(backend) == []


def read_with_nat_rule(node, lab, program: str, rule: str):
    """Read every backend while RULE sits in PROGRAM's nat table (on a clean node;
    the rule is removed again whatever happens)."""
    clean(node, lab)
    node.check_output(f"{program} -w -t nat -A {rule}")
    try:
        return read_nat_backends(node, lab.pod_cidr)
    finally:
        node.check_output(f"{program} -w -t nat -D {rule}")


@pytest.mark.parametrize("backend, program", [(IPTABLES_LEGACY, "iptables-legacy"), (IPTABLES_NFT, "iptables-nft")],
                         ids=[IPTABLES_LEGACY, IPTABLES_NFT])
def test_a_masquerade_for_the_pod_range_is_reported_with_its_iptables_backend(lab, node, backend, program):
    rule = f"POSTROUTING -s {lab.pod_cidr} -o {NO_SUCH_LINK} -j MASQUERADE"
    report = read_with_nat_rule(node, lab, program, rule)
    assert report.offenders == [Offender(backend, f"-A {rule}")]
    clean(node, lab)


def test_an_ip6tables_masquerade_is_read_but_cannot_touch_the_ipv4_pods(lab, node):
    rule = f"POSTROUTING -o {NO_SUCH_LINK} -j MASQUERADE"
    report = read_with_nat_rule(node, lab, "ip6tables-legacy", rule)
    assert f"-A {rule}" in report.outputs[IP6TABLES_LEGACY].splitlines()
    assert report.offenders == []
    clean(node, lab)


def test_a_masquerade_in_a_native_nftables_table_is_reported(lab, node, target):
    lab_ip = lab.nodes[target].lab_ip
    assert not lab.lab_network.overlaps(lab.pod_cidr)
    chain = f"table ip {TEST_TABLE} chain post"
    clean(node, lab)
    node.check_output("nft add table ip %s", TEST_TABLE)
    try:
        node.check_output("nft add chain ip %s post %s", TEST_TABLE, "{ type nat hook postrouting priority 100 ; }")
        for rule in (f"ip saddr {lab.pod_cidr} oifname %s masquerade",  # the pod range
                     "oifname %s masquerade",  # no source match: every source
                     f"ip saddr {lab.lab_network} oifname %s snat to {lab_ip}"):  # not a pod: no offender
            node.check_output(f"nft add rule ip {TEST_TABLE} post {rule}", f'"{NO_SUCH_LINK}"')
        report = read_nat_backends(node, lab.pod_cidr)
    finally:
        node.run("nft delete table ip %s", TEST_TABLE)
    assert report.offenders == [
        Offender(NFTABLES, f"{chain}: ip saddr {lab.pod_cidr} meta oifname {NO_SUCH_LINK} masquerade"),
        Offender(NFTABLES, f"{chain}: meta oifname {NO_SUCH_LINK} masquerade"),
    ]
    clean(node, lab)


def test_a_native_masquerade_in_iptables_nft_s_own_nat_table_is_reported(lab, node):
    """A native rule hides iptables-nft's whole nat table from iptables-save; nft shows it."""
    placeholder = f"POSTROUTING -o {NO_SUCH_LINK} -j RETURN"  # so table `ip nat` and POSTROUTING exist
    clean(node, lab)
    node.check_output(f"iptables-nft -w -t nat -A {placeholder}")
    try:
        node.check_output("nft add rule ip nat POSTROUTING ip saddr %s oifname %s masquerade",
                          str(lab.pod_cidr), f'"{NO_SUCH_LINK}"')
        report = read_nat_backends(node, lab.pod_cidr)
    finally:
        for handle in own_rule_handles(node, "POSTROUTING"):  # the masquerade, and the placeholder
            node.check_output("nft delete rule ip nat POSTROUTING handle %s", handle)
    assert "*nat" not in report.outputs[IPTABLES_NFT], "iptables-nft still lists its nat table"
    assert "incompatible" in report.outputs[IPTABLES_NFT]
    # kube-proxy's guarded masquerade (if the node runs it) and the engine's DNS SNAT stay exempt.
    assert report.offenders == [Offender(
        NFTABLES, f"table ip nat chain POSTROUTING: ip saddr {lab.pod_cidr} meta oifname {NO_SUCH_LINK} masquerade")]
    assert "*nat" in clean(node, lab).outputs[IPTABLES_NFT]


def test_a_native_base_chain_in_iptables_nft_s_own_nat_table_is_reported(lab, node):
    """iptables-nft leaves a base chain it did not make out of its listing; nft shows it."""
    clean(node, lab)
    node.check_output(f"iptables-nft -w -t nat -N {TEST_CHAIN.upper()}")  # so table `ip nat` exists
    try:
        node.check_output("nft add chain ip nat %s %s", TEST_CHAIN, "{ type nat hook postrouting priority 50 ; }")
        node.check_output(f"nft add rule ip nat {TEST_CHAIN} oifname %s masquerade", f'"{NO_SUCH_LINK}"')
        report = read_nat_backends(node, lab.pod_cidr)
    finally:
        node.run("nft flush chain ip nat %s", TEST_CHAIN)
        node.run("nft delete chain ip nat %s", TEST_CHAIN)
        node.check_output(f"iptables-nft -w -t nat -X {TEST_CHAIN.upper()}")
    assert "incompatible base-chains" in report.outputs[IPTABLES_NFT]
    assert report.offenders == [Offender(
        NFTABLES, f"table ip nat chain {TEST_CHAIN}: meta oifname {NO_SUCH_LINK} masquerade")]
    clean(node, lab)


# -- the reading of nft's JSON, on rules written here ---------------------------------

POD_CIDR = ipaddress.ip_network("10.1.0.0/16")
MASQ = {"masquerade": None}


def saddr(op: str, right, protocol: str = "ip") -> dict:
    """nft's JSON of `<protocol> saddr <op> <right>`."""
    return {"match": {"op": op, "left": {"payload": {"protocol": protocol, "field": "saddr"}}, "right": right}}


def prefix(network: str) -> dict:
    """nft's JSON of an address prefix."""
    addr, length = network.split("/")
    return {"prefix": {"addr": addr, "len": int(length)}}


def ruleset(*rules: tuple[str, str, str, list], sets: tuple[dict, ...] = ()) -> str:
    """`nft -j list ruleset` of these (family, table, chain, expressions) rules."""
    items: list[dict] = [{"metainfo": {"json_schema_version": 1}}]
    items += [{"set": s} for s in sets]
    for handle, (family, table, chain, expr) in enumerate(rules, 1):
        items.append({"rule": {"family": family, "table": table, "chain": chain, "handle": handle, "expr": expr}})
    return json.dumps({"nftables": items})


def offenders(nft: str, iptables_nft: str = "") -> list[str]:
    """The offenders in this nft JSON, beside this iptables-nft-save listing."""
    outputs = {NFTABLES: nft, IPTABLES_NFT: iptables_nft}
    return [str(o) for o in pod_nat_offenders_in(outputs, POD_CIDR)]


def test_native_masquerade_and_snat_are_judged_by_their_source_match():
    rules = [
        ("ip", "sneaky", "post", [MASQ]),
        ("ip", "sneaky", "post", [saddr("==", prefix("10.1.20.0/24")), MASQ]),
        ("ip", "sneaky", "post", [saddr("==", prefix("192.168.1.0/24")), MASQ]),
        ("ip", "sneaky", "post", [saddr("!=", prefix("192.168.1.0/24")), {"snat": {"addr": "1.2.3.4"}}]),
        ("ip", "sneaky", "post", [saddr("==", {"range": ["10.0.255.0", "10.1.0.3"]}), MASQ]),
        ("ip", "sneaky", "post", [saddr("==", {"set": ["127.0.0.11", "192.168.1.129"]}), MASQ]),
        ("ip", "sneaky", "post", [MASQ, saddr("==", "192.168.1.129")]),  # a match after the statement binds nothing
        ("ip", "sneaky", "pre", [{"dnat": {"addr": "10.1.10.2"}}]),  # destination NAT: not a source rewrite
    ]
    assert offenders(ruleset(*rules)) == [
        "nftables: table ip sneaky chain post: masquerade",
        "nftables: table ip sneaky chain post: ip saddr 10.1.20.0/24 masquerade",
        "nftables: table ip sneaky chain post: ip saddr != 192.168.1.0/24 snat to 1.2.3.4",
        "nftables: table ip sneaky chain post: ip saddr 10.0.255.0-10.1.0.3 masquerade",
        "nftables: table ip sneaky chain post: masquerade ip saddr 192.168.1.129",
    ]


def test_native_named_sets_are_looked_up():
    sets = ({"family": "ip", "table": "t", "name": "pods", "elem": [prefix("10.1.0.0/16")]},
            {"family": "ip", "table": "t", "name": "lan", "elem": [{"elem": {"val": "192.168.1.129"}}]})
    rules = [("ip", "t", "p", [saddr("==", "@pods"), MASQ]), ("ip", "t", "p", [saddr("==", "@lan"), MASQ]),
             ("ip", "t", "p", [saddr("==", "@unknown"), MASQ])]
    assert offenders(ruleset(*rules, sets=sets)) == [
        "nftables: table ip t chain p: ip saddr @pods masquerade",
        "nftables: table ip t chain p: ip saddr @unknown masquerade",
    ]


def test_native_rules_for_the_other_ip_version_cannot_touch_ipv4_pods():
    nfproto = {"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv6"}}
    rules = [
        ("ip6", "t", "p", [MASQ]),
        ("inet", "t", "p", [saddr("==", prefix("fd00::/8"), "ip6"), MASQ]),
        ("inet", "t", "p", [nfproto, MASQ]),
        ("inet", "t", "p", [{"snat": {"family": "ip6", "addr": "fd00::1"}}]),
        ("inet", "t", "p", [MASQ]),  # both versions: the pods' too
    ]
    assert offenders(ruleset(*rules)) == ["nftables: table inet t chain p: masquerade"]


KUBE_POSTROUTING = [
    [{"match": {"op": "!=", "left": {"&": [{"meta": {"key": "mark"}}, 16384]}, "right": 16384}},
     {"counter": {"packets": 0, "bytes": 0}}, {"return": None}],
    [{"counter": {"packets": 0, "bytes": 0}}, {"xt": {"type": "target", "name": "MARK"}}],
    [{"xt": {"type": "match", "name": "comment"}}, {"xt": {"type": "target", "name": "MASQUERADE"}}],
]
IPTABLES_NAT = """*nat
:POSTROUTING ACCEPT [0:0]
:KUBE-POSTROUTING - [0:0]
-A POSTROUTING -s 10.1.0.0/16 -j MASQUERADE
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "service traffic" -j MASQUERADE --random-fully
COMMIT"""


def test_iptables_nft_s_chains_are_judged_once_from_its_own_listing():
    xt_masq = [saddr("==", prefix("10.1.0.0/16")), {"xt": {"type": "target", "name": "MASQUERADE"}}]
    kube = [("ip", "nat", "KUBE-POSTROUTING", e) for e in KUBE_POSTROUTING]
    nft = ruleset(("ip", "nat", "POSTROUTING", xt_masq), *kube)
    assert offenders(nft, IPTABLES_NAT) == ["iptables-nft: -A POSTROUTING -s 10.1.0.0/16 -j MASQUERADE"]
    # iptables-nft hid its table (a native rule in it): nft's JSON is judged, kube-proxy's guard still holds.
    hidden = "# Table `nat' is incompatible, use 'nft' tool."
    assert offenders(nft, hidden) == [
        "nftables: table ip nat chain POSTROUTING: ip saddr 10.1.0.0/16 xt target MASQUERADE"]
    # A chain iptables-nft lists with fewer rules than nft has: nft's JSON is judged.
    fewer = IPTABLES_NAT.replace("-A POSTROUTING -s 10.1.0.0/16 -j MASQUERADE\n", "")
    assert offenders(nft, fewer) == [
        "nftables: table ip nat chain POSTROUTING: ip saddr 10.1.0.0/16 xt target MASQUERADE"]
    # Without its guard first, kube-proxy's chain masquerades everything.
    unguarded = ruleset(*(("ip", "nat", "KUBE-POSTROUTING", e) for e in KUBE_POSTROUTING[1:]))
    assert offenders(unguarded) == [
        "nftables: table ip nat chain KUBE-POSTROUTING: xt match comment xt target MASQUERADE"]


def test_legacy_and_ipv6_iptables_listings_are_judged_with_their_label():
    legacy = "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT"
    outputs = {IPTABLES_LEGACY: legacy, IP6TABLES_LEGACY: legacy.replace("eth0", "eth1")}
    assert pod_nat_offenders_in(outputs, POD_CIDR) == [
        Offender(IPTABLES_LEGACY, "-A POSTROUTING -o eth0 -j MASQUERADE")]
    # An IPv6 pod range: only ip6tables' rule could touch it.
    assert pod_nat_offenders_in(outputs, ipaddress.ip_network("fd01::/48")) == [
        Offender(IP6TABLES_LEGACY, "-A POSTROUTING -o eth1 -j MASQUERADE")]


def fake_host(programs: set[str]):
    """A stand-in testinfra host with only these programs, each listing an empty nat table."""
    empty = {NFTABLES: json.dumps({"nftables": []})}
    return SimpleNamespace(
        exists=lambda program: program in programs,
        check_output=lambda command: empty.get(NFTABLES if command.startswith("nft ") else "", "*nat\nCOMMIT"),
        backend=SimpleNamespace(get_hostname=lambda: "nodeX"),
    )


def test_a_backend_whose_program_is_absent_is_missing_and_fails_the_lab_check():
    every = {b.program for b in BACKENDS}
    report = read_nat_backends(fake_host(every - {"nft"}), POD_CIDR)
    assert report.missing == [NFTABLES]
    assert sorted(report.outputs) == sorted(b.name for b in BACKENDS if b.name != NFTABLES)
    with pytest.raises(AssertionError, match="nodeX lacks nft: its nftables rules cannot be read"):
        pod_nat_offenders(fake_host(every - {"nft"}), POD_CIDR)
    assert pod_nat_offenders(fake_host(every), POD_CIDR) == []
