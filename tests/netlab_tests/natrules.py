"""Reading a node's NAT rules: which rules could rewrite a pod's source address.

Shared by the routing tests (no NAT between nodes) and the lesson (observation 7:
no MASQUERADE for pod traffic, Step 2: pod-to-Service traffic keeps its source).

A Debian 12 node has more than one netfilter backend, and each tool shows only its own:

- iptables-nft (`iptables-nft-save`): what `iptables` is on Debian 12; its rules live
  in nf_tables tables named like iptables' tables (`ip nat`, `ip filter`, ...);
- iptables-legacy (`iptables-legacy-save`): the kernel's old x_tables, which neither
  iptables-nft nor nft lists (every table it has: `-t nat` would make the kernel create
  one, or load its module; a MASQUERADE or SNAT can only be in its nat table);
- native nftables (`nft -j list ruleset`): tables and chains of any name, written with
  `nft`, which iptables-nft does not list;
- and ip6tables-nft / ip6tables-legacy, the same for IPv6.

`read_nat_backends` reads all of them, by the programs' explicit names (so a label is
true whatever `update-alternatives` chose for `iptables`). Which of nft's rules are
iptables-nft's own: the rules of a chain of table `ip nat` (`ip6 nat`) that
`iptables-nft-save -t nat` (`ip6tables-nft-save`) lists with exactly as many rules as
nft lists in it. iptables-nft lists such a chain whole, so those rules are judged from
its listing (with kube-proxy's guard, below). Every other chain nft lists is judged
natively from nft's JSON: other tables, and the chains of `ip nat` that iptables-nft
hides - a rule it cannot read (a native `masquerade` added with `nft`) makes it print
"# Table `nat' is incompatible" and hide the whole table, an extra base chain makes it
leave that chain out.

A rule is an offender when it rewrites source addresses (MASQUERADE, SNAT: iptables'
targets, nft's `masquerade` and `snat` statements and the `xt` targets of
iptables-nft's rules) and its source match could include a pod address: no source
match, a negated one, or one that overlaps the pod range. Rules that only see packets
of the other IP version than the pod range's (ip6tables; an `ip6` match in an `inet`
table) are not.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Sets = Mapping[tuple[str, str, str], list[Any]]  # nft's named sets: (family, table, name) -> elements

# kube-proxy's own masquerading: KUBE-POSTROUTING first returns every packet that
# lacks its mark, and only KUBE-MARK-MASQ sets the mark (Service traffic from outside
# the pod range, a pod reaching itself through its Service). Pod-to-pod traffic is
# never marked; test_pod_traffic_crosses_nodes_with_its_real_source_ip proves it.
KUBE_MASQ_MARK = 0x4000
KUBE_MASQ_GUARD = f"-A KUBE-POSTROUTING -m mark ! --mark {KUBE_MASQ_MARK:#x}/{KUBE_MASQ_MARK:#x} -j RETURN"
# The same rule as nft lists it (iptables-nft writes `-m mark` as native expressions).
KUBE_MASQ_GUARD_NFT = [
    {"match": {"op": "!=", "left": {"&": [{"meta": {"key": "mark"}}, KUBE_MASQ_MARK]}, "right": KUBE_MASQ_MARK}},
    {"return": None},
]


@dataclass(frozen=True)
class Backend:
    """One netfilter backend: the program that lists its NAT rules."""

    name: str  # the label its offenders carry
    command: str  # what lists its rules; its first word is the program
    version: int | None  # the IP version of the packets it sees; None: either

    @property
    def program(self) -> str:
        return self.command.split()[0]


IPTABLES_NFT = "iptables-nft"
IPTABLES_LEGACY = "iptables-legacy"
IP6TABLES_NFT = "ip6tables-nft"
IP6TABLES_LEGACY = "ip6tables-legacy"
NFTABLES = "nftables"

BACKENDS = (
    Backend(IPTABLES_NFT, "iptables-nft-save -t nat", 4),
    Backend(IPTABLES_LEGACY, "iptables-legacy-save", 4),
    Backend(IP6TABLES_NFT, "ip6tables-nft-save -t nat", 6),
    Backend(IP6TABLES_LEGACY, "ip6tables-legacy-save", 6),
    Backend(NFTABLES, "nft -j list ruleset", None),
)
# The nft table each iptables-nft backend keeps its nat rules in.
IPTABLES_NFT_TABLES = {("ip", "nat"): IPTABLES_NFT, ("ip6", "nat"): IP6TABLES_NFT}


@dataclass(frozen=True)
class Offender:
    """A rule that could rewrite a pod's source address, and the backend it is in."""

    backend: str
    rule: str  # as iptables-save prints it; for nftables `table <family> <name> chain <name>: <rule>`

    def __str__(self) -> str:
        return f"{self.backend}: {self.rule}"


