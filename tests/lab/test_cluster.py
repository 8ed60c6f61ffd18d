"""Lab step "cluster": so far, etcd from Debian on the control-plane node."""

from __future__ import annotations

import json


def test_etcd_3_4_runs_healthy_on_the_control_plane(lab, nodes):
    for name in lab.control_plane:
        host = nodes[name]
        assert host.service("etcd").is_running
        assert host.service("etcd").is_enabled
        version = json.loads(host.check_output("curl -fsS http://127.0.0.1:2379/version"))
        assert version["etcdserver"].startswith("3.4.")
        assert json.loads(host.check_output("curl -fsS http://127.0.0.1:2379/health"))["health"] == "true"


def test_etcd_runs_on_the_control_plane_only(lab, nodes, node_name):
    if node_name not in lab.control_plane:
        assert not nodes[node_name].service("etcd").is_running
