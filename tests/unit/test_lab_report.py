"""Unit tests of the lab report (tools/netlab_report, the package behind tools/lab-report),
run on a sample of observations (fixtures/observations.json): the package's functions
directly, and the command itself (tools/lab-report) for its outputs, messages and
exit status.

The sample is what playbooks/observe.yml wrote on the real lab after lesson step 2:
three nodes, the guestbook (a 3-replica `frontend` RC with hostPort 80, `redis-master`,
two `redis-slave` pods) and its Services. Only trimmed, to keep it small: each
`docker inspect` object (in `containers` and in the transcript alike) down to Id,
Created, Path, Args, State, Image, Name, RestartCount, a few Config fields (Image,
Cmd, Labels without most annotations...), HostConfig's NetworkMode, IpcMode and
PortBindings and the addresses of NetworkSettings; the Kubernetes objects without
managedFields and the pods without tolerations, volumes and conditions. Like every
real observation it holds only the pods' containers (the role lists no other):
a test that needs another container adds one. Expectations come from the sample itself.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from netlab_report import browser
from netlab_report.diagram import Diagram
from netlab_report.observations import InputError, load_observations, parse_lab
from netlab_report.page import render_html
from netlab_report.transcript import render_transcript
from netlab_tests.htmltree import Element, laid_out, parse_html

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "lab-report"
SAMPLE = Path(__file__).resolve().parent / "fixtures" / "observations.json"
RULE = "=" * 78
PROMPT = re.compile(r"^[\w.-]+# ")
CHROMIUM = browser.find_chromium()


def run_tool(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True,
                          timeout=60, env=env)


@dataclass
class Report:
    """What the tool writes for some observations: transcript.txt and report.html."""

    transcript: str
    html: str

    def page(self) -> Element:
        return parse_html(self.html)

    def svg(self) -> Element:
        return self.page().one("svg")


def render(obs: dict) -> Report:
    """The report of obs, made by the package's functions as the command makes it."""
    lab = parse_lab(obs)
    return Report(render_transcript(lab), render_html(lab, Diagram(lab).render()))


@pytest.fixture
def sample() -> dict:
    return json.loads(SAMPLE.read_text())


@pytest.fixture
def report(sample) -> Report:
    return render(sample)


@pytest.fixture
def svg(report) -> Element:
    return report.svg()


def items(obs: dict, kind: str) -> list[dict]:
    return [i for i in obs["kubernetes"]["items"] if i["kind"] == kind]


def docker0_address(node: dict) -> str:
    """docker0's address as the node's own `ip -json addr` shows it."""
    link = next(link for link in node["addresses"] if link["ifname"] == "docker0")
    info = next(i for i in link["addr_info"] if i["family"] == "inet")
    return f"{info['local']}/{info['prefixlen']}"


def pause_of(node: dict, pod_name: str) -> dict:
    return next(c for c in node["containers"] if c["Config"]["Labels"].get("io.kubernetes.pod.name") == pod_name
                and c["Config"]["Labels"]["io.kubernetes.docker.type"] == "podsandbox")


def other_container(node: dict, name: str, ip: str) -> dict:
    """A container Kubernetes did not make (`docker run -d --name NAME netlab/probe:latest httpd ...`),
    modelled on one of the node's pause containers."""
    pod = next(c for c in node["containers"] if c["Config"]["Labels"]["io.kubernetes.docker.type"] == "podsandbox")
    c = copy.deepcopy(pod)
    c["Id"] = "7c1d5e0b9a4f" + "3e8b2d6f0a1c" * 4 + "5d2e"
    c["Name"] = f"/{name}"
    c["Path"], c["Args"] = "httpd", ["-f", "-p", "0.0.0.0:80", "-h", "/www"]
    c["Config"].update(Hostname=c["Id"][:12], Image="netlab/probe:latest", Labels={}, ExposedPorts=None,
                       Cmd=["httpd", "-f", "-p", "0.0.0.0:80", "-h", "/www"])
    c["HostConfig"].update(NetworkMode="default", IpcMode="private", PortBindings={})
    settings = c["NetworkSettings"]
    settings.update(IPAddress=ip, Ports={})
    settings["Networks"]["bridge"]["IPAddress"] = ip
    return c


def sections(transcript: str) -> list[tuple[str, list[str]]]:
    """(heading, prompt lines) of each section of a transcript."""
    found = []
    blocks = transcript.split(RULE + "\n")
    for heading, body in zip(blocks[1::2], blocks[2::2], strict=False):
        found.append((heading.strip(), [line for line in body.splitlines() if PROMPT.match(line)]))
    return found


