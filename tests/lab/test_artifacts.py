"""Lab step "artifacts": every node holds exactly its Kubernetes binaries (the
release the inventory names, netlab_kube_version, in netlab_bin_dir), each
byte-identical to the mirror's and verified by sha256 before it was installed."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from netlab_tests.ansible import playbook_run
from netlab_tests.lab import REPO

CONTROL_PLANE = ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]
NODE = ["kubelet", "kube-proxy"]
ALL = CONTROL_PLANE + NODE + ["kubectl"]


@pytest.fixture(scope="session")
def mirror(lab) -> Path:
    """This machine's artifact mirror (what tools/build-kubernetes built)."""
    out = subprocess.run(
        [str(REPO / "tools/build-kubernetes"), "--mirror"], check=True, capture_output=True, text=True
    ).stdout.strip()
    return Path(out) / "release" / lab.kube_version / "bin" / "linux" / "amd64"


@pytest.fixture(scope="session")
def mirror_url(lab) -> str:
    depot = lab.services["depot"]
    return f"http://{depot}/release/{lab.kube_version}/bin/linux/amd64"


def expected_binaries(lab, node_name: str) -> set[str]:
    names = set(NODE) | {"kubectl"}
    if node_name in lab.control_plane:
        names |= set(CONTROL_PLANE)
    return names


def test_mirror_has_every_binary_with_its_sha256(mirror):
    for name in ALL:
        data = (mirror / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == (mirror / f"{name}.sha256").read_text().strip()


def test_mirror_binaries_are_kubernetes_v1_20_2(lab, mirror):
    for name in ALL:
        args = ["version", "--client", "--short"] if name == "kubectl" else ["--version"]
        out = subprocess.run([str(mirror / name), *args], check=True, capture_output=True, text=True).stdout
        assert lab.kube_version in out, f"{name}: {out}"


def test_node_holds_exactly_its_binaries(lab, nodes, node_name):
    host = nodes[node_name]
    present = {name for name in ALL if host.file(f"{lab.bin_dir}/{name}").exists}
    assert present == expected_binaries(lab, node_name)


def test_node_binaries_match_the_mirrors_published_sha256(lab, nodes, node_name, mirror_url):
    host = nodes[node_name]
    for name in sorted(expected_binaries(lab, node_name)):
        published = host.check_output("curl -fsS %s", f"{mirror_url}/{name}.sha256").strip()
        assert host.file(f"{lab.bin_dir}/{name}").sha256sum == published, name
        assert host.file(f"{lab.bin_dir}/{name}").mode == 0o755


def test_kubelet_on_every_node_is_v1_20_2(lab, nodes, node_name):
    assert nodes[node_name].check_output(f"{lab.bin_dir}/kubelet --version") == f"Kubernetes {lab.kube_version}"


@pytest.fixture
def corrupted_prefix(mirror, lab):
    """A scratch release tree on the mirror whose kubectl does not match its .sha256."""
    root = mirror.parents[4] / "corrupted-for-test"
    target = root / lab.kube_version / "bin" / "linux" / "amd64"
    target.mkdir(parents=True, exist_ok=True)
    good = (mirror / "kubectl").read_bytes()
    (target / "kubectl").write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))
    (target / "kubectl.sha256").write_text((mirror / "kubectl.sha256").read_text())
    try:
        yield f"http://{lab.services['depot']}/{root.name}"
    finally:
        for f in target.iterdir():
            f.unlink()
        for d in [target, *target.parents]:
            if d == root.parent:
                break
            d.rmdir()


def test_a_checksum_mismatch_stops_the_run_and_installs_nothing(lab, nodes, corrupted_prefix):
    node_name = list(lab.nodes)[-1]
    dest = "/tmp/netlab-checksum-test"
    host = nodes[node_name]
    # A scratch bin dir and a scratch staging dir: the real staging dir already holds
    # a verified kubectl, which get_url would (rightly) not fetch again.
    host.run("rm -rf %s && mkdir -p %s/bin", dest, dest)
    extra = json.dumps({
        "download_url_prefix": corrupted_prefix, "download_bin_dir": f"{dest}/bin",
        "download_staging_dir": f"{dest}/staging", "download_artifacts": [{"name": "kubectl", "groups": ["nodes"]}],
    })
    result = playbook_run(lab, "artifacts.yml", "--limit", node_name, "--extra-vars", extra, timeout=300)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output
    assert "does not match" in output or "checksum" in output.lower(), output
    assert host.run("ls -A %s/bin", dest).stdout.strip() == "", "something was installed"
    assert not host.file(f"{dest}/staging/{lab.kube_version}/kubectl").exists, "the corrupt file was kept"
    host.run("rm -rf %s", dest)
