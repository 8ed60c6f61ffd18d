"""Drill: certificates renewed on a running lab, and the cluster keeps working.

playbooks/certs.yml (`make certs`) runs the pki role: it signs again, for the same key,
each certificate that expires within pki_renew_before_days and each one named in
pki_renew, and its handlers restart exactly the running units that use a renewed
certificate. Two drills:

- the API server's certificate renewed by name: its serial changed on disk, the
  restarted kube-apiserver presents the new one (openssl s_client from the
  control-plane node), nothing else was signed again or restarted, kubectl works and
  every node is Ready; a second run naming nothing changes nothing;
- a certificate near its end (kube-proxy's on the last node, signed again with a
  lifetime under both the renewal threshold and the certificate test's 30 days) is
  renewed by the next plain run on its own, and only that node's kube-proxy restarts.

Each times the outage, from the moment systemd stopped the old process (the unit's
ActiveExitTimestamp, on the node's clock) to the cluster working again, prints it and
fails past a generous bound.
"""

from __future__ import annotations

import datetime
import json
import re
import time

import pytest
import yaml

from netlab_tests.ansible import run_playbook
from netlab_tests.hosts import nodes_ready
from netlab_tests.lab import REPO
from netlab_tests.recovery import TIMINGS, Timing  # the drills' table of recovery times, printed at the end
from netlab_tests.wait import wait_until

PLAYBOOK = "certs.yml"
# Generous bound on each outage: the drill fails past it; `make bench` keeps real targets.
RECOVERY_S = 180
ROLE = REPO / "roles" / "pki"
PKI_DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
PKI_TABLE = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
# The certificates are in the lab-wide netlab_pki_dir (lab.pki_dir, from the inventory);
# tests/lab/test_certificates.py fails if the pki role put one anywhere else.
DAY_S = 86400
CERT_TEST_MIN_DAYS = 30  # tests/lab/test_certificates.py asks for more than this


def certs_of(lab, name: str) -> list[dict]:
    """The pki role's certificates of one node (roles/pki/vars/main.yml)."""
    return ((PKI_TABLE["pki_control_plane_certs"] if name in lab.control_plane else [])
            + (PKI_TABLE["pki_node_certs"] if name in lab.nodes else []))


def serials(lab, nodes) -> dict[tuple[str, str], str]:
    """(node, certificate) -> the serial of the certificate on disk, for all of the role's."""
    got = {}
    for name, host in nodes.items():
        for cert in certs_of(lab, name):
            got[(name, cert["name"])] = host.check_output(
                "openssl x509 -in %s/%s.crt -noout -serial", lab.pki_dir, cert["name"]).split("=", 1)[1]
    return got


def invocations(lab, nodes) -> dict[tuple[str, str], str]:
    """(node, unit) -> systemd's InvocationID of every running unit that uses a certificate
    (it changes on every start)."""
    units = sorted({u for name in nodes for cert in certs_of(lab, name) for u in cert["units"]})
    got = {}
    for name, host in nodes.items():
        for unit in units:
            if host.service(unit).is_running:
                got[(name, unit)] = host.check_output("systemctl show -p InvocationID --value %s", unit)
    return got


def restarted(before: dict, after: dict) -> set:
    return {k for k in before if after.get(k) != before[k]}


def served_serial(host, address: str, port: int) -> str:
    """The serial of the certificate the TLS server at address:port presents, seen from `host`."""
    out = host.check_output(
        "openssl s_client -connect %s:%s </dev/null 2>/dev/null | openssl x509 -noout -serial", address, str(port))
    return out.split("=", 1)[1]


def node_now(host) -> float:
    return float(host.check_output("date +%s.%N"))


def stopped_at(host, unit: str) -> float:
    """When systemd last stopped the unit's old process (epoch seconds, the node's clock)."""
    out = host.check_output("systemctl show -p ActiveExitTimestamp --value --timestamp=us+utc %s", unit)
    return datetime.datetime.strptime(out, "%a %Y-%m-%d %H:%M:%S.%f UTC").replace(
        tzinfo=datetime.UTC).timestamp()


