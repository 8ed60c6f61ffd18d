"""Fault drills: break one thing on the running lab, time how long it takes to come
back (failing past a generous bound; `make bench` keeps real targets), then see the
lesson's step-2 observations hold again (observations.py).

Each drill first sees the observations hold, so a drill that fails failed on its
own fault. The times are printed at the end of the run (this directory's conftest).
The node the drills break is the first node that is not the control plane (node2 in
the embedded lab). Drills that restart node containers need this machine's Docker
engine: they skip on other inventories (Vagrant machines, your own hosts).
"""

from __future__ import annotations

import ipaddress
import json
import subprocess

import pytest

from netlab_tests import observations
from netlab_tests.hosts import main_pid, nodes_ready

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lesson_step2")]


@pytest.fixture(scope="module")
def worker(lab) -> str:
    return next(name for name in lab.nodes if name not in lab.control_plane)


@pytest.fixture
def green(lab, nodes, kubectl):
    """The lesson's observations hold before the fault."""
    return observations.check(lab, nodes, kubectl)


def container_lab_only(lab) -> None:
    if not lab.container_nodes:
        pytest.skip("restarts node containers on this machine's Docker engine (the embedded lab only)")


def observe_again(recovery, lab, nodes, kubectl) -> observations.Seen:
    seen = observations.check(lab, nodes, kubectl)
    recovery.observed(seen.seconds)
    return seen


def pods_on(kubectl, node: str) -> dict[str, dict]:
    """The default namespace's pods on `node`: name -> {ready, ip, containers: {name: id}}."""
    items = json.loads(kubectl("get", "pods", "-o", "json", "--field-selector", f"spec.nodeName={node}"))["items"]
    return {
        p["metadata"]["name"]: {
            "ready": any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", [])),
            "ip": p["status"].get("podIP", ""),
            "containers": {c["name"]: c.get("containerID", "") for c in p["status"].get("containerStatuses", [])},
        }
        for p in items
    }


def renewed(kubectl, node: str, before: dict[str, dict]) -> bool:
    """Every pod that ran on `node` is Ready again in new containers (the old ones died)."""
    now = pods_on(kubectl, node)
    return bool(before) and all(
        name in now and now[name]["ready"]
        and all(now[name]["containers"].get(c) not in ("", old) for c, old in pod["containers"].items())
        for name, pod in before.items()
    )


def node_agents_up(host) -> bool:
    return all(host.run(f"curl -fsS -m 5 http://127.0.0.1:{port}/healthz").rc == 0 for port in (10248, 10256))


# -- a. one node container restarted -------------------------------------------------

@pytest.mark.bound(240)
def test_a_restarted_node_container_comes_back(lab, nodes, machine, kubectl, worker, green, recovery):
    container_lab_only(lab)
    before = pods_on(kubectl, worker)
    recovery.start()
    machine.check_output("docker restart %s", worker)
    recovery.wait(lambda: node_agents_up(nodes[worker]) and nodes_ready(kubectl, [worker])
                  and renewed(kubectl, worker, before),
                  f"{worker} back: kubelet and kube-proxy healthy, Ready, its pods Ready in new containers")
    observe_again(recovery, lab, nodes, kubectl)


# -- b. dockerd restarted inside a node ----------------------------------------------

@pytest.mark.bound(240)
def test_b_dockerd_restarted_inside_a_node_comes_back(lab, nodes, kubectl, worker, green, recovery):
    host = nodes[worker]
    before = pods_on(kubectl, worker)
    docker_pid = main_pid(host, "docker")
    recovery.start()
    host.check_output("systemctl restart docker")
    recovery.wait(lambda: main_pid(host, "docker") not in (0, docker_pid) and node_agents_up(host)
                  and nodes_ready(kubectl, [worker]) and renewed(kubectl, worker, before),
                  f"Docker back on {worker}, kubelet healthy, its pods Ready in new containers")
    observe_again(recovery, lab, nodes, kubectl)


# -- c. kubelet killed ----------------------------------------------------------------

@pytest.mark.bound(180)
def test_c_a_killed_kubelet_is_brought_back_by_systemd(lab, nodes, kubectl, worker, green, recovery):
    host = nodes[worker]
    before = pods_on(kubectl, worker)
    pid = main_pid(host, "kubelet")
    assert pid
    recovery.start()
    host.check_output("kill -KILL %s", str(pid))
    recovery.wait(lambda: main_pid(host, "kubelet") not in (0, pid)
                  and host.run("curl -fsS -m 5 http://127.0.0.1:10248/healthz").rc == 0
                  and nodes_ready(kubectl, [worker]),
                  f"kubelet on {worker} with a new MainPID, healthy, the node Ready")
    # Its pods kept running meanwhile: the same containers, not new ones.
    assert {n: p["containers"] for n, p in pods_on(kubectl, worker).items()} == \
        {n: p["containers"] for n, p in before.items()}
    observe_again(recovery, lab, nodes, kubectl)


