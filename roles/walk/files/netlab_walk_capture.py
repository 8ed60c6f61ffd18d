#!/usr/bin/env python3
"""Capture one connection on this node while a walk sends it (installed by roles/walk).

    netlab-walk-capture DIR FILTER [--trace RULE ...] [--seconds N]

Starts `xtables-monitor --trace` (when --trace rules are given: each is an iptables
rule spec for the raw table, e.g. "PREROUTING -s 10.1.10.5 -p tcp --sport 40123",
inserted with `-j TRACE` for the capture and deleted after) and `tcpdump -i any`
with the BPF FILTER, writes DIR/ready once both listen, and stops them when
DIR/done appears (or after N seconds: it always stops by itself). Then prints one
JSON document: {"packets": tcpdump's lines, "trace": xtables-monitor's lines,
"errors": what either printed on stderr}.

Only this node's own interfaces are read, and nothing is sent.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

READY_TIMEOUT_S = 10
SETTLE_S = 0.5  # after `done`: the last packets reach the capture


def iptables_trace(action: str, rule: str) -> None:
    chain, *match = rule.split()
    subprocess.run(["iptables", "-w", "-t", "raw", action, chain, *match, "-j", "TRACE"], check=True)


def wait_for(path: Path, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return True
        time.sleep(0.05)
    return False


def capture(workdir: Path, bpf: str, traces: list[str], seconds: float) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("ready", "done", "packets.txt", "tcpdump.err", "trace.txt", "trace.err"):
        (workdir / name).unlink(missing_ok=True)
    procs: list[subprocess.Popen] = []
    inserted: list[str] = []
    try:
        if traces:
            procs.append(subprocess.Popen(["xtables-monitor", "--trace"],
                                          stdout=(workdir / "trace.txt").open("w"),
                                          stderr=(workdir / "trace.err").open("w")))
            for rule in traces:
                iptables_trace("-I", rule)
                inserted.append(rule)
        procs.append(subprocess.Popen(["tcpdump", "-i", "any", "-nn", "-tt", "-l", "-U", bpf],
                                      stdout=(workdir / "packets.txt").open("w"),
                                      stderr=(workdir / "tcpdump.err").open("w")))
        if not wait_for(workdir / "tcpdump.err", "listening on", READY_TIMEOUT_S):
            raise RuntimeError("tcpdump did not start listening")
        time.sleep(0.2)  # xtables-monitor subscribes at once; give it the same head start
        (workdir / "ready").touch()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not (workdir / "done").exists():
            time.sleep(0.05)
        time.sleep(SETTLE_S)
    finally:
        for rule in inserted:
            iptables_trace("-D", rule)
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
    return {
        "packets": (workdir / "packets.txt").read_text(errors="replace").splitlines(),
        "trace": (workdir / "trace.txt").read_text(errors="replace").splitlines() if traces else [],
        "errors": [line for name in ("tcpdump.err", "trace.err") if (workdir / name).exists()
                   for line in (workdir / name).read_text(errors="replace").splitlines()
                   if line and "listening on" not in line and "packets " not in line],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="netlab-walk-capture", description=__doc__.split("\n\n")[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("filter", help="tcpdump's filter (BPF): the connection's tuple")
    parser.add_argument("--trace", action="append", default=[], metavar="RULE",
                        help="a raw-table rule spec to trace (CHAIN MATCH...), repeatable")
    parser.add_argument("--seconds", type=float, default=30, help="stop after this long at most")
    args = parser.parse_args(argv)
    try:
        result = capture(args.workdir, args.filter, args.trace, args.seconds)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"netlab-walk-capture: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
