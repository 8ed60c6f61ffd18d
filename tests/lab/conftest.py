"""Fixtures of the lab stage's tests: the depot's registry and what lab_images pushed to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netlab_tests.ansible import ansible_value, role_default


@pytest.fixture(scope="session")
def registry(lab) -> str:
    """The depot's image registry, as `<address>:<port>`."""
    return f"{lab.services['depot']}:{lab.registry_port}"


@pytest.fixture(scope="session")
def pushed(lab) -> dict[str, str]:
    """What lab_images recorded it pushed: reference -> manifest digest (its own record,
    found where the role's default puts it)."""
    path = Path(ansible_value(lab, "localhost", role_default("lab_images", "lab_images_digests_file")))
    return json.loads(path.read_text())
