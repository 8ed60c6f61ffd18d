"""Filters for the pki role: where each of its files is, by name.

The role names every certificate, key, authority and kubeconfig (roles/pki/vars/main.yml)
and forms their paths here, once; the roles that read them take the resulting maps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def netlab_path_map(names: Iterable[str] | Mapping[str, str], directory: str, suffix: str) -> dict[str, str]:
    """{name: <directory>/<file><suffix>} for each name.

    names: a list of names, each also its file's path under directory (`etcd/server`), or
    a mapping of name to that path (`{kubernetes: ca, etcd: etcd/ca}`).
    """
    files = names if isinstance(names, Mapping) else {name: name for name in names}
    return {name: f"{directory}/{path}{suffix}" for name, path in files.items()}


def netlab_pki_sign_plan(certs: Iterable[Mapping[str, Any]], renew_here: Iterable[str]) -> list[dict[str, Any]]:
    """What the CA host signs for a host: [{name, ca, renew}] for each of its certificates.

    certs: the host's certificates as the role's table lists them (each with `name`, `ca`).
    renew_here: the names pki_renew gives for this host (`all` for every one).
    Made on the controller from the inventory, so a host never chooses its CA or renewal.
    """
    renew = set(renew_here)
    return [{"name": c["name"], "ca": c["ca"], "renew": c["name"] in renew or "all" in renew} for c in certs]


class FilterModule:
    """netlab_path_map, netlab_pki_sign_plan."""

    def filters(self) -> dict[str, Any]:
        return {"netlab_path_map": netlab_path_map, "netlab_pki_sign_plan": netlab_pki_sign_plan}
