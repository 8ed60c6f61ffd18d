"""transcript.txt: every command as `node2# docker ps` followed by its output (its
standard error and a failed command's exit status after it), the control plane's
kubectl first, then node by node, each under a heading."""

from __future__ import annotations

from netlab_report.model import Command, Lab

RULE = "=" * 78


def command_text(prompt: str, cmd: Command) -> str:
    lines = [f"{prompt}# {cmd.command}"]
    for stream in (cmd.stdout, cmd.stderr):
        if stream:
            lines.append(stream.rstrip("\n"))
    if cmd.rc not in (0, None):
        lines.append(f"[exit status {cmd.rc}]")
    return "\n".join(lines) + "\n"


def render_transcript(lab: Lab) -> str:
    facts = ", ".join(f"{k} {v}" for k, v in (("lab network", lab.lab_network), ("pod range", lab.pod_cidr),
                                             ("service range", lab.service_cidr)) if v)
    when = lab.generated_at or "at an unknown time"
    parts = [f"k8s-netlab transcript, observed {when}\n" + (f"{facts}\n" if facts else "")]
    for section in lab.sections:
        parts.append(f"\n{RULE}\n{section.title}\n{RULE}\n")
        parts.extend("\n" + command_text(section.host, c) for c in section.commands)
        if not section.commands:
            parts.append("\n(no commands were recorded)\n")
    return "".join(parts)