# ------------------------------------------------------------------ the command


def test_writes_both_files_and_prints_their_paths(sample, tmp_path):
    source = tmp_path / "obs.json"
    source.write_text(json.dumps(sample))
    out = tmp_path / "new" / "dir"
    result = run_tool(source, out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(out / "transcript.txt"), str(out / "report.html")]
    assert (out / "transcript.txt").stat().st_size > 0
    assert (out / "report.html").stat().st_size > 0
    expected = render(sample)
    assert (out / "transcript.txt").read_text() == expected.transcript
    assert (out / "report.html").read_text() == expected.html


def test_runs_as_the_observe_role_runs_it(tmp_path):
    """roles/observe runs tools/lab-report itself, with the system python3 (no venv on the
    PATH), from any directory: it finds its package beside itself."""
    result = subprocess.run([str(TOOL), str(SAMPLE), "out"], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["out/transcript.txt", "out/report.html"]
    assert (tmp_path / "out" / "report.html").read_text() == render(json.loads(SAMPLE.read_text())).html


def test_bad_usage_exits_2():
    result = run_tool(SAMPLE)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: lab-report ") and "Traceback" not in result.stderr


def test_an_unwritable_output_exits_1_with_a_message(tmp_path):
    taken = tmp_path / "a-file"
    taken.write_text("")
    result = run_tool(SAMPLE, taken)
    assert result.returncode == 1
    assert result.stderr.startswith(f"lab-report: cannot write {taken}") and "Traceback" not in result.stderr


def test_a_screenshot_without_chromium_exits_1_with_a_message(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NETLAB_CHROMIUM"} | {"PATH": str(tmp_path)}
    png = tmp_path / "docs" / "lab-report.png"
    result = run_tool("--screenshot", png, SAMPLE, tmp_path / "out", env=env)
    assert result.returncode == 1
    assert result.stderr == ("lab-report: screenshot failed: no Chromium found "
                             "(apt-get install chromium, or set NETLAB_CHROMIUM)\n")
    assert (tmp_path / "out" / "report.html").is_file() and not png.parent.exists()


# -------------------------------------------------------------------- transcript


def test_transcript_has_the_control_plane_then_each_node_with_its_commands_in_order(sample, report):
    got = sections(report.transcript)
    cp = sample["control_plane"]
    expected = [(cp, [f"{cp}# {c['command']}" for c in sample["kubectl"]])]
    expected += [(name, [f"{name}# {c['command']}" for c in node["commands"]])
                 for name, node in sample["nodes"].items()]
    assert [prompts for _, prompts in got] == [prompts for _, prompts in expected]
    assert "control plane" in got[0][0]
    for (heading, _), (name, _) in zip(got[1:], expected[1:], strict=True):
        assert heading.startswith(name) and sample["nodes"][name]["lab_ip"] in heading


def test_transcript_puts_each_output_right_after_its_command(sample, report):
    transcript = report.transcript
    node = sample["nodes"]["node2"]
    for cmd in node["commands"]:
        block = f"node2# {cmd['command']}\n{cmd['stdout'].rstrip(chr(10))}\n"
        assert block in transcript, f"output of {cmd['command']!r} does not follow it"


def test_transcript_shows_stderr_and_exit_status_of_failed_commands(sample):
    sample["nodes"]["node3"]["commands"][2] = {"command": "docker ps", "rc": 1, "stdout": "",
                                               "stderr": "Cannot connect to the Docker daemon\n"}
    transcript = render(sample).transcript
    assert "node3# docker ps\nCannot connect to the Docker daemon\n[exit status 1]\n" in transcript
    assert transcript.count("[exit status") == 1


# --------------------------------------------------------------------------- page


def test_page_is_self_contained(report):
    page = report.page()
    assert page.find_all("h1") and page.find_all("table")
    for e in page.iter():
        assert not e.attrs.get("src"), f"<{e.tag}> loads {e.attrs['src']}"
        assert not e.attrs.get("href", "").startswith(("http:", "https:", "//")), e.attrs["href"]
    assert not page.find_all("link") and not page.find_all("img")
    assert len(page.find_all("svg")) == 1


def test_page_has_node_pod_and_service_tables(sample, report):
    tables = report.page().find_all("table")
    cells = [" ".join(td.text() for td in t.find_all("td")) for t in tables]
    assert all(n["lab_ip"] in cells[0] for n in sample["nodes"].values())
    assert all(p["status"]["podIP"] in cells[1] for p in items(sample, "Pod"))
    assert all(s["spec"]["clusterIP"] in cells[2] for s in items(sample, "Service"))


def test_page_holds_the_transcript_per_host(sample, report):
    page = report.page()
    details = page.find_all("details")
    assert [d.attrs["data-host"] for d in details] == [sample["control_plane"], *sample["nodes"]]
    node1_address = f"inet {sample['nodes']['node1']['lab_ip']}/24"
    assert node1_address in details[1].one("pre").text()
    assert node1_address not in details[2].one("pre").text()


# ------------------------------------------------------------------------ diagram


def assert_boxes_inside(svg: Element) -> None:
    width, height = float(svg.attrs["width"]), float(svg.attrs["height"])
    # html.parser lowercases attribute names: viewBox is "viewbox" here.
    assert svg.attrs["viewbox"] == f"0 0 {svg.attrs['width']} {svg.attrs['height']}"
    for rect in svg.find_all("rect"):
        x, y, w, h = (float(rect.attrs[k]) for k in ("x", "y", "width", "height"))
        assert 0 <= x and x + w <= width and 0 <= y and y + h <= height, rect.attrs


def test_svg_size_and_view_box_hold_every_box(svg):
    assert_boxes_inside(svg)


def test_lab_network_is_a_bus_labelled_with_its_cidr(sample, svg):
    bus = svg.one("g", "lab-network")
    assert bus.find_all("line")
    assert any(sample["lab"]["lab_network"] in t for t in bus.texts())


@pytest.mark.parametrize("name", ["node1", "node2", "node3"])
def test_node_shows_lab_interface_and_docker0(sample, svg, name):
    node = sample["nodes"][name]
    box = svg.one("g", "node", name=name)
    texts = box.texts()
    assert f"eth0 {node['lab_ip']}" in texts
    # observe.yml records no `bip`: docker0's address comes from the node's `ip addr`.
    assert f"docker0 {docker0_address(node)}" in texts and box.attrs["data-bip"] == docker0_address(node)
    assert ("control plane" in texts) == (name == sample["control_plane"])


def test_a_given_bip_and_a_templated_role_are_understood(sample):
    """A `bip` says docker0's address even where `ip addr` shows none; `control_plane` may be a string."""
    del sample["control_plane"]
    for name, node in sample["nodes"].items():
        subnet = ipaddress.ip_network(node["pod_subnet"])
        node["bip"] = f"{subnet[1]}/{subnet.prefixlen}"
        node["addresses"] = [link for link in node["addresses"] if link["ifname"] != "docker0"]
        node["control_plane"] = str(name == "node2")
    svg = render(sample).svg()
    for name, node in sample["nodes"].items():
        texts = svg.one("g", "node", name=name).texts()
        assert f"docker0 {node['bip']}" in texts
        assert ("control plane" in texts) == (name == "node2")


def test_docker0_is_unknown_without_bip_or_address(sample):
    node2 = sample["nodes"]["node2"]
    node2["addresses"] = [link for link in node2["addresses"] if link["ifname"] != "docker0"]
    svg = render(sample).svg()
    assert "docker0 ?" in svg.one("g", "node", name="node2").texts()
    assert f"docker0 {docker0_address(sample['nodes']['node1'])}" in svg.one("g", "node", name="node1").texts()


def test_lab_interface_is_found_by_address_not_by_name(sample):
    node1, node2 = sample["nodes"]["node1"], sample["nodes"]["node2"]
    link = next(link for link in node2["addresses"] if link["ifname"] == "eth0")
    link["ifname"] = link["addr_info"][0]["label"] = "enp0s8"
    svg = render(sample).svg()
    assert f"enp0s8 {node2['lab_ip']}" in svg.one("g", "node", name="node2").texts()
    assert f"eth0 {node1['lab_ip']}" in svg.one("g", "node", name="node1").texts()


@pytest.mark.parametrize("name", ["node1", "node2", "node3"])
def test_node_shows_exactly_its_static_pod_routes(sample, svg, name):
    others = [n for other, n in sample["nodes"].items() if other != name]
    expected = {(n["pod_subnet"], n["lab_ip"]) for n in others}
    routes = svg.one("g", "node", name=name).find_all("g", "route")
    assert {(r.attrs["data-dst"], r.attrs["data-via"]) for r in routes} == expected
    for route in routes:
        assert route.attrs["data-node"] == name
        assert f"{route.attrs['data-dst']} via {route.attrs['data-via']}" in route.texts()


def pod_containers(sample: dict, pod: dict) -> list[dict]:
    return [c for c in sample["nodes"][pod["spec"]["nodeName"]]["containers"]
            if c["Config"]["Labels"].get("io.kubernetes.pod.name") == pod["metadata"]["name"]]


@pytest.mark.parametrize("index", range(6))
def test_pod_sits_in_its_node_with_its_ip_pause_and_app_containers(sample, svg, index):
    pod = items(sample, "Pod")[index]
    name, ip = pod["metadata"]["name"], pod["status"]["podIP"]
    box = svg.one("g", "pod", name=name)
    assert box.attrs["data-ip"] == ip and ip in " ".join(box.texts())
    assert box.ancestor("g", "node").attrs["data-name"] == pod["spec"]["nodeName"]
    containers = pod_containers(sample, pod)
    pause = next(c for c in containers if c["Config"]["Labels"]["io.kubernetes.docker.type"] == "podsandbox")
    assert f"pause {pause['Id'][:12]}" in box.one("g", "pause").texts()
    apps = [c["Config"]["Labels"]["io.kubernetes.container.name"] for c in containers if c is not pause]
    assert apps == [c["name"] for c in pod["spec"]["containers"]]
    assert [g.texts()[0] for g in box.find_all("g", "app")] == apps
    assert all(f"container:{pause['Id'][:12]}" in g.texts() for g in box.find_all("g", "app"))


def test_host_port_mapping_is_on_the_pause_container(sample, svg):
    for pod in items(sample, "Pod"):
        box = svg.one("g", "pod", name=pod["metadata"]["name"])
        host_ports = [p["hostPort"] for c in pod["spec"]["containers"] for p in c.get("ports", []) if "hostPort" in p]
        pause_texts = box.one("g", "pause").texts()
        assert (":80 → 80/tcp" in pause_texts) == (host_ports == [80])
        assert not any("→" in t for g in box.find_all("g", "app") for t in g.texts())


def test_containers_kubernetes_did_not_make_are_shown_apart(sample):
    node3 = sample["nodes"]["node3"]
    ip = str(ipaddress.ip_network(node3["pod_subnet"])[9])
    node3["containers"].append(other_container(node3, "netlab-echo", ip))
    svg = render(sample).svg()
    other = svg.one("g", "node", name="node3").one("g", "other")
    assert other.texts() == ["netlab-echo", ip]
    assert other.ancestor("g", "pod") is None
    assert not svg.one("g", "node", name="node2").find_all("g", "other")
    assert len(svg.find_all("g", "pod")) == len(items(sample, "Pod"))


@pytest.mark.parametrize("index", range(4))
def test_service_shows_cluster_ip_and_an_arrow_to_each_endpoint(sample, svg, index):
    svc = items(sample, "Service")[index]
    name, ip = svc["metadata"]["name"], svc["spec"]["clusterIP"]
    box = svg.one("g", "service", name=name)
    assert box.attrs["data-ip"] == ip
    assert f"{ip}:{svc['spec']['ports'][0]['port']}" in box.texts()
    endpoints = next(e for e in items(sample, "Endpoints") if e["metadata"]["name"] == name)["subsets"][0]
    port = endpoints["ports"][0]["port"]
    labels = [f"{a['ip']}:{port}" for a in endpoints["addresses"]]
    assert [g.texts()[0] for g in box.find_all("g", "endpoint")] == labels
    arrows = [p for p in box.find_all("path") if p.attrs.get("marker-end")]
    assert len(arrows) == len(labels)


def test_service_arrows_end_at_their_endpoint_pods(svg):
    """Each arrow of `frontend` ends on the right edge of one of its pods, at a height inside it."""
    ends = []
    for path in svg.one("g", "service", name="frontend").find_all("path"):
        *_, v, h = path.attrs["d"].split()
        ends.append((float(h[1:]), float(v[1:])))
    for pod in svg.find_all("g", "pod"):
        if pod.attrs["data-name"].startswith("frontend-"):
            r = pod.find_all("rect")[0].attrs
            x, y, h = float(r["x"]) + float(r["width"]), float(r["y"]), float(r["height"])
            assert sum(1 for ex, ey in ends if abs(ex - x) < 0.2 and y < ey < y + h) == 1, pod.attrs


def test_kubernetes_service_points_at_the_control_plane_node(sample, svg):
    cp = sample["nodes"][sample["control_plane"]]
    box = svg.one("g", "service", name="kubernetes")
    assert f"{cp['lab_ip']}:6443" in box.texts()
    assert len([p for p in box.find_all("path") if p.attrs.get("marker-end")]) == 1


# --------------------------------------------------------------------- robustness


def test_odd_input_still_renders(sample):
    """A node without pods, one without any facts, junk entries, and no Kubernetes view at all."""
    sample["nodes"]["node4"] = {"lab_ip": "192.168.1.132", "bip": "10.1.40.1/24", "addresses": [], "routes": [],
                                "containers": [], "commands": []}
    sample["nodes"]["node5"] = {}
    sample["nodes"]["node3"]["containers"].append(None)
    sample["nodes"]["node2"]["routes"] = "not a list"
    copy_of_kubernetes = {"kubernetes": sample.pop("kubernetes")}
    out = render(sample)
    svg = out.svg()
    assert [g.attrs["data-name"] for g in svg.find_all("g", "node")] == ["node1", "node2", "node3", "node4", "node5"]
    assert "no pods" in svg.one("g", "node", name="node4").texts()
    assert not svg.one("g", "node", name="node2").find_all("g", "route")
    # Without the Kubernetes view, pods still come from Docker's labels and the pause IP.
    node2_pods = [p for p in items(copy_of_kubernetes, "Pod") if p["spec"]["nodeName"] == "node2"]
    assert node2_pods
    for pod in node2_pods:
        box = svg.one("g", "node", name="node2").one("g", "pod", name=pod["metadata"]["name"])
        assert box.attrs["data-ip"] == pod["status"]["podIP"]
    assert not svg.find_all("g", "service")
    assert "node5# " not in out.transcript


def test_many_nodes_widen_the_picture(sample):
    narrow = float(render(sample).svg().attrs["width"])
    for i in range(4, 9):
        node = copy.deepcopy(sample["nodes"]["node3"])
        node.update(lab_ip=f"192.168.1.{128 + i}", bip=f"10.1.{i}0.1/24", containers=[], commands=[])
        sample["nodes"][f"node{i}"] = node
    svg = render(sample).svg()
    assert len(svg.find_all("g", "node")) == 8
    assert float(svg.attrs["width"]) > 2 * narrow
    assert_boxes_inside(svg)


@pytest.mark.parametrize("content, message", [
    (None, "cannot read"),
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "holds no observations"),
])
def test_bad_input_exits_2_with_a_message(tmp_path, content, message):
    source = tmp_path / "observations.json"
    if content is not None:
        source.write_text(content)
    result = run_tool(source, tmp_path / "out")
    assert result.returncode == 2
    assert result.stderr.startswith("lab-report: ") and message in result.stderr and str(source) in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content, message", [
    (None, "cannot read"),
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "holds no observations"),
])
def test_unusable_observations_are_an_input_error(tmp_path, content, message):
    source = tmp_path / "observations.json"
    if content is not None:
        source.write_text(content)
    with pytest.raises(InputError) as raised:
        load_observations(source)
    assert message in str(raised.value) and str(source) in str(raised.value)


