"""report.html: one self-contained page (inline CSS and SVG, no external resources, no
JavaScript needed to see it) - an explanation, the diagram, tables of nodes, pods and
Services, and the transcript, one <details> per host - and the diagram alone on a page
of its own, for the screenshot."""

from __future__ import annotations

from html import escape

from netlab_report.diagram import container_texts
from netlab_report.model import Command, Lab, endpoint_note

PAGE_STYLE = """
body { font-family: "DejaVu Sans", "Liberation Sans", system-ui, sans-serif; margin: 24px; color: #212529; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #dee2e6; padding-bottom: 4px; }
p.meta { color: #495057; margin: 0 0 12px; }
.intro { max-width: 60em; line-height: 1.45; }
figure.diagram { margin: 16px 0; overflow-x: auto; }
figure.diagram svg { display: block; max-width: none; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ced4da; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f1f3f5; }
td.mono, pre { font-family: "DejaVu Sans Mono", "Liberation Mono", ui-monospace, monospace; }
details { margin: 6px 0; }
summary { cursor: pointer; font-weight: bold; }
pre { background: #f8f9fa; border: 1px solid #dee2e6; padding: 8px; font-size: 12px; overflow-x: auto; }
.prompt { color: #1971c2; font-weight: bold; }
.stderr { color: #c92a2a; }
.rc { color: #c92a2a; font-weight: bold; }
"""

# Counts what sticks out of the viewBox (data-clipped) or out of its own box
# (data-overflow). It only checks; the picture needs no script.
LAYOUT_CHECK = """
(function () {
  var svg = document.querySelector("svg.lab"), vb = svg.viewBox.baseVal, clipped = 0, overflow = 0;
  function outside(b, o) {
    return b.x < o.x - 0.5 || b.y < o.y - 0.5 || b.x + b.width > o.x + o.width + 0.5 || b.y + b.height > o.y + o.height + 0.5;
  }
  svg.querySelectorAll("g.node, g.pod, g.route, g.service").forEach(function (g) {
    if (outside(g.getBBox(), vb)) { clipped++; }
  });
  svg.querySelectorAll("text").forEach(function (t) {
    for (var g = t.parentNode; g && g !== svg; g = g.parentNode) {
      var frame = g.querySelector(":scope > rect.box");
      if (frame) { if (outside(t.getBBox(), frame.getBBox())) { overflow++; } return; }
    }
  });
  svg.setAttribute("data-clipped", String(clipped));
  svg.setAttribute("data-overflow", String(overflow));
})();
"""  # noqa: E501 - written into the page as it is

INTRO = """
<p>Every node puts its pods on its own <b>docker0</b> bridge, whose address (the
node's <i>bip</i>) comes from the node's pod subnet; so every pod gets an address of
that subnet. Each pod is a <b>pause container</b>, which holds the pod's network
namespace on docker0 and carries its hostPort mappings, plus one <b>app
container</b> per container of the pod, started with NetworkMode
<code>container:&lt;pause id&gt;</code> and so sharing the pause container's IP.</p>
<p>No overlay and no NAT join the nodes: each node has a plain <b>static route</b> to
every other node's pod subnet via that node's address on the lab network. A
<b>Service</b> is a virtual cluster IP that kube-proxy's iptables rules translate to
one of its endpoints, the pods its selector picks (or, for <code>kubernetes</code>, the
API server on the control-plane node).</p>
"""


def table(headers: list[str], rows: list[list[str]], mono: set[int]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td{" class=mono" if i in mono else ""}>{cell}</td>' for i, cell in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def lines(items: list[str]) -> str:
    return "<br>".join(escape(i) for i in items) or "–"


def nodes_table(lab: Lab) -> str:
    rows = [[escape(n.name), "control plane, node" if n.control_plane else "node", escape(n.lab_ip),
             escape(n.iface), escape(n.bip), escape(n.pod_subnet),
             lines([f"{r.dst} via {r.via} dev {r.dev}" for r in n.routes]), str(len(n.pods))]
            for n in lab.nodes]
    headers = ["Node", "Role", "Lab IP", "Lab interface", "docker0", "Pod subnet", "Static routes", "Pods"]
    return table(headers, rows, {2, 3, 4, 5, 6})


def pods_table(lab: Lab) -> str:
    rows = [[escape(p.namespace), escape(p.name), escape(p.node or "(unscheduled)"), escape(p.ip),
             escape(p.phase), escape(p.owner), lines([container_texts(c)[0] for c in p.containers]),
             lines(p.host_ports)] for p in lab.pods]
    headers = ["Namespace", "Pod", "Node", "Pod IP", "Phase", "Owner", "Containers", "Host ports"]
    return table(headers, rows, {3, 6, 7})


def services_table(lab: Lab) -> str:
    rows = [[escape(s.namespace), escape(s.name), escape(s.address), escape(s.selector or "–"),
             lines([f"{e.label} ({endpoint_note(e, lab)})" for e in s.endpoints])] for s in lab.services]
    return table(["Namespace", "Service", "Cluster IP:port", "Selector", "Endpoints"], rows, {2, 4})


def command_html(host: str, cmd: Command) -> str:
    stdout, stderr = cmd.stdout.rstrip("\n"), cmd.stderr.rstrip("\n")
    out = [f'<span class="prompt">{escape(host)}#</span> <b>{escape(cmd.command)}</b>']
    if stdout:
        out.append(escape(stdout))
    if stderr:
        out.append(f'<span class="stderr">{escape(stderr)}</span>')
    if cmd.rc not in (0, None):
        out.append(f'<span class="rc">[exit status {cmd.rc}]</span>')
    return "\n".join(out)


def transcript_html(lab: Lab) -> str:
    blocks = []
    for section in lab.sections:
        body = ("\n\n".join(command_html(section.host, c) for c in section.commands)
                or "(no commands were recorded)")
        blocks.append(f'<details data-host="{escape(section.host)}">'
                      f"<summary>{escape(section.title)}</summary>"
                      f"<pre>{body}</pre></details>")
    return "\n".join(blocks)


def page_header(lab: Lab) -> str:
    facts = [f"{k} {escape(v)}" for k, v in (("lab network", lab.lab_network), ("pods", lab.pod_cidr),
                                             ("services", lab.service_cidr)) if v]
    when = escape(lab.generated_at) if lab.generated_at else "at an unknown time"
    return (f"<h1>k8s-netlab: Kubernetes networking with Docker, as observed</h1>"
            f'<p class="meta">{len(lab.nodes)} nodes · observed {when} · {" · ".join(facts)}</p>')


def render_html(lab: Lab, svg: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>k8s-netlab report</title>
<style>{PAGE_STYLE}</style>
</head>
<body>
<header>{page_header(lab)}</header>
<section class="intro">{INTRO}</section>
<figure class="diagram">
{svg}
</figure>
<script>{LAYOUT_CHECK}</script>
<h2>Nodes</h2>
{nodes_table(lab)}
<h2>Pods</h2>
{pods_table(lab)}
<h2>Services and their endpoints</h2>
{services_table(lab)}
<h2>Transcript</h2>
{transcript_html(lab)}
</body>
</html>
"""


def diagram_page(svg: str) -> str:
    """The diagram alone, on a white page without margins."""
    return ('<!DOCTYPE html><html><head><meta charset="utf-8">'
            "<style>body{margin:0;background:#fff}</style></head>"
            f"<body>{svg}</body></html>")
