"""Filters for the observe role: registered command results as transcript records."""

from __future__ import annotations

from typing import Any


def netlab_command_record(result: dict[str, Any], program: str | None = None) -> dict[str, Any]:
    """One registered command result as {command, rc, stdout, stderr}.

    With `program`, the command is shown as `<program> <loop item>` (kubectl's
    arguments without its path and kubeconfig, as a user types them); otherwise
    as the argv that ran, joined by spaces.
    """
    if program:
        command = f"{program} {result['item']}"
    else:
        cmd = result.get("cmd", "")
        command = " ".join(cmd) if isinstance(cmd, list) else str(cmd)
    return {
        "command": command,
        "rc": result.get("rc"),
        "stdout": result.get("stdout", ""),
        "stderr": result.get("stderr", ""),
    }


class FilterModule:
    """netlab_command_record."""

    def filters(self) -> dict[str, Any]:
        return {"netlab_command_record": netlab_command_record}