def test_observations_load_as_written(sample):
    assert load_observations(SAMPLE) == sample


def test_sample_is_the_chapter_lab(sample):
    """The sample keeps the chapter's addressing, so the tests above mean what they say."""
    pod_cidr = ipaddress.ip_network(sample["lab"]["pod_cidr"])
    for node in sample["nodes"].values():
        assert ipaddress.ip_network(node["pod_subnet"]).subnet_of(pod_cidr)
    for pod in items(sample, "Pod"):
        subnet = ipaddress.ip_network(sample["nodes"][pod["spec"]["nodeName"]]["pod_subnet"])
        assert ipaddress.ip_address(pod["status"]["podIP"]) in subnet


# ------------------------------------------------------------- the browser runner


def fake_chromium(directory: Path, name: str, script: str) -> Path:
    """An executable that stands in for Chromium."""
    directory.mkdir(parents=True, exist_ok=True)
    binary = directory / name
    binary.write_text(f"#!/bin/sh\n{script}\n")
    binary.chmod(0o755)
    return binary


def test_netlab_chromium_names_the_binary_else_chromium_is_looked_for(tmp_path, monkeypatch):
    named = fake_chromium(tmp_path / "elsewhere", "my-chromium", "exit 0")
    on_path = fake_chromium(tmp_path / "bin", "chromium", "exit 0")
    monkeypatch.setenv("PATH", str(on_path.parent))
    monkeypatch.setenv("NETLAB_CHROMIUM", str(named))
    assert browser.find_chromium() == str(named)
    monkeypatch.setenv("NETLAB_CHROMIUM", str(tmp_path / "none-here"))
    assert browser.find_chromium() == str(on_path)
    monkeypatch.delenv("NETLAB_CHROMIUM")
    assert browser.find_chromium() == str(on_path)
    on_path.unlink()
    assert browser.find_chromium() is None
    with pytest.raises(browser.BrowserError, match="no Chromium found"):
        browser.headless(tmp_path / "profile", "--dump-dom", "about:blank")


