"""The one way the tests run ansible-playbook, and Ansible's view of a variable.

Every run is from the repository, with its ansible.cfg (as `make` exports it), plain
text (even under molecule, which forces colour on) and no terminal to prompt on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from netlab_tests.lab import REPO, Lab

PLAYBOOKS = "playbooks"


def _program(name: str) -> str:
    """An Ansible program: the one beside this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


ANSIBLE_PLAYBOOK = _program("ansible-playbook")
ANSIBLE = _program("ansible")
PLAIN_ENV = {
    "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
    "ANSIBLE_FORCE_COLOR": "false",
    "ANSIBLE_NOCOLOR": "true",
}


def ansible_playbook(
    playbook: str | Path,
    *args: str,
    inventory: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ansible-playbook on `playbook` (a path relative to the repository, or absolute)
    with `args`; `inventory`: -i (else ansible.cfg's); `env`: more environment. Its
    output is captured; the caller judges the exit code."""
    command = [ANSIBLE_PLAYBOOK]
    if inventory is not None:
        command += ["-i", str(inventory)]
    return subprocess.run(
        [*command, str(playbook), *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        env={**os.environ, **PLAIN_ENV, **(env or {})},
    )


def playbook_run(lab: Lab, playbook: str, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    """Run one of the project's playbooks (by its name in playbooks/) against the lab's inventory."""
    return ansible_playbook(f"{PLAYBOOKS}/{playbook}", *args, inventory=lab.inventory, **kwargs)


def run_playbook(lab: Lab, playbook: str, *args: str) -> str:
    """Run one of the project's playbooks against the lab's inventory; fail with its output."""
    proc = playbook_run(lab, playbook, *args)
    if proc.returncode != 0:
        pytest.fail(f"ansible-playbook {playbook} failed ({proc.returncode}):\n"
                    f"{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}")
    return proc.stdout


def ansible_value(lab: Lab, host: str, expression: str):
    """An expression rendered by Ansible for one inventory host (its inventory variables)."""
    out = subprocess.run(
        [ANSIBLE, host, "-i", lab.inventory, "-m", "ansible.builtin.debug", "-a", json.dumps({"msg": expression})],
        check=True, capture_output=True, text=True, cwd=REPO,
        env={**os.environ, "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"},
    ).stdout
    # The JSON document, without what the other enabled callbacks (profile_tasks) print around it.
    result, _ = json.JSONDecoder().raw_decode(out, out.index("{"))
    return result["plays"][0]["tasks"][0]["hosts"][host]["msg"]


def role_default(role: str, name: str):
    """A role's default, as roles/<role>/defaults/main.yml writes it (not templated)."""
    return yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())[name]
