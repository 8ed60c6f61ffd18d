"""The lab's units come back: every long-running unit restarts whenever it exits
(`Restart=always`), with no start limit a flapping dependency could exhaust
(`StartLimitIntervalUSec=0`), ordered after what it needs and pulling it in with
Wants= (never Requires=: a dependency that fails to start once would leave the unit
stopped for good). The boot-time route applier is a oneshot that stays active.

The expected units come from the roles and the inventory's groups: kubelet, kube-proxy
and Docker on every node; etcd and the control-plane components (the control_plane
role's own list) on the control_plane group. Read with `systemctl show` over the same
connection Ansible uses (docker exec on the embedded lab, SSH on Vagrant machines).
"""

from __future__ import annotations

import pytest
import yaml

from netlab_tests.lab import REPO

# unit -> what it is ordered after and pulls in (Wants=)
NODE_UNITS = {
    "docker": {"containerd.service", "network-online.target"},
    "kubelet": {"docker.service", "network-online.target"},
    "kube-proxy": {"network-online.target"},
}
CONTROL_PLANE_NEEDS = {
    "etcd": {"network-online.target"},
    "kube-apiserver": {"etcd.service", "network-online.target"},
    "kube-controller-manager": {"kube-apiserver.service"},
    "kube-scheduler": {"kube-apiserver.service"},
}
ROUTES_UNIT = "netlab-pod-routes"
PROPERTIES = ("Restart", "StartLimitIntervalUSec", "ActiveState", "SubState", "Type",
              "RemainAfterExit", "Result", "After", "Wants", "Requires", "Before")


def control_plane_units() -> dict[str, set[str]]:
    components = yaml.safe_load((REPO / "roles" / "control_plane" / "vars" / "main.yml").read_text())
    units = {"etcd": CONTROL_PLANE_NEEDS["etcd"]}
    for component in components["control_plane_components"]:
        units[component] = CONTROL_PLANE_NEEDS[component]
    return units


def expected_units(lab, node_name: str) -> dict[str, set[str]]:
    units = dict(NODE_UNITS)
    if node_name in lab.control_plane:
        units.update(control_plane_units())
    return units


def show(host, unit: str) -> dict[str, str]:
    out = host.check_output("systemctl show -p %s %s", ",".join(PROPERTIES), unit)
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return {**props, **{k: set(props.get(k, "").split()) for k in ("After", "Wants", "Requires", "Before")}}


def test_every_lab_unit_comes_back_whenever_it_exits_with_no_start_limit(lab, nodes, node_name):
    wrong = {}
    for unit, needs in expected_units(lab, node_name).items():
        p = show(nodes[node_name], unit)
        problems = []
        if p["Restart"] != "always":
            problems.append(f"Restart={p['Restart']}")
        if p["StartLimitIntervalUSec"] != "0":
            problems.append(f"StartLimitIntervalUSec={p['StartLimitIntervalUSec']} (a start limit)")
        if (p["ActiveState"], p["SubState"]) != ("active", "running"):
            problems.append(f"{p['ActiveState']}/{p['SubState']}")
        if needs - p["After"]:
            problems.append(f"not ordered after {sorted(needs - p['After'])}")
        if needs - p["Wants"] - p["Requires"]:
            problems.append(f"does not pull in {sorted(needs - p['Wants'] - p['Requires'])}")
        # A Requires= on a dependency that restarts: one failed start of it leaves this
        # unit stopped for good (Docker's Requires=docker.socket is a socket, not a daemon).
        hard = {n for n in needs & p["Requires"] if n.endswith(".service")}
        if hard:
            problems.append(f"Requires= {sorted(hard)}")
        if problems:
            wrong[unit] = problems
    assert not wrong, f"{node_name}: {wrong}"


def test_no_control_plane_unit_runs_off_the_control_plane(lab, nodes, node_name):
    if node_name in lab.control_plane:
        pytest.skip(f"{node_name} is the control plane")
    running = {unit for unit in control_plane_units()
               if show(nodes[node_name], unit)["ActiveState"] == "active"}
    assert not running, f"{node_name} runs {sorted(running)}"


def test_the_route_applier_is_a_oneshot_that_ran_before_docker_and_stays_active(nodes, node_name):
    """A oneshot cannot use Restart=always: its effect (the kernel's routes) stays,
    it runs again at every boot, and a converge repairs routes that drift."""
    p = show(nodes[node_name], ROUTES_UNIT)
    assert (p["Type"], p["RemainAfterExit"]) == ("oneshot", "yes"), p
    assert (p["ActiveState"], p["Result"]) == ("active", "success"), p
    assert "docker.service" in p["Before"] and "network-online.target" in p["After"], p