def test_the_runner_runs_chromium_headless_with_its_own_profile(tmp_path, monkeypatch):
    binary = fake_chromium(tmp_path, "chromium", 'printf "%s\\n" "$@"')
    monkeypatch.setenv("NETLAB_CHROMIUM", str(binary))
    page = tmp_path / "page.html"
    assert browser.dump_dom(page, tmp_path / "profile").splitlines() == [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()]


def test_the_runner_says_what_failed(tmp_path, monkeypatch):
    binary = fake_chromium(tmp_path, "chromium", "echo cannot open display >&2; exit 3")
    monkeypatch.setenv("NETLAB_CHROMIUM", str(binary))
    with pytest.raises(browser.BrowserError, match="failed \\(exit 3\\): cannot open display"):
        browser.headless(tmp_path / "profile", "--dump-dom", "about:blank")
    png = tmp_path / "shots" / "page.png"
    with pytest.raises(browser.BrowserError, match=f"wrote no {png} \\(exit 3\\): cannot open display"):
        browser.screenshot(tmp_path / "page.html", png, 100, 50, tmp_path / "profile")


# ------------------------------------------------------------------ in a browser

@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")
def test_nothing_sticks_out_in_a_browser(sample, tmp_path):
    """Chromium lays the page out: no group leaves the viewBox, no label leaves its box."""
    sample["nodes"]["node2"]["containers"][0]["Config"]["Labels"]["io.kubernetes.pod.name"] = "x" * 60
    page = tmp_path / "report.html"
    page.write_text(render(sample).html)
    svg = laid_out(page, tmp_path / "profile")
    assert (svg.attrs.get("data-clipped"), svg.attrs.get("data-overflow")) == ("0", "0")


