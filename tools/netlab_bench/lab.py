"""The lab's own costs: bring-up, a converge that changes nothing, the lesson, memory,
the egress guard's counters, and the builds behind `make lab`."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from netlab_tests.ansible import role_default
from netlab_tests.hosts import nodes_ready

from . import shell, timing

BUILDS = {
    "node image": ["tools/build-node-image"],
    "Kubernetes": ["tools/build-kubernetes"],
    "lab images": ["tools/build-images"],
}
# The guard's chain, as the egress_guard role names it.
GUARD_CHAIN = role_default("egress_guard", "egress_guard_chain")
# The cold build's node image: a repository of its own, removed afterwards.
COLD_NODE_REPO = "netlab-bench/node"


@dataclass
class Timed:
    """Repeated runs of one thing: wall seconds, and the playbook runs they recorded."""

    seconds: list[float] = field(default_factory=list)
    runs: list[timing.Run] = field(default_factory=list)

    def changed(self) -> list[int]:
        return [r.changed for r in self.runs]


def _playbook_cmd(args: list[str], inventories: list[str]) -> list[str]:
    """ansible-playbook with each inventory (-i, in order; none: ansible.cfg's)."""
    return ["ansible-playbook"] + [a for i in inventories for a in ("-i", i)] + args


def _playbook(args: list[str], timing_file: Path, inventories: list[str]) -> tuple[float, timing.Run]:
    before = len(timing.read_runs(timing_file))
    cmd = _playbook_cmd(args, inventories)
    seconds, _ = shell.run(cmd, env={"NETLAB_TIMING_FILE": str(timing_file)})
    runs = timing.read_runs(timing_file)
    if len(runs) <= before:
        raise RuntimeError(f"{' '.join(cmd)} recorded no timing (is the netlab_timing callback enabled?)")
    return seconds, runs[-1]


def lab_down(inventories: list[str]) -> None:
    shell.run(_playbook_cmd(["playbooks/lab-down.yml"], inventories))


def bring_up(runs: int, workdir: Path, nodes: list[str], inventories: list[str]) -> Timed:
    """From no lab to every node Ready, `runs` times: the lab removed, then
    playbooks/lab.yml (what `make lab` runs once its builds are cached)."""
    out = Timed()
    for i in range(runs):
        shell.say(f"bring-up {i + 1}/{runs} ({len(nodes)} nodes)")
        lab_down(inventories)
        seconds, run = _playbook(["playbooks/lab.yml"], workdir / "bring-up.jsonl", inventories)
        if not nodes_ready(shell.kubectl, nodes):
            raise RuntimeError(f"after the bring-up, not every node of {nodes} is Ready")
        out.seconds.append(seconds)
        out.runs.append(run)
    return out


def make_lab(runs: int, workdir: Path, nodes: list[str]) -> Timed:
    """`make lab` as a user runs it (its builds cached), from no lab, `runs` times."""
    out = Timed()
    for i in range(runs):
        shell.say(f"make lab {i + 1}/{runs}")
        shell.run(["make", "clean"])
        tfile = workdir / "make-lab.jsonl"
        seconds, _ = shell.run(["make", "lab"], env={"NETLAB_TIMING_FILE": str(tfile)})
        if not nodes_ready(shell.kubectl, nodes):
            raise RuntimeError(f"after make lab, not every node of {nodes} is Ready")
        out.seconds.append(seconds)
        out.runs.append(timing.read_runs(tfile)[-1])
    return out


def converge(runs: int, workdir: Path, inventories: list[str]) -> Timed:
    """playbooks/site.yml again on the running lab, `runs` times."""
    out = Timed()
    for i in range(runs):
        shell.say(f"second converge {i + 1}/{runs}")
        seconds, run = _playbook(["playbooks/site.yml"], workdir / "converge.jsonl", inventories)
        out.seconds.append(seconds)
        out.runs.append(run)
    return out


def lesson(runs: int, workdir: Path) -> dict[str, Timed]:
    """The lesson's steps (each starts from an empty cluster), `runs` times each."""
    out = {"step1-rc.yml": Timed(), "step2-service.yml": Timed()}
    for i in range(runs):
        for book, timed in out.items():
            shell.say(f"lesson {book} {i + 1}/{runs}")
            seconds, run = _playbook([f"playbooks/{book}"], workdir / "lesson.jsonl", [])
            timed.seconds.append(seconds)
            timed.runs.append(run)
    return out


MEMORY_STAT = "cat /sys/fs/cgroup/memory/memory.stat 2>/dev/null || cat /sys/fs/cgroup/memory.stat"


def anon_mib(stat: str) -> float:
    """A cgroup's anonymous memory in MiB from its memory.stat: v1 `total_rss` (the
    node's whole subtree: its units and its pods), v2 `anon`."""
    values = dict(line.split()[:2] for line in stat.splitlines() if len(line.split()) >= 2)
    raw = values.get("total_rss", values.get("anon"))
    if raw is None:
        raise ValueError("memory.stat has neither total_rss nor anon")
    return int(raw) / 2**20


def memory(nodes: list[str], samples: int = 3, every: float = 5.0) -> dict[str, list[float]]:
    """Each node's anonymous memory in MiB, `samples` readings `every` seconds apart."""
    out: dict[str, list[float]] = {n: [] for n in nodes}
    for i in range(samples):
        if i:
            time.sleep(every)
        for n in nodes:
            out[n].append(anon_mib(shell.node(n, MEMORY_STAT)))
    return out


_COUNTER = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\S+)\s.*?/\*\s*(.*?)\s*\*/")


def guard_counters(tables: tuple[str, ...] = ("filter", "mangle")) -> list[tuple[str, str, int, int]]:
    """The egress guard's rules with their counters since it was loaded:
    (table, the rule's comment, packets, bytes), IPv4 then IPv6."""
    rows = []
    for tool in ("iptables", "ip6tables"):
        for table in tables:
            text = shell.output([tool, "-w", "-t", table, "-L", GUARD_CHAIN, "-v", "-x", "-n"])
            for line in text.splitlines():
                match = _COUNTER.match(line)
                if match:
                    label = match[4] + (" (IPv6)" if tool == "ip6tables" else "")
                    rows.append((table, label, int(match[1]), int(match[2])))
    return rows


def builds(runs: int) -> dict[str, list[float]]:
    """The builds behind `make lab`, cached (nothing to rebuild), `runs` times each."""
    out: dict[str, list[float]] = {}
    for name, cmd in BUILDS.items():
        for i in range(runs):
            shell.say(f"build {name}, cached {i + 1}/{runs}")
            out.setdefault(name, []).append(shell.run(cmd)[0])
    return out


def cold_builds(cache: Path) -> dict[str, float]:
    """The builds into an empty cache (a fresh machine's first `make lab`), once each:
    NETLAB_CACHE points at `cache`, and the node image gets a repository of its own."""
    env = {"NETLAB_CACHE": str(cache), "NETLAB_NODE_REPO": COLD_NODE_REPO}
    out = {}
    try:
        for name, cmd in BUILDS.items():
            shell.say(f"build {name}, cold")
            out[name] = shell.run(cmd, env=env)[0]
    finally:
        images = shell.output(["docker", "image", "ls", "-q", COLD_NODE_REPO]).split()
        if images:
            shell.run(["docker", "rmi", "-f", *sorted(set(images))])
    return out
