"""Drill: reset the nodes (playbooks/reset.yml), then converge them again.

A reset without confirmation refuses and changes nothing. A confirmed reset
leaves no trace of the lab on any node - no lab unit running or installed, none
of the lab's files, no KUBE-* chain, no route of the lab's protocol, Docker
stopped with no daemon.json, no data and no bridge - while what the lab did not
make stays: the node's other interfaces, routes and iptables rules, its
connection (and sshd as it was), the node containers, the depot and the egress
guard. A second reset changes nothing. Then site.yml converges the nodes again:
every node Ready, kube-system fine, and a pod on each node gets an address from
its node's pod subnet. The converge also runs when a check fails halfway, so the
lab is left converged. `make drills` runs this; the lesson's suite after it
proves the lesson green on the converged lab.

What the lab makes is read from its roles (their defaults, unit templates and
fixed names) and the inventory, as the reset role reads it; none of it is
restated here.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from netlab_tests.ansible import playbook_run, run_playbook
from netlab_tests.lab import REPO
from netlab_tests.lab import hostvars as inventory_hostvars
from netlab_tests.lesson import kubectl_apply
from netlab_tests.sentinel import guard_check
from netlab_tests.wait import wait_until

# Generous bounds: the drill fails past them; `make bench` keeps the real targets.
RESET_S = 600
CONVERGE_S = 1200
TEST_NS = "netlab-reset-test"

ROLES = REPO / "roles"
# The roles that run on the nodes, and the units they install as their own files.
NODE_ROLES = ("common", "docker", "pod_routes", "download", "pki", "etcd", "control_plane",
              "kubelet", "kube_proxy", "workloads")
LAB_UNITS = sorted(p.name.removesuffix(".j2") for role in NODE_ROLES
                   for p in (ROLES / role / "templates").glob("*.service.j2"))
# Debian's units the lab enables (etcd-server's, docker.io's): they stay installed,
# stopped and disabled, as the node image ships them.
PACKAGE_UNITS = ("etcd.service", "docker.service", "docker.socket")
DOCKER_BRIDGE = "docker0"
DAEMON_JSON = "/etc/docker/daemon.json"
DOCKER_ROOT = "/var/lib/docker"  # Docker's default data root (a volume on a container node)
# What kubelet v1.20 with dockershim makes by itself (checkpoints, pod logs).
KUBELET_MADE = ("/var/lib/dockershim", "/var/log/pods", "/var/log/containers")
RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def role_vars(role: str, kind: str = "defaults") -> dict:
    path = ROLES / role / kind / "main.yml"
    return yaml.safe_load(path.read_text()) or {} if path.exists() else {}


@pytest.fixture(scope="module")
def hostvars(lab) -> dict:
    return inventory_hostvars(lab.inventory)


@pytest.fixture(scope="module")
def made(lab, hostvars):
    """What the lab's roles make on a node, by node: their defaults, the inventory's values winning."""
    defaults: dict = {}
    for role in NODE_ROLES:
        defaults.update(role_vars(role))
    defaults.update(role_vars("pod_routes", "vars"))

    def on(name: str) -> dict:
        v = {**defaults, **{k: val for k, val in hostvars[name].items() if k in defaults}}
        paths = [v["etcd_data_dir"], v["kubelet_data_dir"], v["kube_proxy_data_dir"], v["pki_dir"],
                 v["download_staging_dir"], v["workloads_manifest_dir"], v["common_sysctl_file"],
                 v["pod_routes_config"], v["pod_routes_script"], DAEMON_JSON,
                 f"/etc/iproute2/rt_protos.d/{v['pod_routes_proto_name']}.conf",
                 *(f"{v['download_bin_dir']}/{a['name']}" for a in v["download_artifacts"]),
                 *(f"/etc/systemd/system/{unit}" for unit in LAB_UNITS), *KUBELET_MADE]
        return {"paths": paths, "kubeconfig_dir": v["pki_kubeconfig_dir"],
                "proto": int(v["pod_routes_proto_id"])}

    return {name: on(name) for name in lab.nodes}


def unit_states(host, units) -> dict[str, dict[str, str]]:
    out = host.check_output("systemctl show --property=Id,LoadState,ActiveState,UnitFileState,DropInPaths "
                            + " ".join(units))
    blocks = [dict(re.findall(r"(?m)^(\w+)=(.*)$", b)) for b in out.strip().split("\n\n")]
    return {b["Id"]: b for b in blocks}


def existing(host, paths) -> list[str]:
    """Those of the paths that exist on the host (one command: `ls -d` prints only those)."""
    return host.run("ls -d -- " + " ".join(shlex.quote(p) for p in paths)).stdout.split()


def interfaces(host) -> dict[str, tuple]:
    """Every interface but Docker's bridge and the pods' veths: name -> (addresses, MTU, state)."""
    links = json.loads(host.check_output("ip -j addr show"))
    return {link["ifname"]: (sorted(f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])),
                             link["mtu"], link["operstate"])
            for link in links
            if link["ifname"] != DOCKER_BRIDGE and link.get("master") != DOCKER_BRIDGE
            and not link["ifname"].startswith("veth")}


def routes(host, proto: int | None = None) -> list[dict]:
    args = "ip -j route show table all" + (f" proto {proto}" if proto is not None else "")
    return json.loads(host.check_output(args) or "[]")


def other_routes(host, proto: int) -> set[tuple]:
    """Every route (v4 and v6, every table) but the lab's protocol's and those through Docker's bridge."""
    found = set()
    for family in ("-4", "-6"):
        for r in json.loads(host.run(f"ip -j {family} route show table all").stdout or "[]"):
            if r.get("protocol") in (str(proto), "netlab") or r.get("dev") == DOCKER_BRIDGE:
                continue
            found.add(tuple(str(r.get(k)) for k in ("type", "dst", "gateway", "dev", "protocol", "table", "scope")))
    return found


