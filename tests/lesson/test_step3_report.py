"""Lesson step "report": the lab drawn from what its nodes show, checked in a real browser.

playbooks/observe.yml gathers the chapter's observations into observations.json and
renders transcript.txt and report.html from it (tools/lab-report) in the report
directory (NETLAB_REPORT_DIR, default .netlab/report). Headless Chromium then lays the
page out: every node, pod, static route and Service the lab has must be in the
picture, and nothing may stick out of it. Expected nodes and routes come from the
inventory, never from the report.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO
from htmltree import Element, parse_html

pytestmark = pytest.mark.lab

REPORT_DIR = Path(os.environ.get("NETLAB_REPORT_DIR", REPO / ".netlab" / "report"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report_dir(lab) -> Path:
    """Observe the lab and render the report: the one place that knows how."""
    result = subprocess.run(
        ["ansible-playbook", "-i", lab.inventory, "playbooks/observe.yml", "-e", f"observe_report_dir={REPORT_DIR}"],
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )
    if result.returncode != 0:
        pytest.fail(f"playbooks/observe.yml failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    for name in ("observations.json", "transcript.txt", "report.html"):
        assert (REPORT_DIR / name).is_file(), f"observe.yml wrote no {REPORT_DIR / name}"
    return REPORT_DIR


@pytest.fixture(scope="module")
def observations(report_dir) -> dict:
    return json.loads((report_dir / "observations.json").read_text())


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """Run headless Chromium (Debian's `chromium`, or NETLAB_CHROMIUM) with the given arguments."""
    binary = shutil.which(os.environ.get("NETLAB_CHROMIUM", "chromium"))
    if binary is None:
        pytest.fail("headless Chromium is needed to render the report: apt-get install chromium")
    profile = tmp_path_factory.mktemp("chromium-profile")

    def run(*args: str) -> str:
        return subprocess.run(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
             f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=180, check=True,
        ).stdout

    return run


@pytest.fixture(scope="module")
def svg(report_dir, chromium) -> Element:
    """The diagram as Chromium has laid it out (after the page's layout check ran)."""
    dom = parse_html(chromium("--dump-dom", (report_dir / "report.html").as_uri()))
    return dom.one("svg")


def test_transcript_covers_every_node(lab, report_dir):
    transcript = (report_dir / "transcript.txt").read_text()
    for name in lab.nodes:
        for command in ("ip addr show", "ip route", "docker ps", "iptables-save"):
            assert f"{name}# {command}\n" in transcript


def test_lab_network_is_drawn(lab, svg):
    assert any(str(lab.lab_network) in t for t in svg.one("g", "lab-network").texts())


def test_node_is_drawn_with_its_addresses(lab, svg, node_name):
    node = lab.nodes[node_name]
    texts = svg.one("g", "node", name=node_name).texts()
    assert any(t.endswith(f" {node.lab_ip}") for t in texts), f"no lab interface with {node.lab_ip}: {texts}"
    assert f"docker0 {node.bip}" in texts
    assert ("control plane" in texts) == (node_name in lab.control_plane)


def test_node_is_drawn_with_a_route_to_every_other_pod_subnet(lab, svg, node_name):
    expected = {(str(o.pod_subnet), o.lab_ip) for o in lab.others(node_name)}
    routes = svg.one("g", "node", name=node_name).find_all("g", "route")
    assert {(r.attrs["data-dst"], r.attrs["data-via"]) for r in routes} == expected
    texts = [t for r in routes for t in r.texts()]
    assert all(f"{dst} via {via}" in texts for dst, via in expected)


def test_every_pod_is_drawn_on_its_node(lab, observations, svg):
    pods = [i for i in observations["kubernetes"]["items"] if i["kind"] == "Pod" and i.get("status", {}).get("podIP")]
    assert pods, "observations.json holds no pod with an IP: observe.yml should run once the lesson's pods are up"
    for pod in pods:
        name, ip, node = pod["metadata"]["name"], pod["status"]["podIP"], pod["spec"]["nodeName"]
        box = svg.one("g", "node", name=node).one("g", "pod", name=name)
        assert box.attrs["data-ip"] == ip and ip in " ".join(box.texts())
        if not pod["spec"].get("hostNetwork"):
            assert ipaddress.ip_address(ip) in lab.nodes[node].pod_subnet
            assert box.find_all("g", "pause"), f"{name}: no pause container drawn"


def test_kubernetes_service_points_at_the_api_server(lab, svg):
    cluster_ip = str(lab.service_cidr.network_address + 1)
    box = svg.one("g", "service", name="kubernetes", namespace="default")
    assert box.attrs["data-ip"] == cluster_ip and f"{cluster_ip}:443" in box.texts()
    apiserver = lab.nodes[lab.control_plane[0]].lab_ip
    assert f"{apiserver}:6443" in box.texts()


def test_every_service_is_drawn_with_its_endpoints(observations, svg):
    items = observations["kubernetes"]["items"]
    endpoints = {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in items if e["kind"] == "Endpoints"}
    for svc in (i for i in items if i["kind"] == "Service"):
        key = (svc["metadata"]["namespace"], svc["metadata"]["name"])
        box = svg.one("g", "service", name=key[1], namespace=key[0])
        subsets = endpoints.get(key, {}).get("subsets") or []
        ips = [a["ip"] for s in subsets for a in s.get("addresses", []) + s.get("notReadyAddresses", [])]
        assert sorted(g.attrs["data-ip"] for g in box.find_all("g", "endpoint")) == sorted(ips)


def test_nothing_sticks_out_of_the_picture(svg):
    assert svg.attrs.get("data-clipped") == "0", "nodes, pods, routes or Services outside the SVG's viewBox"
    assert svg.attrs.get("data-overflow") == "0", "labels sticking out of their boxes"


def test_screenshot_is_a_real_picture(report_dir, svg, chromium):
    png = report_dir / "report.png"
    png.unlink(missing_ok=True)
    width, height = int(svg.attrs["width"]) + 80, int(svg.attrs["height"]) + 400
    chromium(f"--screenshot={png}", f"--window-size={width},{height}", (report_dir / "report.html").as_uri())
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (width, height)
    assert len(data) > 30_000, f"{png} is only {len(data)} bytes"