# -- d. kube-proxy killed -------------------------------------------------------------

@pytest.mark.bound(180)
def test_d_a_killed_kube_proxy_comes_back_and_its_service_rules_work(lab, nodes, kubectl, worker, green, recovery):
    host = nodes[worker]
    pid = main_pid(host, "kube-proxy")
    assert pid
    recovery.start()
    host.check_output("kill -KILL %s", str(pid))
    # SIGKILL leaves its rules behind: empty the entry chain too, so only a kube-proxy
    # that runs again can make the Service work on this node.
    host.check_output("iptables -w -t nat -F KUBE-SERVICES")
    endpoints = {f"{p.ip}:80" for p in green.frontends}
    recovery.wait(lambda: main_pid(host, "kube-proxy") not in (0, pid)
                  and host.run("curl -fsS -m 5 http://127.0.0.1:10256/healthz").rc == 0
                  and observations.dnat_targets(host, green.cluster_ip) == endpoints
                  and host.run("curl -fsS -m 5 http://%s/", green.cluster_ip).rc == 0,
                  f"kube-proxy on {worker} with a new MainPID, its chains for {green.cluster_ip} back, "
                  "the cluster IP answering from the node")
    observe_again(recovery, lab, nodes, kubectl)


# -- e. kube-apiserver and etcd restarted ---------------------------------------------

@pytest.mark.bound(240)
def test_e_a_restarted_api_server_and_etcd_come_back(lab, nodes, cp, kubectl, green, recovery):
    units = ("etcd", "kube-apiserver")
    pids = {unit: main_pid(cp, unit) for unit in units}
    recovery.start()
    cp.check_output("systemctl restart %s %s", *units)
    recovery.wait(lambda: all(main_pid(cp, u) not in (0, pids[u]) for u in units)
                  and kubectl("get", "--raw", "/readyz") == "ok"
                  and nodes_ready(kubectl, lab.nodes),
                  "etcd and kube-apiserver with new MainPIDs, the API ready, every node Ready")
    observe_again(recovery, lab, nodes, kubectl)


# -- f. all three nodes restarted at once ---------------------------------------------

@pytest.mark.bound(300)
def test_f_all_nodes_restarted_at_once_come_back(lab, nodes, kubectl, green, recovery):
    container_lab_only(lab)
    before = {name: pods_on(kubectl, name) for name in lab.nodes}
    recovery.start()
    restarts = [subprocess.Popen(["docker", "restart", name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True) for name in lab.nodes]
    outs = [(p.wait(), p.stdout.read()) for p in restarts]
    assert all(rc == 0 for rc, _ in outs), outs
    recovery.wait(lambda: kubectl("get", "--raw", "/readyz") == "ok" and nodes_ready(kubectl, lab.nodes)
                  and all(node_agents_up(nodes[n]) and renewed(kubectl, n, before[n]) for n in lab.nodes),
                  "the API ready, every node Ready, every pod Ready in new containers")
    observe_again(recovery, lab, nodes, kubectl)


# -- g. a pod's pause container killed ------------------------------------------------

def sandboxes(host, pod: str) -> list[str]:
    """Running pause (sandbox) containers of the default namespace's `pod` on the node."""
    return host.check_output(
        "docker ps -q --no-trunc --filter label=io.kubernetes.docker.type=podsandbox "
        "--filter label=io.kubernetes.pod.namespace=default --filter label=io.kubernetes.pod.name=%s", pod,
    ).split()


@pytest.mark.bound(180)
def test_g_a_killed_pause_container_is_replaced_by_a_new_sandbox(lab, nodes, kubectl, worker, green, recovery):
    host = nodes[worker]
    pod = next(p for p in green.frontends if p.node == worker)
    old = sandboxes(host, pod.name)
    assert len(old) == 1, old
    before = pods_on(kubectl, worker)
    recovery.start()
    host.check_output("docker kill %s", old[0])

    def new_sandbox():
        now = sandboxes(host, pod.name)
        state = pods_on(kubectl, worker).get(pod.name)
        return (len(now) == 1 and now[0] != old[0] and state and state["ready"] and state["ip"]
                and renewed(kubectl, worker, {pod.name: before[pod.name]}) and (now[0], state["ip"]))

    sandbox, ip = recovery.wait(new_sandbox, f"{pod.name} on {worker} in a new sandbox, Ready again")
    assert ipaddress.ip_address(ip) in lab.nodes[worker].pod_subnet, (ip, lab.nodes[worker].pod_subnet)
    print(f"{pod.name}: sandbox {old[0][:12]} -> {sandbox[:12]}, IP {pod.ip} -> {ip}")
    observe_again(recovery, lab, nodes, kubectl)