def iptables_lines(host, tool: str) -> list[str]:
    return host.check_output(f"{tool}-save").splitlines()


def other_rules(host) -> dict[str, set[str]]:
    """Every table, chain and rule of iptables and ip6tables that is not kubelet's or kube-proxy's (no counters)."""
    return {tool: {re.sub(r"\[\d+:\d+\]", "", line) for line in iptables_lines(host, tool)
                   if not line.startswith("#") and "KUBE-" not in line}
            for tool in ("iptables", "ip6tables")}


def kube_chains(host) -> list[str]:
    return [line for tool in ("iptables", "ip6tables") for line in iptables_lines(host, tool) if "KUBE-" in line]


def containers(machine, names) -> dict[str, tuple]:
    return {n: tuple(machine.check_output("docker inspect -f '{{.State.Running}} {{.State.StartedAt}}' %s", n).split())
            for n in names}


def snapshot(lab, nodes, made) -> dict:
    return {name: {"units": unit_states(host, LAB_UNITS + list(PACKAGE_UNITS)),
                   "ssh": unit_states(host, ["ssh.service"])["ssh.service"],
                   "paths": existing(host, made[name]["paths"]),
                   "interfaces": interfaces(host),
                   "other_routes": other_routes(host, made[name]["proto"]),
                   "lab_routes": routes(host, made[name]["proto"]),
                   "other_rules": other_rules(host),
                   "kube_chains": kube_chains(host)}
            for name, host in nodes.items()}


def changed_by_host(output: str) -> dict[str, int]:
    recap = output[output.rindex("PLAY RECAP"):]
    return {m.group(1): int(m.group(2)) for m in RECAP.finditer(recap)}


def admin_export(lab, hostvars) -> Path | None:
    """The admin kubeconfig the pki role exports to this machine, if the inventory asks for one."""
    value = hostvars[lab.control_plane[0]].get("pki_admin_kubeconfig_export", "")
    value = value.replace("{{ playbook_dir | dirname }}", str(REPO))
    return Path(value) if value else None


