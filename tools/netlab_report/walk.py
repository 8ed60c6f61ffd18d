"""The walk: one request's hops, built from walk-capture.json (roles/walk), as data
(walk.json), as a transcript (walk.txt) and drawn over the lab's diagram (walk.html).

The capture holds, per node, tcpdump's lines (`-i any -nn -tt`: time, interface,
direction, addresses) and xtables-monitor's TRACE lines for the one connection, and
conntrack's entry for it; for the client node also the route lookup to the pod
that answered. A hop is one place the first packet (the SYN) or the first answer
(the SYN-ACK) was seen, in order:

  pod        the client pod's eth0 (its address, its default route) / the pod that answers
  wire       a packet on an interface (veth, docker0, the lab interface), with its
             source and destination as they were there
  netfilter  the nat rules the packet matched on a node, in order (PREROUTING ->
             KUBE-SERVICES -> KUBE-SVC-* -> KUBE-SEP-* -> DNAT), and conntrack's entry
  route      the route lookup that sent it to the other node
  stop       where it was seen last, when it never reached the pod (a route missing)
  host/proxy from a node (walk_from=node): the node that sends, and docker-proxy on the
             other node, which takes the connection at the hostPort and opens its own to the pod
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from html import escape

from netlab_report.diagram import BAR, MARGIN, NODE_HEAD, PORT, ROUTE_ROW, Diagram

PACKET = re.compile(
    r"^(?P<time>\d+\.\d+) (?P<iface>\S+)\s+(?P<dir>In|Out|P|M|B|U)\s+IP (?P<src>[\d.]+)\.(?P<sport>\d+) > "
    r"(?P<dst>[\d.]+)\.(?P<dport>\d+): Flags \[(?P<flags>[^\]]*)\]")
TRACE = re.compile(r"^\s*TRACE: \d+ (?P<id>\w+) (?P<table>\w+):(?P<chain>[^:]+):(?P<kind>rule|policy|return):?"
                   r"(?:0x[0-9a-f]+:)?(?P<verdict>\S*)\s*(?P<rule>.*)$")
PACKET_LINE = re.compile(r"^PACKET: \d+ (?P<id>\w+) (?P<fields>.*)$")
CONNTRACK = re.compile(r"src=(?P<src>\S+) dst=(?P<dst>\S+) sport=(?P<sport>\d+) dport=(?P<dport>\d+) .*?"
                       r"src=(?P<rsrc>\S+) dst=(?P<rdst>\S+) sport=(?P<rsport>\d+) dport=(?P<rdport>\d+)")


class WalkError(Exception):
    """walk-capture.json cannot be read as a walk."""


@dataclass
class Packet:
    time: float
    iface: str
    direction: str  # tcpdump's: In, Out, P (sent by a bridge port's peer)
    src: str
    sport: int
    dst: str
    dport: int
    flags: str


@dataclass
class Rule:
    table: str
    chain: str
    verdict: str
    rule: str


@dataclass
class Hop:
    n: int
    direction: str  # request or reply
    node: str
    kind: str  # pod, host, wire, netfilter, route, proxy, stop
    where: str  # the interface, or the table / route
    text: str
    src: str = ""
    dst: str = ""
    details: list[str] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    via: str = ""  # a route hop's gateway


@dataclass
class Walk:
    to: str
    masquerade: bool  # Docker's ip-masq rule was on for the walk
    client: dict
    destination: dict
    target: dict
    source_port: int
    tries: int
    answer: str
    dnat: dict[str, str]  # node -> the DNAT target its rules chose ("" for none)
    stopped: dict[str, str]  # where the request was seen last, when it never reached the target ({} if it did)
    hops: list[Hop]
    lab_interfaces: dict[str, str]  # node -> the name of its lab interface

    def as_json(self) -> dict:
        return asdict(self)


def parse_packets(lines: list[str]) -> list[Packet]:
    out = []
    for line in lines:
        m = PACKET.match(line)
        if m:
            out.append(Packet(float(m["time"]), m["iface"], m["dir"], m["src"], int(m["sport"]),
                              m["dst"], int(m["dport"]), m["flags"]))
    return out


def parse_trace(lines: list[str]) -> list[tuple[str, list[Rule]]]:
    """xtables-monitor's lines as (the PACKET line's fields, the rules traced for it), in order."""
    out: list[tuple[str, list[Rule]]] = []
    for line in lines:
        if m := PACKET_LINE.match(line):
            out.append((m["fields"], []))
        elif (m := TRACE.match(line)) and out:
            rule = re.sub(r"^-4 -t \w+ -A \S+ ", "", m["rule"].strip())
            out[-1][1].append(Rule(m["table"], m["chain"], m["verdict"] or m["kind"].upper(), rule))
    return out


def first_packet_rules(trace: list[tuple[str, list[Rule]]], flags: str, table: str = "nat") -> list[Rule]:
    """The `table` rules traced for the first packet whose TCP flags are exactly `flags` (e.g. SYN)."""
    for fields, rules in trace:
        names = set(re.findall(r"\b(SYN|ACK|FIN|RST|PSH)\b", fields))
        if names == set(flags.split()):
            chosen = [r for r in rules if r.table == table]
            if chosen:
                return chosen
    return []


def dnat_target(rules: list[Rule]) -> str:
    for r in rules:
        if m := re.search(r"--to-destination (\S+)", r.rule):
            return m[1]
    return ""


def lab_interface(node: dict) -> str:
    """The interface whose packets go to or come from another node (not veth*, not docker0)."""
    names = [p.iface for p in parse_packets(node.get("packets", []))]
    others = [n for n in names if not n.startswith("veth") and n != "docker0"]
    return others[0] if others else "eth0"


def _is_syn(p: Packet) -> bool:
    return p.flags == "S"


def _is_syn_ack(p: Packet) -> bool:
    return p.flags == "S."


def _tuple(p: Packet) -> tuple[str, str]:
    return f"{p.src}:{p.sport}", f"{p.dst}:{p.dport}"


def _wire_text(p: Packet, node: str, lab_if: str) -> str:
    where = {"docker0": "the bridge docker0"}.get(p.iface, f"the lab interface {p.iface}" if p.iface == lab_if
                                                    else f"{p.iface}, the pod's veth on {node}")
    arrow = {"In": "in on", "Out": "out of", "P": "in on"}.get(p.direction, "on")
    src, dst = _tuple(p)
    return f"{arrow} {where}: {src} > {dst}"


POSTROUTING_CHAINS = ("POSTROUTING", "KUBE-POSTROUTING")


def syn_nat_rules(trace: list[tuple[str, list[Rule]]]) -> tuple[list[Rule], list[Rule]]:
    """The nat rules the first SYN matched: (on its way in - PREROUTING and kube-proxy's
    chains -, on its way out - POSTROUTING)."""
    rules = first_packet_rules(trace, "SYN")
    out = []
    for fields, traced in trace:  # POSTROUTING is traced as a packet block of its own
        if set(re.findall(r"\b(SYN|ACK|FIN|RST|PSH)\b", fields)) == {"SYN"}:
            post = [r for r in traced if r.table == "nat" and r.chain in POSTROUTING_CHAINS]
            if post:
                out = post
                break
    return [r for r in rules if r.chain not in POSTROUTING_CHAINS], out


def masqueraded(rules: list[Rule]) -> bool:
    return any("-j MASQUERADE" in r.rule for r in rules)


def first_per_interface(packets: list[Packet]) -> list[Packet]:
    """Each interface's first packet only (a retransmitted SYN is not another hop)."""
    seen, out = set(), []
    for p in packets:
        if (p.iface, p.direction) not in seen:
            seen.add((p.iface, p.direction))
            out.append(p)
    return out


