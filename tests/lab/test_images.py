"""The lab's images: built here, served by the depot's registry, and pulled by the
nodes under their Docker Hub names (the chapter's manifest runs unchanged) without
any traffic leaving this machine; every copy a node pulls or runs is the build this
machine pushed (the digests lab_images recorded)."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest

from netlab_tests.ansible import ansible_value
from netlab_tests.lab import REPO
from netlab_tests.sentinel import guard_drop_counters
from netlab_tests.wait import wait_until

FRONTEND = "kubeguide/guestbook-php-frontend"


@pytest.fixture(scope="session")
def images() -> list[str]:
    """The images tools/build-images makes, by name."""
    out = subprocess.run(
        [str(REPO / "tools/build-images"), "--tags"], check=True, capture_output=True, text=True
    ).stdout
    return [line.split()[0] for line in out.splitlines()]


@pytest.fixture(scope="session")
def node_refs(lab, pushed) -> list[str]:
    """Every reference a node pulls a lab image by: each pushed name by its Docker Hub name
    (through the mirror), and those the inventory has it pull from the depot by its
    address (kubelet's pause image)."""
    direct = ansible_value(lab, next(iter(lab.nodes)), "{{ lab_images_node_refs }}")
    return sorted(ref for ref in pushed if ":recipe-" not in ref) + direct


def with_tag(ref: str) -> str:
    return ref if ":" in ref.rsplit("/", 1)[-1] else ref + ":latest"


def name_of(ref: str, registry: str) -> str:
    """The pushed name behind a reference: without the depot's address, with its tag."""
    return with_tag(ref.removeprefix(registry + "/"))


def repository(ref: str) -> str:
    """A reference's repository, as Docker lists it (with the registry's address, if any)."""
    return ref.split("@", 1)[0] if "@" in ref else with_tag(ref).rsplit(":", 1)[0]


def repo_digest(ref: str, pushed: dict[str, str], registry: str) -> str:
    """`<repository>@<digest>` as Docker lists it in RepoDigests, for the pushed build."""
    return f"{repository(ref)}@{pushed[name_of(ref, registry)]}"


def test_the_chapters_images_are_built_here(images):
    assert {FRONTEND + ":latest", "kubeguide/redis-master:latest",
            "kubeguide/guestbook-redis-slave:latest", "google_containers/pause:3.4"} <= set(images)


def test_registry_serves_every_image(registry, images):
    for image in images:
        repo, tag = image.rsplit(":", 1)
        with urllib.request.urlopen(f"http://{registry}/v2/{repo}/tags/list", timeout=10) as reply:
            assert tag in json.load(reply)["tags"], image


def guard_drops(machine) -> int:
    return sum(guard_drop_counters(machine).values())


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


def test_the_record_holds_every_image_the_builder_makes(images, pushed, node_refs, registry):
    assert set(images) <= set(pushed)
    assert all(name_of(ref, registry) in pushed for ref in node_refs)


def test_registry_serves_every_image_at_the_pushed_digest(registry, pushed):
    for ref, digest in pushed.items():
        repo, tag = ref.rsplit(":", 1)
        request = urllib.request.Request(
            f"http://{registry}/v2/{repo}/manifests/{tag}", method="HEAD",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            assert reply.headers["Docker-Content-Digest"] == digest, ref


def test_every_image_the_node_pulls_or_runs_is_the_pushed_build(nodes, node_name, node_refs, pushed, registry):
    host = nodes[node_name]
    for ref in node_refs:
        host.check_output("docker pull --quiet %s", ref)
        digests = json.loads(host.check_output("docker image inspect --format '{{json .RepoDigests}}' %s", ref))
        assert repo_digest(ref, pushed, registry) in digests, f"{node_name}: {ref} is {digests}"
    # The containers it runs (the pods' pause and app containers; kubelet names an app
    # container's image <repository>@<digest>), by the image they run.
    for container in host.check_output("docker ps -q --no-trunc").split():
        image, config_image = host.check_output(
            "docker inspect --format '{{.Image}} {{.Config.Image}}' %s", container).split()
        repo = repository(config_image)
        wanted = {digest for ref, digest in pushed.items()
                  if ":recipe-" not in ref and ref.rsplit(":", 1)[0] == repo.removeprefix(registry + "/")}
        if not wanted:
            continue  # not one of the lab's images
        if "@" in config_image:
            assert config_image.split("@", 1)[1] in wanted, f"{node_name}: a container runs {config_image}"
        digests = json.loads(host.check_output("docker image inspect --format '{{json .RepoDigests}}' %s", image))
        assert any(f"{repo}@{digest}" in digests for digest in wanted), \
            f"{node_name}: a container of {config_image} runs {digests}, not {repo}@{' or '.join(sorted(wanted))}"


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


def test_guestbook_images_work_together_write_to_master_read_from_slave(lab, nodes):
    """Before Kubernetes: the three images wired by hand the way Services will wire
    them (GET_HOSTS_FROM=env). A message written through the frontend goes to
    redis-master and is read back from the replicating redis-slave."""
    host = nodes[list(lab.nodes)[-1]]
    names = ["netlab-gb-master", "netlab-gb-slave", "netlab-gb-frontend"]
    host.run("docker rm -f %s %s %s", *names)

    def ip_of(name):
        return host.check_output("docker inspect -f '{{.NetworkSettings.IPAddress}}' %s", name)

    try:
        host.check_output("docker run -d --name %s kubeguide/redis-master", names[0])
        master = ip_of(names[0])
        host.check_output(
            "docker run -d --name %s -e GET_HOSTS_FROM=env -e REDIS_MASTER_SERVICE_HOST=%s "
            "kubeguide/guestbook-redis-slave", names[1], master,
        )
        slave = ip_of(names[1])
        host.check_output(
            "docker run -d --name %s -e GET_HOSTS_FROM=env -e REDIS_MASTER_SERVICE_HOST=%s "
            "-e REDIS_SLAVE_SERVICE_HOST=%s %s", names[2], master, slave, FRONTEND,
        )
        frontend = ip_of(names[2])
        base = f"http://{frontend}/guestbook.php"
        written = json.loads(host.check_output(
            "curl -fsS --retry 5 --retry-connrefused --retry-delay 1 %s", f"{base}?cmd=set&value=hello+from+the+lab"
        ))
        assert written["count"] >= 1
        read = wait_until(
            lambda: "hello from the lab"
            in json.loads(host.check_output("curl -fsS %s", f"{base}?cmd=get"))["messages"],
            timeout=30, what="the message to reach redis-slave",
        )
        assert read
        role = host.check_output("docker exec %s redis-cli info replication", names[1])
        assert "role:slave" in role and "master_link_status:up" in role
    finally:
        host.run("docker rm -f %s %s %s", *names)