def reset_unconfirmed(lab) -> subprocess.CompletedProcess:
    """reset.yml as a script runs it: no terminal to ask on, no reset_confirm."""
    return playbook_run(lab, "reset.yml")  # its stdin: /dev/null


@pytest.fixture(autouse=True)
def _container_lab_only(lab):
    if not lab.container_nodes:
        pytest.skip("the drill resets and converges the embedded lab's nodes")


# -- without confirmation: refused, nothing changed ------------------------------------

def test_a_reset_without_confirmation_refuses_and_changes_nothing(lab, nodes, made):
    before = snapshot(lab, nodes, made)
    proc = reset_unconfirmed(lab)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "Nothing was reset" in proc.stdout and "reset_confirm=yes" in proc.stdout, proc.stdout[-3000:]
    assert set(changed_by_host(proc.stdout).values()) <= {0}, proc.stdout[-3000:]
    after = snapshot(lab, nodes, made)
    for name in lab.nodes:
        # The lab is all there: its units run, its files, routes and chains are in place.
        assert after[name]["units"]["kubelet.service"]["ActiveState"] == "active"
        assert after[name]["lab_routes"] and after[name]["kube_chains"] and after[name]["paths"]
        # (kube-proxy rewrites its own rules as it syncs: those are not compared.)
        assert {k: v for k, v in after[name].items() if k not in ("units", "kube_chains")} == \
            {k: v for k, v in before[name].items() if k not in ("units", "kube_chains")}


# -- the reset ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reset(lab, nodes, made, machine):
    """Reset once (timed), with the state before; converge in the end, whatever failed."""
    machines = [*lab.nodes, *lab.services]
    before = snapshot(lab, nodes, made)
    state = {"before": before, "containers": containers(machine, machines),
             "guard": guard_check(machine).rc, "converged": False}
    for name in lab.nodes:  # a reset of a lab that is there: each check below can fail
        assert before[name]["paths"] and before[name]["kube_chains"] and before[name]["lab_routes"], name
    try:
        start = time.monotonic()
        state["output"] = run_playbook(lab, "reset.yml", "-e", "reset_confirm=yes")
        state["reset_s"] = time.monotonic() - start
        print(f"reset in {state['reset_s']:.0f} s, changed by host: {changed_by_host(state['output'])}")
        yield state
    finally:
        if not state["converged"]:
            proc = playbook_run(lab, "site.yml")
            assert proc.returncode == 0, f"converging after the reset failed:\n{proc.stdout[-4000:]}"


def test_the_reset_ran_within_bounds(reset):
    assert reset["reset_s"] < RESET_S


def test_no_lab_unit_is_active_or_installed(lab, nodes, reset, node_name):
    states = unit_states(nodes[node_name], LAB_UNITS + list(PACKAGE_UNITS))
    for unit in LAB_UNITS:
        assert states[unit]["LoadState"] == "not-found", (unit, states[unit])
        assert states[unit]["ActiveState"] == "inactive", (unit, states[unit])
    for unit in PACKAGE_UNITS:  # the package's unit stays, stopped and disabled
        assert states[unit]["ActiveState"] == "inactive", (unit, states[unit])
        assert states[unit]["UnitFileState"] in ("disabled", ""), (unit, states[unit])
        # The node image ships no drop-in for them: the lab's are gone.
        assert states[unit]["DropInPaths"] == "", (unit, states[unit])


def test_the_labs_files_and_directories_are_gone(lab, nodes, made, reset, hostvars, node_name):
    host = nodes[node_name]
    assert existing(host, made[node_name]["paths"]) == []
    assert host.run("find %s -name '*.kubeconfig'", made[node_name]["kubeconfig_dir"]).stdout == ""
    assert host.file(DOCKER_ROOT).is_directory  # a volume: it stays, empty
    assert host.check_output("ls -A %s", DOCKER_ROOT) == ""
    etcd_env = host.file("/etc/default/etcd")
    assert not etcd_env.exists or not re.search(r"(?m)^\s*ETCD_", etcd_env.content_string)
    export = admin_export(lab, hostvars)
    assert export is None or not export.exists()