@dataclass(frozen=True)
class NatReport:
    """What every backend of a node lists, and the offenders among it."""

    outputs: dict[str, str]  # backend -> what its program printed
    missing: list[str]  # backends whose program the node does not have
    offenders: list[Offender]

    def on(self, backend: str) -> list[Offender]:
        """The offenders in one backend."""
        return [o for o in self.offenders if o.backend == backend]


def read_nat_backends(host, pod_cidr: Network) -> NatReport:
    """Every backend's NAT rules on a testinfra host, and which could rewrite pod sources.

    A backend whose program the host lacks is listed in `missing` (nothing is read
    from it); a program that is there but fails fails the call (check_output)."""
    outputs, missing = {}, []
    for backend in BACKENDS:
        if host.exists(backend.program):
            outputs[backend.name] = host.check_output(backend.command)
        else:
            missing.append(backend.name)
    return NatReport(outputs, missing, pod_nat_offenders_in(outputs, pod_cidr))


def pod_nat_offenders(host, pod_cidr: Network) -> list[Offender]:
    """The offenders on every backend of a lab node, which has every backend's program."""
    report = read_nat_backends(host, pod_cidr)
    programs = [b.program for b in BACKENDS if b.name in report.missing]
    assert not report.missing, (
        f"{host.backend.get_hostname()} lacks {', '.join(programs)}: its "
        f"{', '.join(report.missing)} rules cannot be read (the lab's nodes ship iptables and nftables)")
    return report.offenders


def pod_nat_offenders_in(outputs: Mapping[str, str], pod_cidr: Network) -> list[Offender]:
    """The offenders in what the backends printed (backend name -> output), as read above."""
    offenders = []
    for backend in BACKENDS:
        if backend.name not in outputs or backend.version is None:
            continue
        if backend.version != pod_cidr.version:
            continue  # it never sees a pod's packet
        offenders += [Offender(backend.name, rule)
                      for rule in nat_rules_that_could_rewrite_pod_sources(outputs[backend.name], pod_cidr)]
    if NFTABLES in outputs:
        shown = {table: iptables_chains(outputs.get(name, "")) for table, name in IPTABLES_NFT_TABLES.items()}
        offenders += [Offender(NFTABLES, rule)
                      for rule in nft_rules_that_could_rewrite_pod_sources(json.loads(outputs[NFTABLES]), pod_cidr,
                                                                            shown)]
    return offenders


# -- iptables-save ------------------------------------------------------------------

def iptables_chains(save: str) -> dict[str, int]:
    """The chains an iptables-save listing of one table shows, with their number of rules."""
    chains: dict[str, int] = {}
    for line in save.splitlines():
        if line.startswith(":"):
            chains.setdefault(line[1:].split()[0], 0)
        elif line.startswith("-A "):
            name = line.split()[1]
            chains[name] = chains.get(name, 0) + 1
    return chains


