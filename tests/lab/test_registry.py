"""The depot's registry is read-only: nothing on the lab network (a node, or this
machine) can push or delete, pulls still work, and what it serves is what this
machine pushed. lab_images makes it writable only while it pushes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

REFUSED = {401, 403, 405, 503}  # read-only distribution 2.8 answers 405 (Allow: GET, HEAD)
SCRATCH = "netlab-test/push-refused"  # a repository nobody pushed


@pytest.fixture(scope="session")
def image(pushed) -> tuple[str, str, str]:
    """One pushed image: its repository, tag and manifest digest."""
    ref = sorted(ref for ref in pushed if ":recipe-" not in ref)[0]
    repo, tag = ref.rsplit(":", 1)
    return repo, tag, pushed[ref]


def status_from(host, method: str, url: str, *curl_args: str) -> int:
    """The HTTP status a request from a node gets."""
    return int(host.check_output(
        "curl -s -o /dev/null -w '%%{http_code}' -X %s " + " ".join(["%s"] * len(curl_args)) + " %s",
        method, *curl_args, url,
    ))


def write_requests(registry, image):
    """Every kind of write: start a blob upload (the first step of a push, into a pushed
    repository and into a new one), put a manifest over a tag, delete a manifest and a blob."""
    repo, tag, digest = image
    base = f"http://{registry}/v2"
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"})
    return {
        "blob upload": ("POST", f"{base}/{repo}/blobs/uploads/", ()),
        "blob upload, new repository": ("POST", f"{base}/{SCRATCH}/blobs/uploads/", ()),
        "manifest put": ("PUT", f"{base}/{repo}/manifests/{tag}",
                         ("-H", "Content-Type: application/vnd.docker.distribution.manifest.v2+json",
                          "--data", manifest)),
        "manifest delete": ("DELETE", f"{base}/{repo}/manifests/{digest}", ()),
        "blob delete": ("DELETE", f"{base}/{repo}/blobs/{digest}", ()),
    }


def test_a_node_can_neither_push_nor_delete(nodes, node_name, registry, image):
    host = nodes[node_name]
    answers = {what: status_from(host, method, url, *args)
               for what, (method, url, args) in write_requests(registry, image).items()}
    assert all(code in REFUSED for code in answers.values()), f"{node_name} got {answers}"


def test_docker_push_from_a_node_is_refused_and_leaves_nothing(nodes, node_name, registry, image):
    host = nodes[node_name]
    repo, tag, _ = image
    scratch = f"{registry}/{SCRATCH}:{node_name}"
    host.check_output("docker pull --quiet %s/%s:%s", registry, repo, tag)
    host.check_output("docker tag %s/%s:%s %s", registry, repo, tag, scratch)
    try:
        push = host.run("docker push %s", scratch)
    finally:
        host.run("docker rmi %s", scratch)
    assert push.rc != 0, push.stdout
    assert status_from(host, "GET", f"http://{registry}/v2/{SCRATCH}/tags/list") == 404


def test_this_machine_cannot_push_either(registry, image):
    """This machine is on the lab network too: outside lab_images' push, it is refused."""
    repo, _, _ = image
    request = urllib.request.Request(f"http://{registry}/v2/{repo}/blobs/uploads/", method="POST", data=b"")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code in REFUSED


def test_a_node_still_pulls_and_gets_the_pushed_digest(nodes, node_name, registry, image):
    host = nodes[node_name]
    repo, tag, digest = image
    headers = host.check_output(
        "curl -fsS -I -H %s http://%s/v2/%s/manifests/%s",
        "Accept: application/vnd.docker.distribution.manifest.v2+json", registry, repo, tag,
    )
    assert f"docker-content-digest: {digest}" in headers.lower()
    manifest = json.loads(host.check_output("curl -fsS -H %s http://%s/v2/%s/manifests/%s",
                                            "Accept: application/vnd.docker.distribution.manifest.v2+json",
                                            registry, repo, tag))
    for layer in manifest["layers"]:
        assert status_from(host, "HEAD", f"http://{registry}/v2/{repo}/blobs/{layer['digest']}", "-I") == 200
