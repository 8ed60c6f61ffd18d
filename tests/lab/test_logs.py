"""`make logs` (playbooks/logs.yml): every node's journals and state land on this machine.

The collection runs into a temporary directory; each node must have the journals of
its units, written by the processes themselves (a journal line names its process),
and `docker ps -a`; the control plane also the cluster's events.
"""

from __future__ import annotations

import pytest

from netlab_tests.ansible import run_playbook

# unit -> the process name its journal lines carry
NODE_UNITS = {"kubelet": "kubelet", "kube-proxy": "kube-proxy", "docker": "dockerd"}
CONTROL_PLANE_UNITS = {
    "etcd": "etcd",
    "kube-apiserver": "kube-apiserver",
    "kube-controller-manager": "kube-controller-manager",
    "kube-scheduler": "kube-scheduler",
}


@pytest.fixture(scope="module")
def logs(lab, tmp_path_factory):
    where = tmp_path_factory.mktemp("logs")
    run_playbook(lab, "logs.yml", "-e", f"logs_dir={where}")
    return where


def test_every_node_hands_over_its_journals(lab, logs, node_name):
    units = dict(NODE_UNITS)
    if node_name in lab.control_plane:
        units.update(CONTROL_PLANE_UNITS)
    for unit, process in units.items():
        journal = logs / node_name / f"journal-{unit}.log"
        assert journal.is_file(), f"{node_name}: no journal of {unit} in {logs / node_name}"
        assert f" {process}[" in journal.read_text(), f"{node_name}: {journal} has no line from {process}"


def test_every_node_hands_over_docker_ps_and_routes(lab, logs, node_name):
    assert "CONTAINER ID" in (logs / node_name / "docker-ps.txt").read_text()
    assert str(lab.nodes[node_name].pod_subnet) in (logs / node_name / "ip-route.txt").read_text()


def test_the_control_plane_hands_over_the_cluster_events(lab, logs):
    for name in lab.control_plane:
        nodes = (logs / name / "kubectl-nodes.txt").read_text()
        assert all(node in nodes for node in lab.nodes), nodes
        assert (logs / name / "kubectl-events.txt").is_file()
