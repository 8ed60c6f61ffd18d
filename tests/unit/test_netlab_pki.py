"""The pki role's path filter (plugins/filter/netlab_pki.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "filter"))

from netlab_pki import FilterModule, netlab_path_map  # noqa: E402


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
