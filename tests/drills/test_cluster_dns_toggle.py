"""The cluster DNS toggle (netlab_cluster_dns), both ways on the running lab: turned
off, the addon is gone and kubelet hands pods no cluster nameserver (the chapter's
lab); turned on again, CoreDNS answers, and the lesson's observations hold with the
name `frontend` resolving from every node. The inventory is not edited: the
opposite value is given on the command line (`-e netlab_cluster_dns=false`), the
way a user tries it before changing the file."""

from __future__ import annotations

import pytest

from netlab_tests import dns, observations
from netlab_tests.ansible import run_playbook
from netlab_tests.hosts import kubelet_config
from netlab_tests.lesson import pods

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lesson_step2")]

TAGS = "kubelet,cluster_dns"


def addon_objects(kubectl) -> list[str]:
    names = kubectl("get", "deployment,service,configmap,serviceaccount", "-n", "kube-system", "-o", "name").split()
    names += kubectl("get", "clusterrole,clusterrolebinding", "-o", "name").split()
    return [n for n in names if n.endswith(("/coredns", "/kube-dns", "/system:coredns"))]


@pytest.mark.bound(300)
def test_the_cluster_dns_toggle_removes_the_addon_and_brings_it_back(lab, nodes, kubectl, recovery):
    if not lab.cluster_dns:
        pytest.skip("the inventory has the cluster DNS off; this drill turns it off and on again")
    observations.check(lab, nodes, kubectl)
    dns_ip = dns.cluster_dns_ip(lab)
    try:
        run_playbook(lab, "site.yml", "--tags", TAGS, "-e", "netlab_cluster_dns=false")
        assert addon_objects(kubectl) == [], "the addon's objects are still there"
        assert pods(kubectl, dns.LABELS, "kube-system") == []
        for name in lab.nodes:
            assert kubelet_config(kubectl, name).get("clusterDNS") is None, f"{name}'s kubelet still names a nameserver"
    finally:
        recovery.start()
        run_playbook(lab, "site.yml", "--tags", TAGS)
    recovery.wait(lambda: all(kubelet_config(kubectl, n).get("clusterDNS") == [dns_ip] for n in lab.nodes)
                  and dns.ready_pods(kubectl), "kube-dns with every CoreDNS pod ready, and kubelet's clusterDNS, back")
    seen = observations.check(lab, nodes, kubectl)
    recovery.observed(seen.seconds)
