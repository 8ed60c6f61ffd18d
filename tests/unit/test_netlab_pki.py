"""The pki role's path filter (plugins/filter/netlab_pki.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "filter"))

from netlab_pki import FilterModule, netlab_path_map, netlab_pki_sign_plan  # noqa: E402


def test_a_list_of_names_gives_each_its_file():
    assert netlab_path_map(["apiserver", "etcd/server"], "/etc/kubernetes/pki", ".crt") == {
        "apiserver": "/etc/kubernetes/pki/apiserver.crt",
        "etcd/server": "/etc/kubernetes/pki/etcd/server.crt",
    }


def test_a_mapping_gives_each_name_its_own_path():
    assert netlab_path_map({"kubernetes": "ca", "etcd": "etcd/ca"}, "/pki", ".key") == {
        "kubernetes": "/pki/ca.key",
        "etcd": "/pki/etcd/ca.key",
    }


def test_no_names_no_files():
    assert netlab_path_map([], "/pki", ".crt") == {}


def test_the_filter_is_registered():
    assert FilterModule().filters()["netlab_path_map"] is netlab_path_map


def test_sign_plan_comes_from_the_table_and_pki_renew():
    certs = [{"name": "kubelet", "ca": "kubernetes", "cn": "x"}, {"name": "etcd-client", "ca": "etcd"}]
    assert netlab_pki_sign_plan(certs, []) == [{"name": "kubelet", "ca": "kubernetes", "renew": False},
                                               {"name": "etcd-client", "ca": "etcd", "renew": False}]
    assert [e["renew"] for e in netlab_pki_sign_plan(certs, ["etcd-client"])] == [False, True]
    assert [e["renew"] for e in netlab_pki_sign_plan(certs, ["all"])] == [True, True]
