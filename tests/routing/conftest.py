"""The routing tests' echo servers go when the tests are done: the lesson's
`docker ps` on a node must show the pod's containers and nothing else."""

from __future__ import annotations

import pytest

from probe import remove_echo


@pytest.fixture(scope="session", autouse=True)
def remove_echo_servers(nodes):
    yield
    for host in nodes.values():
        remove_echo(host)