def changed_per_host(output: str) -> dict[str, int]:
    """The PLAY RECAP's changed= count of every host."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", output, re.M)}


def valid_for(lab, host, cert: str, days: int) -> bool:
    return host.run("openssl x509 -in %s/%s.crt -noout -checkend %s", lab.pki_dir, cert, str(days * DAY_S)).rc == 0


def record(drill: str, outage_s: float, play_s: float) -> None:
    print(f"{drill}: outage {outage_s:.1f} s (bound {RECOVERY_S} s), certs.yml took {play_s:.0f} s")
    TIMINGS.append(Timing(drill, RECOVERY_S, recovered=outage_s, notes=[f"certs.yml {play_s:.0f} s"]))


def test_the_api_servers_certificate_renewed_by_name_is_served_and_the_cluster_keeps_working(
        lab, nodes, cp, kubectl):
    cp_name = lab.control_plane[0]
    address, port = lab.nodes[cp_name].lab_ip, int(PKI_DEFAULTS["pki_apiserver_port"])
    before, units_before = serials(lab, nodes), invocations(lab, nodes)
    assert served_serial(cp, address, port) == before[(cp_name, "apiserver")]

    start = time.monotonic()
    run_playbook(lab, PLAYBOOK, "-e", json.dumps({"pki_renew": ["apiserver"]}))
    play_s = time.monotonic() - start
    after = serials(lab, nodes)
    new = after[(cp_name, "apiserver")]
    assert new != before[(cp_name, "apiserver")], "the API server's certificate kept its serial"
    assert restarted(before, after) == {(cp_name, "apiserver")}, "another certificate was signed again too"

    # The running API server presents the new certificate; the cluster works on.
    wait_until(lambda: served_serial(cp, address, port) == new, timeout=RECOVERY_S,
               what="kube-apiserver to present the renewed certificate")
    wait_until(lambda: nodes_ready(kubectl, lab.nodes), timeout=RECOVERY_S, interval=2,
               what="every node Ready after the renewal")
    assert kubectl("get", "--raw", "/readyz") == "ok"
    outage_s = node_now(cp) - stopped_at(cp, "kube-apiserver")
    record("API server certificate renewed", outage_s, play_s)
    assert outage_s < RECOVERY_S

    # Exactly kube-apiserver restarted: every other unit runs on as it was.
    units_after = invocations(lab, nodes)
    assert restarted(units_before, units_after) == {(cp_name, "kube-apiserver")}

    # Nothing named, nothing due: a second run changes nothing.
    again = run_playbook(lab, PLAYBOOK)
    counts = changed_per_host(again)
    assert set(counts) == set(lab.nodes) and not any(counts.values()), again[-3000:]
    assert serials(lab, nodes) == after
    assert invocations(lab, nodes) == units_after


def test_a_certificate_near_its_end_is_renewed_by_the_next_plain_run(lab, nodes, kubectl):
    node, cert, unit = list(lab.nodes)[-1], "kube-proxy", "kube-proxy"
    host = nodes[node]
    threshold = int(PKI_DEFAULTS["pki_renew_before_days"])
    short = min(threshold, CERT_TEST_MIN_DAYS) // 2
    # Sign it again to end in `short` days (the threshold lowered below that for this
    # run only, as the role refuses a threshold above the lifetime).
    run_playbook(lab, PLAYBOOK, "-e", json.dumps({
        "pki_renew": [f"{node}:{cert}"], "pki_cert_valid_days": short, "pki_renew_before_days": short - 1}))
    try:
        assert valid_for(lab, host, cert, short - 1) and not valid_for(lab, host, cert, short + 1)
        before, units_before = serials(lab, nodes), invocations(lab, nodes)

        # A plain run: the role's own threshold finds it due, and nothing else.
        start = time.monotonic()
        out = run_playbook(lab, PLAYBOOK)
        play_s = time.monotonic() - start
        after = serials(lab, nodes)
        assert restarted(before, after) == {(node, cert)}, out[-3000:]
        assert valid_for(lab, host, cert, threshold)
        wait_until(lambda: host.service(unit).is_running, timeout=RECOVERY_S, what=f"{unit} on {node} to run")
        assert restarted(units_before, invocations(lab, nodes)) == {(node, unit)}
        wait_until(lambda: nodes_ready(kubectl, lab.nodes), timeout=RECOVERY_S, interval=2,
                   what="every node Ready after the renewal")
        outage_s = node_now(host) - stopped_at(host, unit)
        record(f"{node}'s {cert} certificate due, renewed by a plain run", outage_s, play_s)
        assert outage_s < RECOVERY_S
    finally:
        if not valid_for(lab, host, cert, threshold):  # leave no certificate due behind
            run_playbook(lab, PLAYBOOK)


@pytest.fixture(autouse=True)
def _control_plane_node(lab):
    if not lab.control_plane:
        pytest.skip("the inventory has no control-plane node")