def nat_rules_that_could_rewrite_pod_sources(nat_table: str, pod_cidr: Network) -> list[str]:
    """MASQUERADE/SNAT rules of an iptables-save listing whose source match could include a pod address."""
    offenders = []
    rules = [r for r in nat_table.splitlines() if r.startswith("-A ")]
    kube_chain = [r for r in rules if r.startswith("-A KUBE-POSTROUTING ")]
    kube_guarded = bool(kube_chain) and kube_chain[0] == KUBE_MASQ_GUARD
    for rule in rules:
        if not ("-j MASQUERADE" in rule or "-j SNAT" in rule):
            continue
        if kube_guarded and rule.startswith("-A KUBE-POSTROUTING "):
            continue  # reached by kube-proxy-marked packets only
        words = rule.split()
        if "-s" not in words:
            offenders.append(rule)  # no source match: applies to pod traffic too
            continue
        i = words.index("-s")
        negated = i > 0 and words[i - 1] == "!"
        if negated or ipaddress.ip_network(words[i + 1], strict=False).overlaps(pod_cidr):
            offenders.append(rule)
    return offenders


# -- nft -j list ruleset ------------------------------------------------------------

FAMILY_VERSIONS = {"ip": {4}, "ip6": {6}}  # inet (and any other family): either
PAYLOAD_PROTOCOL = {4: "ip", 6: "ip6"}
NFPROTO = {4: "ipv4", 6: "ipv6"}
SOURCE_NAT_XT_TARGETS = {"MASQUERADE", "SNAT"}


def nft_rules_that_could_rewrite_pod_sources(
    ruleset: Mapping[str, Any], pod_cidr: Network, shown_by_iptables: Mapping[tuple[str, str], Mapping[str, int]],
) -> list[str]:
    """The rules of `nft -j list ruleset` that could rewrite a pod's source address, leaving out
    the chains iptables-nft lists itself (`shown_by_iptables`: (family, table) -> chain -> rules)."""
    items = ruleset.get("nftables", [])
    sets = {(s["family"], s["table"], s["name"]): s.get("elem", []) for s in (i["set"] for i in items if "set" in i)}
    chains: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for item in items:
        if "chain" in item:
            chains.setdefault((item["chain"]["family"], item["chain"]["table"], item["chain"]["name"]), [])
        elif "rule" in item:
            rule = item["rule"]
            chains.setdefault((rule["family"], rule["table"], rule["chain"]), []).append(rule)
    offenders = []
    for (family, table, chain), rules in chains.items():
        if shown_by_iptables.get((family, table), {}).get(chain) == len(rules):
            continue  # iptables-nft's chain, whole in its listing: judged there
        if chain == "KUBE-POSTROUTING" and rules and is_kube_masq_guard(rules[0]):
            continue  # reached by kube-proxy-marked packets only
        for rule in rules:
            if nft_rule_could_rewrite_pod_sources(rule, pod_cidr, sets):
                offenders.append(f"table {family} {table} chain {chain}: {nft_rule_text(rule)}")
    return offenders


def is_kube_masq_guard(rule: Mapping[str, Any]) -> bool:
    """Whether an nft rule is kube-proxy's KUBE_MASQ_GUARD (counters aside)."""
    return [e for e in rule.get("expr", []) if "counter" not in e] == KUBE_MASQ_GUARD_NFT


def nft_rule_could_rewrite_pod_sources(rule: Mapping[str, Any], pod_cidr: Network, sets: Sets) -> bool:
    """Whether the rule reaches a source NAT statement through matches that could all match
    a pod's packet (the matches after the statement do not bind it)."""
    version = pod_cidr.version
    if version not in FAMILY_VERSIONS.get(rule["family"], {4, 6}):
        return False
    for expr in rule.get("expr", []):
        if is_source_nat(expr, version):
            return True  # every match before it can match a pod's packet
        match = expr.get("match")
        if match is None:
            continue
        left = match["left"]
        if isinstance(left, dict) and "payload" in left:
            protocol = left["payload"].get("protocol")
            if protocol in PAYLOAD_PROTOCOL.values() and protocol != PAYLOAD_PROTOCOL[version]:
                return False  # a match on the other IP version's header: never a pod's packet
            if protocol == PAYLOAD_PROTOCOL[version] and left["payload"].get("field") == "saddr" \
                    and match["op"] in ("==", "in"):
                sources = networks(match["right"], (rule["family"], rule["table"]), sets)
                if sources is not None and not any(s.overlaps(pod_cidr) for s in sources):
                    return False  # sources outside the pod range only
                # negated (!=) or unknown sources: could include a pod address
        if left == {"meta": {"key": "nfproto"}} and match["op"] == "==" and match["right"] in NFPROTO.values() \
                and match["right"] != NFPROTO[version]:
            return False  # the other IP version's packets only
    return False


