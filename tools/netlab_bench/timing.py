"""Where a playbook run's time went: the JSON lines of the netlab_timing callback
(plugins/callback/netlab_timing.py), one per `ansible-playbook` run."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    """One playbook run: wall time, per-play seconds, tasks, changed count."""

    playbook: str
    seconds: float
    plays: list[tuple[str, float]]
    tasks: list[dict]
    changed: int
    failed: int


def read_runs(path: Path) -> list[Run]:
    """Every run recorded in the file (none when it does not exist)."""
    if not path.exists():
        return []
    runs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        hosts = record.get("hosts", {}).values()
        runs.append(Run(
            playbook=record.get("playbook", ""),
            seconds=float(record["seconds"]),
            plays=[(p["name"], float(p.get("seconds", 0.0))) for p in record.get("plays", [])],
            tasks=record.get("tasks", []),
            changed=sum(int(h.get("changed", 0)) for h in hosts),
            failed=sum(int(h.get("failures", 0)) + int(h.get("unreachable", 0)) for h in hosts),
        ))
    return runs


def play_seconds(runs: list[Run]) -> dict[str, list[float]]:
    """Each play's seconds over the runs, by play name, in the order plays first ran.
    A play that runs twice in one run (the preflight, imported twice) adds up."""
    out: dict[str, list[float]] = {}
    for run in runs:
        per_run: dict[str, float] = defaultdict(float)
        for name, seconds in run.plays:
            per_run[name] += seconds
        for name, seconds in per_run.items():
            out.setdefault(name, []).append(seconds)
    return out


def slowest_tasks(runs: list[Run], count: int = 10) -> list[tuple[str, list[float]]]:
    """The `count` tasks with the greatest median time over the runs, as
    ("role : task", [seconds per run])."""
    per_task: dict[str, list[float]] = {}
    for run in runs:
        per_run: dict[str, float] = defaultdict(float)
        for task in run.tasks:
            # Ansible names a role's task "<role> : <task>" already.
            prefix = f"{task['role']} : " if task.get("role") else ""
            label = task["name"] if task["name"].startswith(prefix) else prefix + task["name"]
            per_run[label] += float(task["seconds"])
        for label, seconds in per_run.items():
            per_task.setdefault(label, []).append(seconds)
    ranked = sorted(per_task.items(), key=lambda item: statistics.median(item[1]), reverse=True)
    return ranked[:count]