def shrink_the_picture(html: str, sample: dict) -> str:
    """Half the SVG's width (and viewBox): the right-hand nodes fall outside it."""
    size = re.search(r'<svg [^>]*?width="(\d+)" height="(\d+)" viewBox="0 0 \1 \2"', html)
    assert size, "no <svg> with width, height and a matching viewBox"
    width, height = int(size[1]) // 2, size[2]
    start, end = size.span(1)[0] - len('width="'), size.end()
    return html[:start] + f'width="{width}" height="{height}" viewBox="0 0 {width} {height}"' + html[end:]


def lengthen_a_pod_name(html: str, sample: dict) -> str:
    """Make the label of a pod on the first (leftmost) node far longer than its box."""
    first = next(iter(sample["nodes"]))
    name = next(p["metadata"]["name"] for p in items(sample, "Pod") if p["spec"]["nodeName"] == first)
    label = f">{name}</text>"
    assert html.count(label) == 1, f"{label} is not in the diagram once"
    return html.replace(label, f">{name}-{'x' * 40}</text>")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")
@pytest.mark.parametrize("spoil, counter, other", [
    (shrink_the_picture, "data-clipped", "data-overflow"),
    (lengthen_a_pod_name, "data-overflow", "data-clipped"),
])
def test_the_layout_check_counts_what_sticks_out(sample, tmp_path, spoil, counter, other):
    """The page's check is no rubber stamp: spoil the rendered page and the right count goes up."""
    page = tmp_path / "report.html"
    page.write_text(spoil(render(sample).html, sample))
    svg = laid_out(page, tmp_path / "profile")
    assert svg.attrs.get(counter, "0") != "0", f"{spoil.__name__}: {counter}={svg.attrs.get(counter)!r}"
    assert svg.attrs.get(other) == "0", f"{spoil.__name__}: {other}={svg.attrs.get(other)!r}"


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")
def test_screenshot_option_writes_a_png_of_the_diagram(tmp_path):
    png = tmp_path / "docs" / "lab-report.png"
    result = run_tool("--screenshot", png, SAMPLE, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    svg = parse_html((tmp_path / "out" / "report.html").read_text()).one("svg")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (int(svg.attrs["width"]), int(svg.attrs["height"]))
