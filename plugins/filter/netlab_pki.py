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


class FilterModule:
    """netlab_path_map."""

    def filters(self) -> dict[str, Any]:
        return {"netlab_path_map": netlab_path_map}
