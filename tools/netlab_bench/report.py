"""The Markdown page (docs/BENCHMARKS.md) and the goals beside their figures."""

from __future__ import annotations

from dataclasses import dataclass

from .dataplane import ratios
from .stats import Figure, figure


@dataclass(frozen=True)
class Goal:
    """A target: what, the bound, and whether smaller or greater is better."""

    what: str
    bound: float
    unit: str
    at_most: bool
    digits: int = 1

    def met(self, value: Figure | None) -> str:
        if value is None:
            return "not measured"
        ok = value.median <= self.bound if self.at_most else value.median >= self.bound
        return "met" if ok else "not met"

    def target(self) -> str:
        return f"{'<=' if self.at_most else '>='} {self.bound:g}{self.unit}"


GOALS = {
    "warm_make_lab": Goal("warm `make lab`, no lab to three Ready nodes", 60, " s", True),
    "converge": Goal("second converge of site.yml (the host side included)", 30, " s", True),
    "converge_changed": Goal("... tasks it changes", 0, "", True, 0),
    "pki": Goal("the pki play (fresh nodes)", 10, " s", True),
    "cold_make_lab": Goal("cold `make lab` on a fresh machine", 600, " s", True),
    "pod_node_ratio": Goal("iperf3 pod to pod across nodes / node to node", 0.95, "", False, 2),
    "clusterip_ratio": Goal("iperf3 cluster IP / pod direct", 0.90, "", False, 2),
    "idle_memory": Goal("idle lab, anonymous memory (nodes and depot)", 512, " MiB", True, 0),
}


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def show(value: Figure | None, digits: int = 1, unit: str = "") -> str:
    return value.show(digits, unit) if value else "not measured"


def goals_table(figures: dict[str, Figure | None]) -> list[str]:
    rows = []
    for key, goal in GOALS.items():
        value = figures.get(key)
        rows.append([goal.what, goal.target(), show(value, goal.digits, goal.unit), goal.met(value)])
    return table(["goal", "target", "measured (median, spread)", ""], rows)


def seconds_rows(named: dict[str, list[float]]) -> list[list[str]]:
    return [[name, show(figure(values), 1, " s")] for name, values in named.items()]

PKI_PLAY = "Cluster - certificates, keys and kubeconfigs"


def goal_figures(res: dict) -> dict[str, Figure | None]:
    conv = res["converge"]
    gbps = res.get("iperf3", {})
    rat = ratios(gbps) if gbps else {}
    cold = res.get("builds_cold")
    return {
        "warm_make_lab": figure(res["make_lab"]["seconds"]),
        "converge": figure(conv["seconds"]),
        "converge_changed": figure([float(c) for c in conv["changed"]]),
        "pki": figure(res["make_lab"]["plays"].get(PKI_PLAY, [])),
        "cold_make_lab": (figure([sum(cold.values()) + min(res["make_lab"]["seconds"])])
                          if cold_complete(res) else None),
        "pod_node_ratio": figure(rat.get("pod to pod across nodes / node to node", [])),
        "clusterip_ratio": figure(rat.get("cluster IP / pod direct", [])),
        "idle_memory": figure(totals(res["memory_idle"])),
    }


def totals(per_node: dict[str, list[float]]) -> list[float]:
    """The lab's total of per-machine samples, sample by sample."""
    return [sum(samples) for samples in zip(*per_node.values(), strict=True)]


def _plays(plays: dict[str, list[float]]) -> list[str]:
    return table(["play", "seconds (median, spread)"], seconds_rows(plays))


def _slowest(slowest: list) -> list[str]:
    return table(["task", "seconds (median, spread)"],
                 [[f"`{_once(name)}`", show(figure(values), 1, " s")] for name, values in slowest])


def _once(label: str) -> str:
    """`role : role : task` (results saved before timing.slowest_tasks knew Ansible's prefix) -> `role : task`."""
    parts = label.split(" : ", 2)
    return " : ".join(parts[1:]) if len(parts) == 3 and parts[0] == parts[1] else label


def _memory(title: str, per_node: dict[str, list[float]]) -> list[str]:
    rows = [[n, show(figure(v), 0, " MiB")] for n, v in per_node.items()]
    rows.append(["**the lab**", show(figure(totals(per_node)), 0, " MiB")])
    return [f"**{title}**", ""] + table(["node", "anonymous memory"], rows)


