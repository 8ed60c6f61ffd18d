"""`make bench` (tools/bench): measure, print the table, write docs/BENCHMARKS.md.

  tools/bench [--runs N] [--nodes 4,6] [--services 10,100,1000] [--cold] [--out FILE]

It removes and recreates the lab (several times), and leaves a fresh three-node lab.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from netlab_tests.lab import DEFAULT_INVENTORY, load_lab

from . import dataplane, lab, report, scale, shell, timing

RESULTS = shell.REPO / ".netlab" / "bench"


def machine() -> dict[str, str]:
    mem = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal:")), 0)
    release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    docker = shell.output(["docker", "version", "-f", "{{.Server.Version}}"]).strip()
    cgroup = "v2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "v1"
    return {
        "os": release.get("PRETTY_NAME", "").strip('"'), "kernel": platform.release(),
        "cpus": str(os.cpu_count()), "memory": f"{mem / 2**20:.0f} GiB", "docker": docker, "cgroup": cgroup,
        "cpu": next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name")), ""),
    }


def measure(args: argparse.Namespace, work: Path) -> dict:
    the_lab = load_lab(str(DEFAULT_INVENTORY))
    nodes = list(the_lab.nodes)
    machines = nodes + list(the_lab.services)  # memory counts the depot too: it is part of the lab
    res: dict = {"date": datetime.date.today().isoformat(), "machine": machine(), "runs": args.runs,
                 "nodes": nodes}
    res["builds_cached"] = lab.builds(args.runs)
    if args.cold:
        cache = Path(tempfile.mkdtemp(prefix="cold-cache-", dir=RESULTS))
        try:
            res["builds_cold"] = lab.cold_builds(cache)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    made = lab.make_lab(args.runs, work, nodes)
    res["make_lab"] = {"seconds": made.seconds, "plays": timing.play_seconds(made.runs),
                       "slowest": timing.slowest_tasks(made.runs)}
    shell.say("idle memory (30 s after the bring-up)")
    time.sleep(30)
    res["memory_idle"] = lab.memory(machines)
    conv = lab.converge(args.runs, work, [])
    res["converge"] = {"seconds": conv.seconds, "changed": conv.changed(), "plays": timing.play_seconds(conv.runs),
                       "slowest": timing.slowest_tasks(conv.runs)}
    steps = lab.lesson(args.runs, work)
    res["lesson"] = {book: t.seconds for book, t in steps.items()}
    res["memory_step2"] = lab.memory(machines)
    near, far = nodes[0], nodes[1]
    res["iperf3"] = dataplane.measure(args.runs, near, far, the_lab.nodes[far].lab_ip)
    res["services"] = scale.services(args.services, near, far)
    res["guard"] = lab.guard_counters()
    res["routes"] = {n: scale.pod_routes(n) for n in nodes}
    res["scale"] = [{"nodes": len(nodes), "bring_up_s": [r.seconds for r in made.runs],
                     "converge_s": conv.seconds, "memory": report.totals(res["memory_idle"]),
                     "routes": sorted(set(res["routes"].values()))}]
    base = [(n.name, n.lab_ip, str(n.pod_subnet)) for n in the_lab.nodes.values()]
    biggest: list[str] = []
    try:
        for count in args.nodes:
            extra = scale.derive_nodes(base, count, str(the_lab.lab_network), str(the_lab.pod_cidr))
            inventories = [str(DEFAULT_INVENTORY), scale.write_override(work / f"nodes-{count}.yml", extra)]
            biggest = inventories
            names = nodes + [e[0] for e in extra]
            up = lab.bring_up(1, work, names, inventories)
            time.sleep(30)
            mem = lab.memory(names + list(the_lab.services))
            again = lab.converge(1, work, inventories)
            res["scale"].append({"nodes": count, "bring_up_s": up.seconds, "converge_s": again.seconds,
                                 "converge_changed": again.changed(), "memory": report.totals(mem),
                                 "routes": sorted({scale.pod_routes(n) for n in names})})
    finally:
        if biggest:
            shell.say("back to the inventory's lab")
            lab.lab_down(biggest)
            shell.run(["make", "lab"])
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median and spread)")
    parser.add_argument("--nodes", default="4,6", help="the larger labs to bring up, by node count")
    parser.add_argument("--services", default="10,100,1000", help="Service counts for kube-proxy")
    parser.add_argument("--cold", action="store_true", help="also time the builds into an empty cache")
    parser.add_argument("--out", default=str(shell.REPO / "docs" / "BENCHMARKS.md"))
    parser.add_argument("--render", metavar="RESULTS_JSON", help="only write the page from earlier results")
    args = parser.parse_args(argv)
    args.nodes = [int(n) for n in args.nodes.split(",") if n]
    args.services = [int(n) for n in args.services.split(",") if n]
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.render:
        res = json.loads(Path(args.render).read_text(encoding="utf-8"))
    else:
        work = Path(tempfile.mkdtemp(prefix="run-", dir=RESULTS))
        started = time.monotonic()
        res = measure(args, work)
        res["bench_s"] = time.monotonic() - started
        (RESULTS / "results.json").write_text(json.dumps(res, indent=1), encoding="utf-8")
    page = report.page(res)
    Path(args.out).write_text(page, encoding="utf-8")
    print(report.summary(res))
    shell.say(f"wrote {args.out}")
    return 0