def build(capture: dict) -> Walk:
    if capture.get("from") == "node":
        return build_from_node(capture)
    try:
        client, target, nodes = capture["client"], capture["target"], capture["nodes"]
        sport = int(capture["source_port"])
    except (KeyError, TypeError, ValueError) as exc:
        raise WalkError(f"not a walk capture (missing {exc})") from exc
    cnode, tnode = client["node"], target["node"]
    if cnode not in nodes or tnode not in nodes:
        raise WalkError(f"the capture has no node {cnode if cnode not in nodes else tnode}")
    lab_ifs = {name: lab_interface(n) for name, n in nodes.items()}
    packets = {name: parse_packets(n.get("packets", [])) for name, n in nodes.items()}
    traces = {name: parse_trace(n.get("trace", [])) for name, n in nodes.items()}
    nat = {name: syn_nat_rules(t) for name, t in traces.items()}
    dnat = {name: dnat_target(rules[0]) for name, rules in nat.items() if packets[name]}
    destination = f"{capture['destination']['address']}:{capture['destination']['port']}"

    hops: list[Hop] = []

    def add(direction: str, node: str, kind: str, where: str, text: str, **kw) -> None:
        hops.append(Hop(len(hops) + 1, direction, node, kind, where, text, **kw))

    gateway = next((r.get("gateway", "") for r in client.get("routes", []) if r.get("dst") == "default"), "")
    add("request", cnode, "pod", client["pod"],
        f"the client pod {client['pod']} sends from {client['ip']}:{sport} to {destination}",
        src=f"{client['ip']}:{sport}", dst=destination,
        details=[f"its eth0 {client['ip']}, default route via {gateway} (docker0 on {cnode})",
                 f"its eth0's peer on {cnode}: {client.get('veth', '?')}"])

    stopped: dict[str, str] = {}
    for direction, path, pick in (("request", [cnode, tnode], _is_syn), ("reply", [tnode, cnode], _is_syn_ack)):
        for node in path:
            seen = first_per_interface([p for p in packets[node] if pick(p)])
            for i, p in enumerate(seen):
                if direction == "request" and p.iface == lab_ifs[node] and p.direction == "Out":
                    route = (nodes[node].get("route") or [{}])[0]
                    via = route.get("gateway", "")
                    why = (f"a static pod route to {tnode}" if via == nodes[tnode].get("lab_ip")
                           else f"not {tnode}'s lab IP {nodes[tnode].get('lab_ip', '?')}: no pod route to it")
                    add(direction, node, "route", "route",
                        f"{node} routes {p.dst} via {via or '?'} dev {route.get('dev', '?')} ({why})",
                        details=[json.dumps(route, sort_keys=True)], via=via)
                    if masqueraded(nat[node][1]):
                        add(direction, node, "netfilter", "masquerade",
                            f"{node}'s nat POSTROUTING: MASQUERADE, the source becomes {p.src}:{p.sport}, "
                            "its own lab address (Docker's default model, ip-masq)", rules=nat[node][1])
                src, dst = _tuple(p)
                add(direction, node, "wire", p.iface, _wire_text(p, node, lab_ifs[node]), src=src, dst=dst)
                if direction == "request" and i == 0:
                    chose = dnat.get(node, "")
                    text = (f"{node}'s nat rules: DNAT to {chose}" if chose
                            else f"{node}'s nat rules: no DNAT (the destination is already a pod)")
                    add(direction, node, "netfilter", "nat", text,
                        rules=nat[node][0], details=nodes[node].get("conntrack", []))
                if direction == "reply" and node == cnode and i == 0 and (dnat.get(node) or masqueraded(nat[node][1])):
                    entry = CONNTRACK.search(" ".join(nodes[node].get("conntrack", [])))
                    undo = (f"conntrack turns the answer from {entry['rsrc']}:{entry['rsport']} to "
                            f"{entry['rdst']}:{entry['rdport']} back into {entry['dst']}:{entry['dport']} to "
                            f"{entry['src']}:{entry['sport']}" if entry else "conntrack undoes the NAT")
                    add(direction, node, "netfilter", "conntrack", undo, details=nodes[node].get("conntrack", []))
            if direction == "request" and node == tnode and not seen:
                last = hops[-1]
                stopped = {"node": last.node, "where": last.where}
                add(direction, last.node, "stop", last.where,
                    f"no node sees the packet after {last.node}'s {last.where}: it never reaches {tnode}")
                break
        if stopped:
            break
        if direction == "request":
            add(direction, tnode, "pod", target["pod"],
                f"the pod {target['pod']} on {tnode} gets it at {target['ip']}:{target['port']}",
                dst=f"{target['ip']}:{target['port']}",
                details=[f"its eth0 {target['ip']}, its peer on {tnode}: {target.get('veth', '?')}"])
    if not stopped:
        add("reply", cnode, "pod", client["pod"], f"the client pod reads the answer: {capture.get('answer', '')[:120]}")
    return Walk(capture.get("to", "service"), bool(capture.get("masquerade", False)), client, capture["destination"],
                target, sport, int(capture.get("tries", 1)), capture.get("answer", ""), dnat, stopped, hops, lab_ifs)