def _growth(res: dict) -> list[str]:
    rows = []
    base = res["scale"][0]
    for row in res["scale"]:
        n = row["nodes"]
        up, conv, mem = figure(row["bring_up_s"]), figure(row["converge_s"]), figure(row["memory"])
        per = (f"{(mem.median - figure(base['memory']).median) / (n - base['nodes']):.0f} MiB"
               if n != base["nodes"] and mem else "-")
        rows.append([str(n), show(up, 0, " s"), show(conv, 0, " s"), show(mem, 0, " MiB"), per,
                     ", ".join(str(r) for r in row["routes"])])
    return table(["nodes", "bring-up", "second converge", "idle memory (the lab)",
                  "memory per extra node", "pod routes per node"], rows)


def increments(points: list[tuple[float, float]]) -> list[tuple[float, float, float]]:
    """Cost per unit between successive points [(size, cost)]: [(from, to, per unit)]."""
    return [(a, b, (cb - ca) / (b - a)) for (a, ca), (b, cb) in zip(points, points[1:], strict=False) if b != a]


def linearity(what: str, unit: str, points: list[tuple[float, float]], fmt: str = ".1f") -> str:
    """One sentence: the cost per unit in each step, and whether it stays within 25 %
    of the first step's (linear) or not (where it stops being linear)."""
    steps = increments(points)
    if not steps:
        return ""
    parts = [f"{a:g} to {b:g}: {per:{fmt}} {unit}" for a, b, per in steps]
    first = steps[0][2]
    bent = [(a, b) for a, b, per in steps[1:] if first and abs(per - first) > 0.25 * abs(first)]
    verdict = (f"not linear from {bent[0][0]:g} to {bent[0][1]:g}" if bent else "linear within 25 %")
    return f"{what} per added unit ({'; '.join(parts)}): {verdict}."


def _growth_text(res: dict) -> list[str]:
    rows = [(r["nodes"], figure(r["bring_up_s"]), figure(r["converge_s"]), figure(r["memory"])) for r in res["scale"]]
    out = []
    for what, unit, idx in (("Bring-up", "s per node", 1), ("Second converge", "s per node", 2),
                            ("Idle memory", "MiB per node", 3)):
        points = [(n, f[idx - 1].median) for n, *f in rows if f[idx - 1]]
        sentence = linearity(what, unit, points)
        if sentence:
            out.append(f"- {sentence}")
    svc = [(s["services"], s["nat_rules"]) for s in res["services"]]
    sync = [(s["services"], s["sync_s"] * 1000) for s in res["services"] if s["sync_s"]]
    for what, unit, points in (("nat rules", "rules per Service", svc), ("kube-proxy's sync", "ms per Service", sync)):
        sentence = linearity(what, unit, points, ".2f")
        if sentence:
            out.append(f"- {sentence[0].upper()}{sentence[1:]}")
    return out + [""]


def _services(res: dict) -> list[str]:
    rows = [[str(s["services"]), str(s["nat_rules"]), str(s["svc_chains"]), f"{s['apply_s']:.1f} s",
             f"{s['rules_after_s']:.1f} s" if s["rules_after_s"] is not None else "-",
             f"{s['sync_s'] * 1000:.0f} ms" if s["sync_s"] else "-",
             f"{s['syncs']:.0f}" if s["syncs"] is not None else "-"] for s in res["services"]]
    return table(["Services", "nat rules on the node", "KUBE-SVC chains", "kubectl apply",
                  "then in the node's rules after", "kube-proxy sync (mean)", "syncs"], rows)