def test_no_kube_chain_and_every_other_rule_stays(lab, nodes, reset, node_name):
    host = nodes[node_name]
    assert kube_chains(host) == []
    assert other_rules(host) == reset["before"][node_name]["other_rules"]


def test_no_lab_route_and_every_other_route_stays(lab, nodes, made, reset, node_name):
    host = nodes[node_name]
    assert routes(host, made[node_name]["proto"]) == []
    assert other_routes(host, made[node_name]["proto"]) == reset["before"][node_name]["other_routes"]


def test_docker_is_stopped_without_the_labs_configuration_or_bridge(lab, nodes, reset, node_name):
    host = nodes[node_name]
    assert not host.file(DAEMON_JSON).exists
    assert host.run("ip link show dev %s", DOCKER_BRIDGE).rc != 0
    assert host.run("systemctl is-active --quiet docker").rc != 0


def test_what_the_lab_did_not_make_stays(lab, nodes, machine, reset, node_name):
    host = nodes[node_name]
    assert host.run("true").rc == 0  # the connection works
    assert unit_states(host, ["ssh.service"])["ssh.service"] == reset["before"][node_name]["ssh"]
    assert interfaces(host) == reset["before"][node_name]["interfaces"]
    # The node containers and the depot run on, never restarted; the guard is as saved.
    assert containers(machine, [*lab.nodes, *lab.services]) == reset["containers"]
    assert guard_check(machine).rc == reset["guard"] == 0


def test_a_second_reset_changes_nothing(lab, reset):
    out = run_playbook(lab, "reset.yml", "-e", "reset_confirm=yes")
    changed = changed_by_host(out)
    print(f"second reset: changed by host {changed}")
    assert set(lab.nodes) <= set(changed) and set(changed.values()) == {0}, out[-4000:]


# -- converge again ------------------------------------------------------------------------

def test_a_converge_brings_the_cluster_back(lab, nodes, cp, kubectl, reset):
    start = time.monotonic()
    run_playbook(lab, "site.yml")
    converge_s = time.monotonic() - start
    reset["converged"] = True
    print(f"converge after the reset in {converge_s:.0f} s")
    assert converge_s < CONVERGE_S

    items = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    ready = {i["metadata"]["name"] for i in items
             for c in i["status"]["conditions"] if c["type"] == "Ready" and c["status"] == "True"}
    assert ready == set(lab.nodes)
    system = json.loads(kubectl("get", "pods", "-n", "kube-system", "-o", "json"))["items"]
    assert [p["metadata"]["name"] for p in system if p["status"].get("phase") not in ("Running", "Succeeded")] == []

    # A pod on each node gets an address from that node's pod subnet (the pause image
    # kubelet runs every pod's sandbox from: on the node already).
    image = re.search(r"--pod-infra-container-image=(\S+)", cp.check_output("systemctl cat kubelet")).group(1)
    cp.run("kubectl --kubeconfig %s delete namespace %s --wait=true", lab.admin_kubeconfig, TEST_NS)
    kubectl("create", "namespace", TEST_NS)
    try:
        for name in lab.nodes:
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": f"after-reset-{name}", "namespace": TEST_NS},
                   "spec": {"nodeName": name, "containers": [{"name": "pause", "image": image}]}}
            kubectl_apply(cp, lab, pod)

        def addresses():
            pods = json.loads(kubectl("get", "pods", "-n", TEST_NS, "-o", "json"))["items"]
            ips = {p["spec"]["nodeName"]: p["status"].get("podIP") for p in pods
                   if p["status"].get("phase") == "Running"}
            return ips if len(ips) == len(lab.nodes) and all(ips.values()) else None

        ips = wait_until(addresses, timeout=120, what="a running pod with an address on every node")
        for name, ip in ips.items():
            assert ipaddress.ip_address(ip) in lab.nodes[name].pod_subnet, (name, ip)
    finally:
        cp.run("kubectl --kubeconfig %s delete namespace %s --wait=true", lab.admin_kubeconfig, TEST_NS)
