"""Lesson step "report": the lab drawn from what its nodes show, checked in a real browser.

playbooks/observe.yml gathers the chapter's observations into observations.json and
renders transcript.txt and report.html from it (tools/lab-report) in the report
directory (NETLAB_REPORT_DIR, default .netlab/report). Headless Chromium then lays the
page out: every node, pod, static route and Service the lab has must be in the
picture, and nothing may stick out of it. Expected nodes and routes come from the
inventory, pods, Services and endpoints from the live cluster (kubectl), never from
the report or from observations.json, its input. If the cluster runs no guestbook
frontend, step 2's playbook runs first, so there is something to draw.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path

import pytest

from netlab_report import browser
from netlab_tests.ansible import run_playbook
from netlab_tests.htmltree import Element, parse_html
from netlab_tests.lab import REPO
from netlab_tests.lesson import pods

pytestmark = pytest.mark.lab

REPORT_DIR = Path(os.environ.get("NETLAB_REPORT_DIR", REPO / ".netlab" / "report"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report_dir(lab, kubectl) -> Path:
    """Observe the lab and render the report: the one place that knows how.

    With no guestbook frontend in the cluster, step 2 runs first (the Services, the
    backend, 3 frontends), so the picture has pods and endpoints to show."""
    if not pods(kubectl, "name=frontend", "default"):
        run_playbook(lab, "step2-service.yml")
    run_playbook(lab, "observe.yml", "-e", f"observe_report_dir={REPORT_DIR}")
    for name in ("observations.json", "transcript.txt", "report.html"):
        assert (REPORT_DIR / name).is_file(), f"observe.yml wrote no {REPORT_DIR / name}"
    return REPORT_DIR


@pytest.fixture(scope="module")
def cluster(report_dir, kubectl) -> dict[str, list[dict]]:
    """The live cluster's pods, Services and Endpoints (all namespaces) by kind, read
    right after observe.yml: what the report must show."""
    listed = json.loads(kubectl("get", "pods,services,endpoints", "--all-namespaces", "-o", "json"))["items"]
    by_kind: dict[str, list[dict]] = {"Pod": [], "Service": [], "Endpoints": []}
    for item in listed:
        by_kind.setdefault(item["kind"], []).append(item)
    return by_kind


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """Run headless Chromium with the given arguments (one profile for the module)."""
    if browser.find_chromium() is None:
        pytest.fail("headless Chromium is needed to render the report: apt-get install chromium")
    profile = tmp_path_factory.mktemp("chromium-profile")
    return lambda *args: browser.headless(profile, *args)


@pytest.fixture(scope="module")
def svg(report_dir, chromium) -> Element:
    """The diagram as Chromium has laid it out (after the page's layout check ran)."""
    return parse_html(chromium("--dump-dom", (report_dir / "report.html").as_uri())).one("svg")


def test_transcript_covers_every_node(lab, report_dir):
    transcript = (report_dir / "transcript.txt").read_text()
    for name in lab.nodes:
        for command in ("ip addr show", "ip route", "docker ps",
                        "iptables-save", "iptables-legacy-save", "nft list ruleset"):
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


def test_every_pod_is_drawn_on_its_node_with_its_containers(lab, cluster, svg):
    live = [p for p in cluster["Pod"] if p.get("status", {}).get("podIP")]
    assert any((p["metadata"].get("labels") or {}).get("name") == "frontend" for p in live), \
        "the cluster runs no frontend pod with an IP"
    for pod in live:
        meta, spec, status = pod["metadata"], pod["spec"], pod["status"]
        name, ip, node = meta["name"], status["podIP"], spec["nodeName"]
        box = svg.one("g", "node", name=node).one("g", "pod", name=name, namespace=meta["namespace"])
        assert box.attrs["data-ip"] == ip and ip in " ".join(box.texts())
        if not spec.get("hostNetwork"):
            assert ipaddress.ip_address(ip) in lab.nodes[node].pod_subnet
        if status.get("phase") != "Running":
            continue  # starting or finished: its containers come and go
        if not spec.get("hostNetwork"):
            assert box.find_all("g", "pause"), f"{name}: no pause container drawn"
        # observe.yml sees the running containers (docker ps): each of them is drawn in
        # the pod's box (php-redis in a frontend's), and none but the pod's own.
        declared = {c["name"] for c in spec["containers"]}
        running = {c["name"] for c in status.get("containerStatuses", []) if "running" in c.get("state", {})}
        drawn = [g.texts()[0] for g in box.find_all("g", "app")]
        assert running, f"{name} is Running without a running container"
        assert running <= set(drawn) <= declared, f"{name}: app containers drawn {drawn}, running {sorted(running)}"


def test_kubernetes_service_points_at_the_api_server(lab, svg):
    cluster_ip = str(lab.service_cidr.network_address + 1)
    box = svg.one("g", "service", name="kubernetes", namespace="default")
    assert box.attrs["data-ip"] == cluster_ip and f"{cluster_ip}:443" in box.texts()
    apiserver = lab.nodes[lab.control_plane[0]].lab_ip
    assert f"{apiserver}:6443" in box.texts()


def test_every_service_is_drawn_with_its_endpoints(cluster, svg):
    endpoints = {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in cluster["Endpoints"]}
    services = cluster["Service"]
    assert any(s["metadata"]["name"] == "frontend" for s in services), "the cluster has no frontend Service"
    assert len(svg.find_all("g", "service")) == len(services)
    for svc in services:
        key = (svc["metadata"]["namespace"], svc["metadata"]["name"])
        box = svg.one("g", "service", name=key[1], namespace=key[0])
        assert box.attrs["data-ip"] == svc["spec"].get("clusterIP", "")
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
