"""Running commands: on this machine (timed), in a lab node (`docker exec`), and
kubectl as the lab's admin (tools/kubectl)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KUBECTL = str(REPO / "tools" / "kubectl")


def say(message: str) -> None:
    """A progress line on stderr (the table goes to stdout)."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], *, env: dict[str, str] | None = None, quiet: bool = True,
        timeout: float | None = None, stdin: str | None = None) -> tuple[float, str]:
    """Run a command from the repository's root; return (seconds, stdout).
    Its output goes to .netlab/bench/last.log when quiet; a failure raises with its tail."""
    log = REPO / ".netlab" / "bench" / "last.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    proc = subprocess.run(
        cmd, cwd=REPO, env={**os.environ, **(env or {})}, text=True, input=stdin,
        capture_output=True, timeout=timeout, check=False,
    )
    seconds = time.monotonic() - start
    if quiet:
        log.write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{tail}")
    return seconds, proc.stdout


def output(cmd: list[str], **kwargs) -> str:
    """A command's stdout."""
    return run(cmd, **kwargs)[1]


def node(name: str, script: str, timeout: float = 120) -> str:
    """A shell script's stdout in a lab node (the embedded lab: nodes are containers)."""
    return output(["docker", "exec", name, "sh", "-c", script], timeout=timeout)


def node_detached(name: str, script: str) -> None:
    """Start a shell script in a lab node and return at once (it must end by itself)."""
    output(["docker", "exec", "-d", name, "sh", "-c", script])


def kubectl(*args: str, stdin: str | None = None, timeout: float = 300) -> str:
    """kubectl as the lab's admin."""
    return output([KUBECTL, *args], stdin=stdin, timeout=timeout)


def kubectl_json(*args: str) -> dict:
    return json.loads(kubectl(*args, "-o", "json"))


def apply(objects: list[dict]) -> None:
    """`kubectl apply` of a list of objects, given as JSON on stdin."""
    kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))


def wait_for(check, what: str, timeout: float = 180, every: float = 1.0):
    """Call check() until it returns something true; return that, or raise after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