def page(res: dict) -> str:
    m = res["machine"]
    figs = goal_figures(res)
    out = [
        "# Benchmarks",
        "",
        f"Measured by `make bench` on {res['date']}; every figure is the median of the runs, with the",
        f"least and greatest value in brackets ({res['runs']} runs unless a row says otherwise).",
        "",
        f"**This machine:** {m['os']}, kernel {m['kernel']}, {m['cpus']} CPUs ({m['cpu']}), {m['memory']} of memory,",
        f"cgroup {m['cgroup']}, Docker {m['docker']}; the lab's nodes are containers on that engine.",
        "",
        "**Reproduce:** `make lab` once (the builds), then `make bench` (about "
        f"{res.get('bench_s', 0) / 60:.0f} minutes here; `BENCH_RUNS=N` runs per figure, `BENCH_COLD=yes` adds",
        "the builds into an empty cache). It removes and recreates the lab several times and leaves a fresh one.",
        "The raw figures are in `.netlab/bench/results.json`.",
        "",
        "## Goals",
        "",
        *goals_table(figs),
        "## Bring-up: `make lab` with its builds cached, from no lab to three Ready nodes",
        "",
        f"`make lab`: {show(figure(res['make_lab']['seconds']), 1, ' s')}. Its plays:",
        "",
        *_plays(res["make_lab"]["plays"]),
        "The ten slowest tasks:",
        "",
        *_slowest(res["make_lab"]["slowest"]),
        "## A second converge (site.yml on the running lab)",
        "",
        f"{show(figure(res['converge']['seconds']), 1, ' s')}, changed: "
        f"{', '.join(str(c) for c in res['converge']['changed'])}. Its plays:",
        "",
        *_plays(res["converge"]["plays"]),
        "The ten slowest tasks:",
        "",
        *_slowest(res["converge"]["slowest"]),
        "## The lesson",
        "",
        *table(["playbook", "seconds"], seconds_rows(res["lesson"])),
        "## Memory",
        "",
        "Anonymous memory of each node's cgroup (`total_rss`: its units, Docker and its pods; no file cache).",
        "",
        *_memory("Idle cluster, 30 s after the bring-up", res["memory_idle"]),
        *_memory("After lesson step 2 (guestbook: 3 frontends, redis master and slaves)", res["memory_step2"]),
        "## Data path (iperf3, TCP, 5 s per measurement)",
        "",
        "Between the lab's own hosts and pods only: a server pod on the second node, client pods on the first",
        "and second, iperf3 in each pod's network namespace; every run measures each path once, in turn.",
        "",
        *table(["path", "Gbit/s"], [[k, show(figure(v), 2)] for k, v in res["iperf3"].items()]),
        *_ratios(res),
        "## Builds",
        "",
        *table(["build", "cached"], [[k, show(figure(v), 1, " s")] for k, v in res["builds_cached"].items()]),
        *(_cold(res) if res.get("builds_cold") else
          ["Builds into an empty cache: not run this time (`BENCH_COLD=yes`).", ""]),
        "## The egress guard's counters",
        "",
        "Since the last bring-up (the lesson, iperf3 and the Services ran since). Rules that let traffic",
        "out name where it goes; every other lab packet is dropped.",
        "",
        *table(["table", "rule", "packets", "bytes"], [list(map(str, r)) for r in res["guard"]
                                                      if r[0] == "filter"]),
        "## How cost grows with the lab",
        "",
        "Extra nodes come from an inventory override (tools/netlab_bench/scale.py derives each one's lab IP",
        "and pod subnet from the last two nodes). One bring-up and one converge per size; three nodes are",
        "the runs above.",
        "",
        *_growth(res),
        "kube-proxy (iptables mode) with more Services, each with one endpoint, on the first node:",
        "",
        *_services(res),
        *([res["services_note"], ""] if res.get("services_note") else []),
        "Where the growth bends:",
        "",
        *_growth_text(res),
    ]
    return "\n".join(out).rstrip() + "\n"


def _ratios(res: dict) -> list[str]:
    return table(["ratio (same runs)", "value"], [[k, show(figure(v), 3)] for k, v in ratios(res["iperf3"]).items()])


# A "cold" build under a second faster than this found its result elsewhere (the lab
# images are looked up in this engine by recipe tag before anything is built).
COLD_FLOOR_S = 1.0


def cold_complete(res: dict) -> bool:
    """Whether every cold build really built (none found its result already made)."""
    cold = res.get("builds_cold") or {}
    return bool(cold) and all(v >= COLD_FLOOR_S for v in cold.values())


def _cold(res: dict) -> list[str]:
    rows = [[k, f"{v:.0f} s" if v >= COLD_FLOOR_S else f"{v:.1f} s: found in this engine, not built"]
            for k, v in res["builds_cold"].items()]
    out = table(["build, empty cache", "seconds"], rows)
    if not cold_complete(res):
        out += ["A cold `make lab` is not given: a build above did not build.", ""]
    return out


def summary(res: dict) -> str:
    figs = goal_figures(res)
    return "\n".join(goals_table(figs))
