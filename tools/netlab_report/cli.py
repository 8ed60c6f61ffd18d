"""The command, tools/lab-report: its arguments, the two files it writes, the optional
screenshot, and its messages and exit status (0 done, 1 an output or the screenshot
could not be written, 2 bad usage or unreadable input)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from netlab_report import browser, walk
from netlab_report.diagram import Diagram
from netlab_report.observations import InputError, load_observations, parse_lab
from netlab_report.page import diagram_page, render_html
from netlab_report.transcript import render_transcript

PROG = "lab-report"


def write_screenshot(svg: str, width: float, height: float, png: Path) -> None:
    """Render the diagram alone, at its own size, to a PNG."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp, "diagram.html")
        source.write_text(diagram_page(svg), encoding="utf-8")
        browser.screenshot(source, png, width, height, Path(tmp, "profile"))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Render the lab's observations as transcript.txt and report.html.")
    parser.add_argument("observations", type=Path,
                        help="observations.json, as playbooks/observe.yml writes it")
    parser.add_argument("outdir", type=Path, help="directory for transcript.txt and report.html (created)")
    parser.add_argument("--screenshot", type=Path, metavar="PNG",
                        help="also render the diagram to this PNG (headless Chromium)")
    parser.add_argument("--walk", type=Path, metavar="CAPTURE",
                        help="walk-capture.json (playbooks/walk.yml): also write walk.json, walk.txt and walk.html, "
                             "the walk drawn over the diagram (the screenshot is then of that)")
    args = parser.parse_args(argv)
    try:
        lab = parse_lab(load_observations(args.observations))
        walked = walk.build(load_observations(args.walk)) if args.walk else None
    except (InputError, walk.WalkError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    diagram = Diagram(lab)
    svg = diagram.render()
    outputs = {"transcript.txt": render_transcript(lab), "report.html": render_html(lab, svg)}
    if walked:
        svg = walk.render_svg(walked, Diagram(lab))
        outputs |= {"walk.json": json.dumps(walked.as_json(), indent=2) + "\n", "walk.txt": walk.render_text(walked),
                    "walk.html": walk.render_html(walked, svg)}
    try:
        args.outdir.mkdir(parents=True, exist_ok=True)
        for name, content in outputs.items():
            (args.outdir / name).write_text(content, encoding="utf-8")
            print(args.outdir / name)
    except OSError as exc:
        print(f"{PROG}: cannot write {exc.filename or args.outdir}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if args.screenshot:
        try:
            write_screenshot(svg, diagram.layout.width, diagram.height, args.screenshot)
        except (browser.BrowserError, OSError, subprocess.TimeoutExpired) as exc:
            print(f"{PROG}: screenshot failed: {exc}", file=sys.stderr)
            return 1
        print(args.screenshot)
    return 0
