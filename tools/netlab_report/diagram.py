"""The diagram of the lab as one inline SVG: the lab network as a bus, every node with
its lab interface, docker0 and static pod routes, every pod with its pause and app
containers, every Service with arrows to its endpoints, and a legend. Positions are
fixed (no transforms), sized from the labels in a monospace font."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from netlab_report.model import Container, Endpoint, Lab, Node, Pod, Service, endpoint_note, is_node_ip

MONO = 0.61  # advance of a DejaVu Sans Mono glyph, in em (0.602), with a margin
MARGIN = 20
POD_HEAD = 40  # pod name and address lines
ROW = 22  # a container row
ROW_GAP = 4
POD_GAP = 10
TRUNK = 34  # room left of the pods for the docker0 trunk and its links
NODE_HEAD = 36
BAR = 24  # the docker0 bar
ROUTE_ROW = 17
PORT = 24  # the lab interface box at the bottom of a node
SERVICES_CAPTION = "Services: cluster IP → endpoints (kube-proxy DNAT)"
PALETTE = ("#c2255c", "#1971c2", "#2b8a3e", "#e67700", "#6741d9", "#0c8599", "#5c940d", "#d6336c")

SVG_STYLE = """
.lab text { font-family: "DejaVu Sans Mono", "Liberation Mono", ui-monospace, monospace; font-size: 12px; fill: #212529; }
.lab .title { font-size: 16px; font-weight: bold; }
.lab .strong { font-weight: bold; }
.lab .small { font-size: 11px; fill: #495057; }
.lab .muted { font-size: 11px; fill: #868e96; }
.lab .badge text { font-size: 11px; fill: #fff; font-weight: bold; }
.lab .node > rect.box { fill: #f8f9fa; stroke: #495057; stroke-width: 1.5; }
.lab .badge rect { fill: #6741d9; }
.lab .docker0 rect { fill: #ffe8cc; stroke: #e8590c; }
.lab .docker0 text { fill: #d9480f; font-weight: bold; }
.lab .link { stroke: #e8590c; stroke-width: 1.5; fill: none; }
.lab .pod > rect.box { fill: #e7f5ff; stroke: #1c7ed6; stroke-width: 1.5; }
.lab .pause > rect.box { fill: #fff3bf; stroke: #f08c00; }
.lab .app > rect.box { fill: #d3f9d8; stroke: #2f9e44; }
.lab .other > rect.box { fill: #f1f3f5; stroke: #868e96; stroke-dasharray: 4 3; }
.lab .route text { fill: #5f3dc4; }
.lab .iface > rect.box { fill: #343a40; }
.lab .iface text { fill: #fff; font-weight: bold; }
.lab .bus { stroke: #343a40; stroke-width: 6; stroke-linecap: round; }
.lab .uplink { stroke: #343a40; stroke-width: 3; }
.lab .service > rect.box { fill: #fff; stroke-width: 2; }
.lab .service path { fill: none; stroke-width: 1.6; }
"""  # noqa: E501 - written into the page as it is


def text_width(text: str, size: float = 12) -> float:
    return len(text) * size * MONO


def svg_text(x: float, y: float, text: str, cls: str = "", anchor: str = "") -> str:
    if not text:
        return ""
    attrs = f' class="{cls}"' if cls else ""
    attrs += f' text-anchor="{anchor}"' if anchor else ""
    return f'<text x="{x:.1f}" y="{y:.1f}"{attrs}>{escape(text)}</text>'


def svg_rect(x: float, y: float, w: float, h: float, cls: str = "box", rx: float = 4, extra: str = "") -> str:
    return f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{rx}"{extra}/>'


def data_attrs(**attrs: str) -> str:
    return "".join(f' data-{k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())


@dataclass
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h


@dataclass
class Layout:
    """Sizes shared by every node and pod, computed from the content."""

    pod_w: float
    node_w: float
    gutter: float
    body_h: float  # from the top of a node to its routes
    node_h: float
    service_w: dict[str, float]
    service_h: float
    width: float


def container_texts(c: Container) -> tuple[str, str]:
    """The left and right labels of a container row."""
    if c.kind == "pause":
        return f"pause {c.short_id}", " ".join(c.ports)
    if c.kind == "app":
        mode, _, target = c.network_mode.partition(":")
        return c.name, f"{mode}:{target[:12]}" if target else mode
    return c.name, " ".join(x for x in (c.ip, *c.ports) if x)


def pod_address_line(pod: Pod) -> str:
    namespace = pod.namespace if pod.namespace != "default" else ""
    phase = pod.phase if pod.phase != "Running" else ""
    extras = [x for x in (namespace, phase) if x]
    return "  ".join([pod.ip or "no IP", *extras])


def pod_width(pod: Pod) -> float:
    rows = [16 + text_width(left) + 16 + text_width(right, 11)
            for left, right in map(container_texts, pod.containers)]
    return max([text_width(pod.name) + 16, text_width(pod_address_line(pod)) + 16, *[r + 16 for r in rows]])


def pod_height(pod: Pod) -> float:
    return POD_HEAD + max(1, len(pod.containers)) * (ROW + ROW_GAP) + 6


def node_body_height(node: Node) -> float:
    stack = sum(pod_height(p) + POD_GAP for p in node.pods) + len(node.others) * (ROW + ROW_GAP + 2)
    return NODE_HEAD + BAR + 14 + (stack or 30) + 8


def node_text_width(node: Node, pod_w: float) -> float:
    header = text_width(node.name, 16) + (text_width("control plane", 11) + 30 if node.control_plane else 0)
    routes = [text_width(f"{r.dst} via {r.via}") + text_width(f"dev {r.dev}", 11) + 12 for r in node.routes]
    others = [TRUNK + 16 + text_width(left) + 16 + text_width(right, 11)
              for left, right in map(container_texts, node.others)]
    iface = text_width(f"{node.iface} {node.lab_ip}") + 24
    bar = text_width(f"docker0 {node.bip}") + 20
    return max([header + 24, *[r + 24 for r in routes], *[o + 14 for o in others], iface + 24, bar + 14,
                TRUNK + pod_w + 14])


def service_width(svc: Service, lab: Lab) -> float:
    lines = [text_width(svc.name) + text_width(svc.namespace, 11) + 34, text_width(svc.address) + 20]
    lines += [28 + text_width(e.label) + 12 + text_width(endpoint_note(e, lab), 11) + 10
              for e in svc.endpoints]
    return max([170, *lines])


def service_height(svc: Service) -> float:
    return 52 + max(1, len(svc.endpoints)) * 16 + 6


def compute_layout(lab: Lab) -> Layout:
    pod_w = max([250, *[pod_width(p) for n in lab.nodes for p in n.pods]])
    node_w = max([300, *[node_text_width(n, pod_w) for n in lab.nodes]])
    gutter = 24 + len(lab.services) * 8
    body_h = max([node_body_height(n) for n in lab.nodes] or [NODE_HEAD + BAR + 44])
    routes = max([len(n.routes) for n in lab.nodes] or [0])
    node_h = body_h + 20 + max(1, routes) * ROUTE_ROW + 12 + PORT + 12
    widths = {s.name + "/" + s.namespace: service_width(s, lab) for s in lab.services}
    services_row = sum(widths.values()) + 24 * max(0, len(widths) - 1)
    width = max(len(lab.nodes) * (node_w + gutter) - 8, services_row, legend_width(), 400) + 2 * MARGIN
    return Layout(pod_w, node_w, gutter, body_h, node_h, widths,
                  max([service_height(s) for s in lab.services] or [0]), width)


class Diagram:
    """The lab as an SVG picture; fixed positions, no transforms, so getBBox() is in viewBox units."""

    def __init__(self, lab: Lab):
        self.lab = lab
        self.layout = compute_layout(lab)
        self.services_y = MARGIN + 18
        self.band_y = self.services_y + self.layout.service_h + 12
        self.nodes_y = self.band_y + 16 + len(lab.services) * 8 + 8
        self.bus_y = self.nodes_y + self.layout.node_h + 36
        self.height = self.bus_y + 80
        self.pod_boxes: dict[tuple[str, str], Box] = {}
        self.node_boxes: dict[str, Box] = {}

    def render(self) -> str:
        w, h = self.layout.width, self.height
        step = self.layout.node_w + self.layout.gutter
        nodes = [self.node(n, MARGIN + i * step) for i, n in enumerate(self.lab.nodes)]
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="lab" width="{w:.0f}" height="{h:.0f}" '
            f'viewBox="0 0 {w:.0f} {h:.0f}" role="img" aria-label="Diagram of the lab">',
            f"<style>{SVG_STYLE}</style>",
            self.markers(),
            svg_text(MARGIN, MARGIN + 4, SERVICES_CAPTION if self.lab.services else "", "small"),
            self.bus(),
            *nodes,
            *self.services(),
            self.legend(),
            "</svg>",
        ]
        return "\n".join(parts)

    def markers(self) -> str:
        markers = [
            f'<marker id="lab-arrow-{i}" viewBox="0 0 8 8" refX="7.5" refY="4" '
            'markerWidth="7" markerHeight="7" '
            f'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="{color}"/></marker>'
            for i, color in enumerate(PALETTE)
        ]
        return "<defs>" + "".join(markers) + "</defs>"

    # -- the lab network and the nodes

    def bus(self) -> str:
        label = f"lab network {self.lab.lab_network}" if self.lab.lab_network else "lab network"
        x1, x2 = MARGIN, self.layout.width - MARGIN
        return (f'<g class="lab-network" data-cidr="{escape(self.lab.lab_network)}">'
                f'<line class="bus" x1="{x1}" y1="{self.bus_y}" x2="{x2:.1f}" y2="{self.bus_y}"/>'
                + svg_text(x1, self.bus_y + 24, label, "strong") + "</g>")

    def node(self, node: Node, x: float) -> str:
        lay, y = self.layout, self.nodes_y
        box = Box(x, y, lay.node_w, lay.node_h)
        self.node_boxes[node.name] = box
        parts = [f'<g class="node"{data_attrs(name=node.name, lab_ip=node.lab_ip, bip=node.bip)}>',
                 svg_rect(x, y, box.w, box.h, rx=8), svg_text(x + 12, y + 24, node.name, "title")]
        if node.control_plane:
            parts.append(self.badge(x + 24 + text_width(node.name, 16), y + 10))
        parts.append(f'<g class="docker0">{svg_rect(x + 10, y + NODE_HEAD, box.w - 20, BAR, "box", 3)}'
                     + svg_text(x + 20, y + NODE_HEAD + 16, f"docker0 {node.bip or '?'}") + "</g>")
        parts.extend(self.node_members(node, x + TRUNK, y + NODE_HEAD + BAR + 14))
        parts.extend(self.routes(node, x + 12, y + lay.body_h + 20))
        parts.append(self.interface(node, box))
        parts.append("</g>")
        return "\n".join(parts)

    def badge(self, x: float, y: float) -> str:
        w = text_width("control plane", 11) + 14
        return (f'<g class="badge">{svg_rect(x, y, w, 18, "box", 9)}'
                + svg_text(x + w / 2, y + 13, "control plane", anchor="middle") + "</g>")

    def node_members(self, node: Node, x: float, y: float) -> list[str]:
        """The node's pods and other containers, stacked and linked to docker0."""
        parts, links, top = [], [], y
        for pod in node.pods:
            parts.append(self.pod(pod, node, x, y))
            links.append(y + 20)
            y += pod_height(pod) + POD_GAP
        for c in node.others:
            parts.append(self.container(c, x, y, min(self.layout.pod_w, self.layout.node_w - TRUNK - 14)))
            links.append(y + ROW / 2)
            y += ROW + ROW_GAP + 2
        if not links:
            return [svg_text(x, top + 18, "no pods", "muted")]
        trunk = x - 14
        path = f"M{trunk},{top - 14} V{links[-1]} " + " ".join(f"M{trunk},{ly} H{x}" for ly in links)
        return [f'<path class="link" d="{path}"/>', *parts]

    def pod(self, pod: Pod, node: Node, x: float, y: float) -> str:
        w, h = self.layout.pod_w, pod_height(pod)
        self.pod_boxes[pod.key] = Box(x, y, w, h)
        attrs = data_attrs(name=pod.name, namespace=pod.namespace, ip=pod.ip, node=node.name)
        parts = [f'<g class="pod"{attrs}>', svg_rect(x, y, w, h, rx=6),
                 svg_text(x + 8, y + 16, pod.name, "strong"), svg_text(x + 8, y + 31, pod_address_line(pod))]
        row_y = y + POD_HEAD
        for c in pod.containers:
            parts.append(self.container(c, x + 8, row_y, w - 16))
            row_y += ROW + ROW_GAP
        if not pod.containers:
            parts.append(svg_text(x + 8, row_y + 15, "no containers observed", "muted"))
        parts.append("</g>")
        return "".join(parts)

    def container(self, c: Container, x: float, y: float, w: float) -> str:
        left, right = container_texts(c)
        attrs = data_attrs(name=c.name, id=c.short_id)
        return (f'<g class="container {c.kind}"{attrs}>{svg_rect(x, y, w, ROW, rx=3)}'
                + svg_text(x + 8, y + 15, left) + svg_text(x + w - 8, y + 15, right, "small", "end")
                + "</g>")

    def routes(self, node: Node, x: float, y: float) -> list[str]:
        parts = [svg_text(x, y, "static routes", "muted")]
        for i, r in enumerate(node.routes):
            ry = y + (i + 1) * ROUTE_ROW
            attrs = data_attrs(dst=r.dst, via=r.via, node=node.name)
            dev = svg_text(x + text_width(f"{r.dst} via {r.via}") + 10, ry, r.dev and f"dev {r.dev}", "muted")
            parts.append(f'<g class="route"{attrs}>' + svg_text(x, ry, f"{r.dst} via {r.via}") + dev + "</g>")
        if not node.routes:
            parts.append(svg_text(x, y + ROUTE_ROW, "none", "muted"))
        return parts

    def interface(self, node: Node, box: Box) -> str:
        label = " ".join(x for x in (node.iface, node.lab_ip) if x) or "lab interface ?"
        w = text_width(label) + 24
        x, y = box.x + (box.w - w) / 2, box.bottom - PORT - 10
        return (f'<line class="uplink" x1="{box.x + box.w / 2:.1f}" y1="{box.bottom}" '
                f'x2="{box.x + box.w / 2:.1f}" y2="{self.bus_y}"/>'
                f'<g class="iface"{data_attrs(name=node.iface)}>{svg_rect(x, y, w, PORT, rx=4)}'
                + svg_text(x + w / 2, y + 16, label, anchor="middle") + "</g>")

    # -- the Services

    def services(self) -> list[str]:
        lay = self.layout
        widths = [lay.service_w[s.name + "/" + s.namespace] for s in self.lab.services]
        total = sum(widths)
        free = lay.width - 2 * MARGIN - total
        gap = free / max(1, len(widths)) if free > 0 else 24
        x = MARGIN + (gap / 2 if free > 0 else 0)
        parts = []
        for i, (svc, w) in enumerate(zip(self.lab.services, widths, strict=True)):
            parts.append(self.service(svc, i, Box(x, self.services_y, w, service_height(svc))))
            x += w + gap
        return parts

    def service(self, svc: Service, index: int, box: Box) -> str:
        color = PALETTE[index % len(PALETTE)]
        attrs = data_attrs(name=svc.name, namespace=svc.namespace, ip=svc.cluster_ip)
        parts = [f'<g class="service"{attrs}>', *self.service_lines(svc, index, box, color),
                 svg_rect(box.x, box.y, box.w, box.h, rx=6, extra=f' style="stroke:{color}"'),
                 svg_text(box.x + 10, box.y + 17, svc.name, "strong"),
                 svg_text(box.right - 10, box.y + 17, svc.namespace, "muted", "end"),
                 svg_text(box.x + 10, box.y + 34, svc.address)]
        for i, ep in enumerate(svc.endpoints):
            ey = box.y + 52 + i * 16 + 10
            parts.append(f'<g class="endpoint"{data_attrs(ip=ep.ip)}>'
                         f'<circle cx="{box.x + 16:.1f}" cy="{ey - 4:.1f}" r="3.5" fill="{color}"/>'
                         + svg_text(box.x + 26, ey, ep.label, "" if ep.ready else "muted")
                         + svg_text(box.right - 10, ey, endpoint_note(ep, self.lab), "muted", "end") + "</g>")
        if not svc.endpoints:
            parts.append(svg_text(box.x + 10, box.y + 62, "no endpoints", "muted"))
        parts.append("</g>")
        return "\n".join(parts)

    def service_lines(self, svc: Service, index: int, box: Box, color: str) -> list[str]:
        """Orthogonal lines: down to the service's track, across, down the gutter, into the target."""
        track = self.band_y + 8 + index * 8
        paths = []
        for ep in svc.endpoints:
            target = self.endpoint_target(ep, index)
            if target is None:
                continue
            node_box, tx, ty = target
            gx = node_box.right + 10 + index * 8
            d = f"M{box.x + box.w / 2:.1f},{box.bottom} V{track} H{gx:.1f} V{ty:.1f} H{tx:.1f}"
            marker = f"url(#lab-arrow-{index % len(PALETTE)})"
            paths.append(f'<path d="{d}" stroke="{color}" marker-end="{marker}"/>')
        return paths

    def endpoint_target(self, ep: Endpoint, index: int) -> tuple[Box, float, float] | None:
        """The node box, and the point on a pod's (or a node's) right edge the arrow ends at."""
        pod = self.pod_for(ep)
        if pod is not None:
            box = self.pod_boxes[pod.key]
            return self.node_boxes[pod.node], box.right, min(box.y + 12 + index * 6, box.bottom - 6)
        for node in self.lab.nodes:
            if ep.ip and ep.ip == node.lab_ip:
                box = self.node_boxes[node.name]
                return box, box.right, box.y + 14 + index * 4
        return None

    def pod_for(self, ep: Endpoint) -> Pod | None:
        drawn = [p for n in self.lab.nodes for p in n.pods]
        by_ref = [p for p in drawn if ep.pod and p.key == ep.pod]
        by_ip = [p for p in drawn if ep.ip and p.ip == ep.ip and not is_node_ip(p.ip, self.lab)]
        return (by_ref or by_ip or [None])[0]

    # -- the legend

    def legend(self) -> str:
        x, y = MARGIN, self.bus_y + 48
        parts = ['<g class="legend">']
        for label, fill, stroke in LEGEND:
            parts.append(svg_rect(x, y - 10, 14, 12, "swatch", 2, f' style="fill:{fill};stroke:{stroke}"'))
            parts.append(svg_text(x + 20, y, label, "small"))
            x += 20 + text_width(label, 11) + 18
        parts.append("</g>")
        return "".join(parts)


LEGEND = (
    ("node", "#f8f9fa", "#495057"),
    ("docker0 bridge", "#ffe8cc", "#e8590c"),
    ("pod", "#e7f5ff", "#1c7ed6"),
    ("pause container (holds the pod's network)", "#fff3bf", "#f08c00"),
    ("app container (NetworkMode container:<pause>)", "#d3f9d8", "#2f9e44"),
    ("other container", "#f1f3f5", "#868e96"),
    ("Service", "#ffffff", "#c2255c"),
)


def legend_width() -> float:
    return sum(20 + text_width(label, 11) + 18 for label, _, _ in LEGEND)

