"""A pytest plugin that writes down what a run collected, for tests/unit/test_collection.py.

Loaded with `-p netlab_tests.collection`; with NETLAB_COLLECTION_REPORT set to a file
name, it writes there, as JSON, one entry per collected item: its node id, the file
of the module it was collected from, and where its function is defined (the file and
qualified name of the function's code). A test function imported into a second test
module shows up as two items whose function is defined in one file and collected from
two.
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path

import pytest

REPORT = "NETLAB_COLLECTION_REPORT"


def collected(items: list[pytest.Item]) -> list[dict[str, str]]:
    """Each item's node id, the module file it was collected from, and its function's definition."""
    entries = []
    for item in items:
        function = getattr(item, "function", None)
        module = getattr(item, "module", None)
        entries.append({
            "nodeid": item.nodeid,
            "collected_from": str(Path(module.__file__).resolve()) if module is not None else "",
            "defined_in": str(Path(inspect.getsourcefile(function)).resolve()) if function is not None else "",
            "qualname": getattr(function, "__qualname__", ""),
        })
    return entries


def pytest_collection_finish(session: pytest.Session) -> None:
    path = os.environ.get(REPORT)
    if path:
        Path(path).write_text(json.dumps(collected(session.items), indent=1))
