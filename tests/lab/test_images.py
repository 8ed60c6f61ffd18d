"""The lab's images: built here, served by the depot's registry, and pulled by the
nodes under their Docker Hub names (the chapter's manifest runs unchanged) without
any traffic leaving this machine."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest

from conftest import REPO

FRONTEND = "kubeguide/guestbook-php-frontend"


@pytest.fixture(scope="session")
def images() -> list[str]:
    """The images tools/build-images makes, by name."""
    out = subprocess.run(
        [str(REPO / "tools/build-images"), "--tags"], check=True, capture_output=True, text=True
    ).stdout
    return [line.split()[0] for line in out.splitlines()]


@pytest.fixture(scope="session")
def registry(lab) -> str:
    return f"{lab.services['depot']}:5000"


def test_the_chapters_images_are_built_here(images):
    assert {FRONTEND + ":latest", "kubeguide/redis-master:latest",
            "kubeguide/guestbook-redis-slave:latest", "google_containers/pause:3.4"} <= set(images)


def test_registry_serves_every_image(registry, images):
    for image in images:
        repo, tag = image.rsplit(":", 1)
        with urllib.request.urlopen(f"http://{registry}/v2/{repo}/tags/list", timeout=10) as reply:
            assert tag in json.load(reply)["tags"], image


def guard_drops(machine) -> int:
    out = machine.check_output("iptables -w -L NETLAB-EGRESS -n -v -x")
    return sum(int(f.split()[0]) for f in out.splitlines()[2:] if len(f.split()) > 2 and f.split()[2] == "DROP")


def test_node_pulls_every_image_by_its_docker_hub_name_through_the_mirror(
    lab, nodes, node_name, images, machine
):
    host = nodes[node_name]
    before = guard_drops(machine) if lab.container_nodes else 0
    for image in images:
        host.run("docker rmi -f %s", image)
        host.check_output("docker pull %s", image)
        assert host.run("docker image inspect %s", image).rc == 0
    if lab.container_nodes:
        assert guard_drops(machine) == before, "a pull tried to leave the machine"


def test_frontend_image_answers_http_on_port_80(lab, nodes):
    host = nodes[next(iter(lab.nodes))]
    host.run("docker rm -f netlab-frontend-test")
    host.check_output("docker run -d --name netlab-frontend-test %s", FRONTEND)
    try:
        ip = host.check_output(
            "docker inspect -f '{{.NetworkSettings.IPAddress}}' netlab-frontend-test"
        )
        page = host.check_output("curl -fsS --retry 5 --retry-connrefused --retry-delay 1 http://%s:80/", ip)
        assert "<h1>Guestbook</h1>" in page
        # Without its Redis Services the page says so, rather than failing blindly.
        assert "cannot reach redis-slave" in page
    finally:
        host.run("docker rm -f netlab-frontend-test")