def is_source_nat(expr: Mapping[str, Any], version: int) -> bool:
    """Whether an nft statement rewrites source addresses of packets of this IP version."""
    if "masquerade" in expr:
        return True
    if "snat" in expr:
        family = (expr["snat"] or {}).get("family")
        return family in (None, PAYLOAD_PROTOCOL[version])
    xt = expr.get("xt")
    return bool(xt) and xt.get("type") == "target" and xt.get("name") in SOURCE_NAT_XT_TARGETS


def networks(value: Any, table: tuple[str, str], sets: Sets) -> list[Network] | None:
    """The address ranges an nft match's right-hand side stands for; None if unknown."""
    found: list[Network] = []
    for item in _flatten(value, table, sets):
        if item is None:
            return None
        found.extend(item)
    return found


def _flatten(value: Any, table: tuple[str, str], sets: Sets) -> Iterator[list[Network] | None]:
    """The ranges of each part of an nft value (None: a part that is not an address)."""
    if isinstance(value, str) and value.startswith("@"):
        key = (*table, value[1:])
        if key not in sets:
            yield None
            return
        for elem in sets[key]:
            yield from _flatten(elem, table, sets)
    elif isinstance(value, str):
        try:
            yield [ipaddress.ip_network(value, strict=False)]
        except ValueError:
            yield None
    elif isinstance(value, dict) and "prefix" in value:
        yield [ipaddress.ip_network(f"{value['prefix']['addr']}/{value['prefix']['len']}", strict=False)]
    elif isinstance(value, dict) and "range" in value:
        first, last = (ipaddress.ip_address(a) for a in value["range"])
        yield list(ipaddress.summarize_address_range(first, last))
    elif isinstance(value, dict) and "set" in value:
        for elem in value["set"]:
            yield from _flatten(elem, table, sets)
    elif isinstance(value, dict) and "elem" in value:
        yield from _flatten(value["elem"]["val"], table, sets)
    else:
        yield None


def nft_rule_text(rule: Mapping[str, Any]) -> str:
    """A short nft-like text of a rule from nft's JSON (counters left out)."""
    return " ".join(_expr_text(e) for e in rule.get("expr", []) if "counter" not in e)


def _expr_text(expr: Mapping[str, Any]) -> str:
    """One expression of nft's JSON, nft-like."""
    ((key, value),) = expr.items()
    if key == "match":
        op = "" if value["op"] in ("==", "in") else f" {value['op']}"
        return f"{_value_text(value['left'])}{op} {_value_text(value['right'])}"
    if key == "xt":
        return f"xt {value['type']} {value['name']}"
    if key in ("jump", "goto"):
        return f"{key} {value['target']}"
    if key in ("snat", "dnat") and isinstance(value, dict) and "addr" in value:
        port = f":{_value_text(value['port'])}" if "port" in value else ""
        return f"{key} to {_value_text(value['addr'])}{port}"
    if value is None:
        return key
    return f"{key} {json.dumps(value, separators=(',', ':'))}"


def _value_text(value: Any) -> str:
    """One value of nft's JSON (a payload field, a prefix, a set ...), nft-like."""
    if isinstance(value, dict):
        if "payload" in value and "protocol" in value["payload"]:
            return f"{value['payload']['protocol']} {value['payload']['field']}"
        if "meta" in value:
            return f"meta {value['meta']['key']}"
        if "prefix" in value:
            return f"{value['prefix']['addr']}/{value['prefix']['len']}"
        if "range" in value:
            return "-".join(_value_text(v) for v in value["range"])
        if "set" in value:
            return "{ " + ", ".join(_value_text(v) for v in value["set"]) + " }"
        if "&" in value:
            return " & ".join(_value_text(v) for v in value["&"])
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, list):
        return "{ " + ", ".join(_value_text(v) for v in value) + " }"
    return str(value)
