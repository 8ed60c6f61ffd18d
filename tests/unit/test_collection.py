"""Every test is collected once: no node id twice, and no test function collected
from a module other than the one that defines it (a test module that imports another
one's test functions runs them a second time, under its own name).

Runs `pytest --collect-only -q` over tests/ in a subprocess, with a plugin
(netlab_tests.collection) that records where each collected function is defined.
Collecting needs no lab: only the inventory (ansible-inventory), as every run does.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys

import pytest

from netlab_tests.collection import REPORT
from netlab_tests.lab import REPO

TESTS = REPO / "tests"


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> tuple[list[str], list[dict[str, str]]]:
    """(the node ids `pytest --collect-only -q` prints, the plugin's record of the same run)."""
    report = tmp_path_factory.mktemp("collection") / "collected.json"
    env = {**os.environ, REPORT: str(report),
           "PYTHONPATH": os.pathsep.join([str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])])}
    # The interpreter's bin directory first: ansible-inventory, which collecting runs, is there.
    env["PATH"] = os.pathsep.join([str(os.path.dirname(sys.executable)), env.get("PATH", "")])
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "netlab_tests.collection", str(TESTS)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"collecting tests/ failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr}"
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    return ids, json.loads(report.read_text())


def test_the_collection_lists_tests(collection):
    ids, entries = collection
    assert ids and len(entries) == len(ids)


def test_no_node_id_is_collected_twice(collection):
    ids, _ = collection
    twice = sorted(i for i, n in collections.Counter(ids).items() if n > 1)
    assert twice == []


def test_every_test_function_is_collected_only_from_the_module_that_defines_it(collection):
    _, entries = collection
    elsewhere = sorted(
        f"{e['nodeid']} (defined in {os.path.relpath(e['defined_in'], REPO)})"
        for e in entries if e["defined_in"] and e["collected_from"] and e["defined_in"] != e["collected_from"]
    )
    assert elsewhere == [], "test functions collected again from a module that imports them"