def build_from_node(capture: dict) -> Walk:
    """A node to a pod's hostPort on another node: two connections, the node's to the
    other node's lab IP, where docker-proxy takes it, and docker-proxy's own to the pod."""
    try:
        client, target, nodes = capture["client"], capture["target"], capture["nodes"]
        sport = int(capture["source_port"])
        cnode, tnode = client["node"], target["node"]
        lab_ifs = {name: lab_interface(n) for name, n in nodes.items()}
        packets = {name: parse_packets(n.get("packets", [])) for name, n in nodes.items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise WalkError(f"not a walk capture (missing {exc})") from exc
    nat = {name: syn_nat_rules(parse_trace(n.get("trace", []))) for name, n in nodes.items()}
    dnat = {name: dnat_target(rules[0]) for name, rules in nat.items() if packets[name]}
    destination = f"{capture['destination']['address']}:{capture['destination']['port']}"
    me = (client["ip"], sport)

    def first_leg(p: Packet) -> bool:
        return (p.src, p.sport) == me or (p.dst, p.dport) == me

    hops: list[Hop] = []

    def add(direction: str, node: str, kind: str, where: str, text: str, **kw) -> None:
        hops.append(Hop(len(hops) + 1, direction, node, kind, where, text, **kw))

    def wires(node: str, pick, leg) -> None:
        for p in first_per_interface([p for p in packets[node] if pick(p) and leg(p)]):
            src, dst = _tuple(p)
            add(direction, node, "wire", p.iface, _wire_text(p, node, lab_ifs[node]), src=src, dst=dst)

    def second_leg(p: Packet) -> bool:
        return not first_leg(p)

    direction = "request"
    add(direction, cnode, "host", cnode, f"{cnode} itself (curl) sends from {client['ip']}:{sport} to {destination}, "
        f"the hostPort of {target['pod']} at {tnode}'s lab IP", src=f"{client['ip']}:{sport}", dst=destination)
    add(direction, cnode, "netfilter", "nat", f"{cnode}'s nat rules: no DNAT (nothing of kube-proxy's matches)",
        rules=nat[cnode][0], details=nodes[cnode].get("conntrack", []))
    route = (nodes[cnode].get("route") or [{}])[0]
    add(direction, cnode, "route", "route", f"{cnode} reaches {route.get('dst', '?')} on the lab network itself, "
        f"dev {route.get('dev', '?')} (no gateway)", details=[json.dumps(route, sort_keys=True)],
        via=route.get("gateway", ""))
    wires(cnode, _is_syn, first_leg)
    first_tn = len(hops)
    wires(tnode, _is_syn, first_leg)
    if len(hops) > first_tn:
        hops.insert(first_tn + 1, Hop(0, direction, tnode, "netfilter", "nat",
                                      f"{tnode}'s nat rules: no DNAT (the node's own address and port)",
                                      rules=nat[tnode][0], details=nodes[tnode].get("conntrack", [])))
    proxied = [p for p in packets[tnode] if _is_syn(p) and second_leg(p)]
    listener = capture.get("listener", "")
    add(direction, tnode, "proxy", "docker-proxy",
        f"docker-proxy on {tnode} takes the connection on *:{capture['destination']['port']} and opens its own"
        + (f", from {proxied[0].src}:{proxied[0].sport} to {proxied[0].dst}:{proxied[0].dport}" if proxied else ""),
        details=[listener] if listener else [])
    wires(tnode, _is_syn, second_leg)
    add(direction, tnode, "pod", target["pod"], f"the pod {target['pod']} on {tnode} gets it at "
        f"{target['ip']}:{target['port']}, from docker-proxy", dst=f"{target['ip']}:{target['port']}")
    direction = "reply"
    wires(tnode, _is_syn_ack, second_leg)
    add(direction, tnode, "proxy", "docker-proxy", "docker-proxy hands the answer to the first connection")
    wires(tnode, _is_syn_ack, first_leg)
    wires(cnode, _is_syn_ack, first_leg)
    add(direction, cnode, "host", cnode, f"{cnode} reads the answer: {capture.get('answer', '')[:120]}")
    for i, hop in enumerate(hops, 1):
        hop.n = i
    return Walk("hostport", False, client, capture["destination"], target, sport, int(capture.get("tries", 1)),
                capture.get("answer", ""), dnat, {}, hops, lab_ifs)


# -- the transcript --------------------------------------------------------------------

def client_label(walk: Walk) -> str:
    return f"{walk.client['pod']} on {walk.client['node']}" if walk.client.get("pod") else walk.client["node"]


def render_text(walk: Walk) -> str:
    to = {"service": f"the Service {walk.destination.get('service', '')}",
          "hostport": "a pod's hostPort, through docker-proxy"}.get(walk.to, "a pod, no Service")
    if walk.masquerade:
        to += ", Docker's ip-masq on"
    lines = [f"# One request, hop by hop: {client_label(walk)} -> "
             f"{walk.destination['address']}:{walk.destination['port']} ({to}),"
             f" answered by {walk.target['pod']} on {walk.target['node']}",
             f"# the connection: tcp {walk.client['ip']}:{walk.source_port} -> "
             f"{walk.destination['address']}:{walk.destination['port']} (try {walk.tries})", ""]
    for hop in walk.hops:
        lines.append(f"{hop.n:2}. [{hop.direction}] {hop.node}: {hop.text}")
        for r in hop.rules:
            lines.append(f"      {r.table} {r.chain:28} {r.verdict:10} {r.rule}")
        for d in hop.details:
            lines.append(f"      {d}")
    return "\n".join(lines) + "\n"


# -- the drawing -------------------------------------------------------------------------

WALK_STYLE = """
.walk .path { fill: none; stroke-width: 3; stroke-linejoin: round; opacity: .85; }
.walk .request { stroke: #c2255c; }
.walk .reply { stroke: #1971c2; stroke-dasharray: 6 4; }
.walk .hop circle { stroke: #fff; stroke-width: 1.5; }
.walk .hop.request circle { fill: #c2255c; }
.walk .hop.reply circle { fill: #1971c2; }
.walk .hop text { fill: #fff; font-size: 10px; font-weight: bold; }
"""


def hop_points(walk: Walk, diagram: Diagram) -> list[tuple[Hop, float, float]]:
    """Where each hop sits on the lab's drawing (rendered first: its boxes are known)."""
    points, used = [], {}
    for hop in walk.hops:
        box = diagram.node_boxes.get(hop.node)
        if box is None:
            continue
        namespace = walk.client.get("namespace", "default")
        if hop.kind == "host":
            x, y = box.x + box.w / 2 - 40, box.bottom - PORT - 24
        elif hop.kind == "proxy":
            x, y = box.x + box.w - 26, box.y + NODE_HEAD + BAR + 4
        elif hop.kind == "pod" or (hop.kind == "wire" and hop.where.startswith("veth")):
            pod = diagram.pod_boxes.get((namespace, hop.where)) or diagram.pod_boxes.get(
                (namespace, walk.client["pod"] if hop.node == walk.client["node"] else walk.target["pod"]))
            x, y = (pod.x - 14, pod.y + 20) if hop.kind == "wire" and pod else \
                   ((pod.x + pod.w - 30, pod.y + 14) if pod else (box.x + box.w / 2, box.y + 60))
        elif hop.kind == "wire" and hop.where == "docker0":
            x, y = box.x + box.w * 0.35, box.y + NODE_HEAD + 12
        elif hop.kind == "netfilter":
            x, y = box.x + box.w - 26, box.y + NODE_HEAD + 12
        elif hop.kind == "route":  # on the static route to the answering node's pods
            node = next(n for n in diagram.lab.nodes if n.name == hop.node)
            row = next((i for i, r in enumerate(node.routes) if r.via == hop.via), 0) if node.routes else 0
            x, y = box.x + box.w - 26, box.y + diagram.layout.body_h + 20 + (row + 1) * ROUTE_ROW - 4
        else:  # the lab interface
            x, y = box.x + box.w / 2 + (18 if hop.direction == "reply" else -18), box.bottom - PORT / 2 - 10
        k = (round(x), round(y))
        shift = used.get(k, 0)
        used[k] = shift + 1
        points.append((hop, x + shift * 13, y + shift * 13))
    return points


def render_overlay(walk: Walk, diagram: Diagram) -> str:
    points = hop_points(walk, diagram)
    parts = [f"<style>{WALK_STYLE}</style>", '<g class="walk">']
    for direction in ("request", "reply"):
        pts: list[tuple[float, float]] = []
        last = None
        for h, x, y in points:
            if h.direction != direction:
                continue
            if last and last[0].node != h.node:  # across the lab network: down to the bus and along it
                pts += [(last[1], diagram.bus_y), (x, diagram.bus_y)]
            pts.append((x, y))
            last = (h, x)
        if len(pts) > 1:
            d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            parts.append(f'<path class="path {direction}" d="{d}"/>')
    for hop, x, y in points:
        parts.append(f'<g class="hop {hop.direction}" data-hop="{hop.n}" data-node="{escape(hop.node)}" '
                     f'data-kind="{hop.kind}" data-where="{escape(hop.where)}">'
                     f'<title>{hop.n}. {escape(hop.text)}</title>'
                     f'<circle cx="{x:.1f}" cy="{y:.1f}" r="9"/>'
                     f'<text x="{x:.1f}" y="{y + 3.5:.1f}" text-anchor="middle">{hop.n}</text></g>')
    parts.append("</g>")
    return "".join(parts)


def render_svg(walk: Walk, diagram: Diagram) -> str:
    svg = diagram.render()
    return svg.replace("</svg>", render_overlay(walk, diagram) + "</svg>")


def render_html(walk: Walk, svg: str) -> str:
    rows = "".join(
        f"<tr class=\"{h.direction}\"><td>{h.n}</td><td>{h.direction}</td><td>{escape(h.node)}</td>"
        f"<td>{escape(h.where)}</td><td>{escape(h.text)}"
        + ("<pre>" + escape("\n".join(f"{r.table} {r.chain} {r.verdict} {r.rule}" for r in h.rules)) + "</pre>"
           if h.rules else "")
        + "</td></tr>" for h in walk.hops)
    title = (f"{escape(client_label(walk))} → "
             f"{escape(walk.destination['address'])}:{walk.destination['port']} → "
             f"{escape(walk.target['pod'])} on {escape(walk.target['node'])}")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>k8s-netlab walk</title>
<style>body{{font-family:sans-serif;margin:{MARGIN}px;color:#212529}} table{{border-collapse:collapse}}
td{{border-top:1px solid #dee2e6;padding:4px 8px;vertical-align:top;font-size:13px}}
tr.reply td{{color:#1864ab}} pre{{margin:4px 0;font-size:11px;white-space:pre-wrap}}</style></head>
<body><h1>One request, hop by hop</h1>
<p>{title}: tcp {escape(walk.client['ip'])}:{walk.source_port}, captured on every node
(tcpdump on the lab's interfaces, iptables TRACE, conntrack). Red: the request's first packet;
blue, dashed: the answer's.</p>
<figure class="diagram">{svg}</figure>
<table><tr><th>#</th><th>way</th><th>node</th><th>where</th><th>what</th></tr>{rows}</table>
</body></html>
"""


def hops_inside(svg: str) -> tuple[int, int]:
    """(hops drawn, hops whose circle lies outside the SVG's viewBox)."""
    m = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg)
    width, height = (float(m[1]), float(m[2])) if m else (0, 0)
    circles = re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="9"/>', svg)
    outside = sum(1 for x, y in circles if not (9 <= float(x) <= width - 9 and 9 <= float(y) <= height - 9))
    return len(circles), outside

