"""Filters for the common role's cgroup v1 switch: what a node's boot needs.

kubelet v1.20 with dockershim runs here on the cgroup v1 hierarchy. A VM whose
kernel boots with the unified (v2) hierarchy gets `systemd.unified_cgroup_hierarchy=0`
on its kernel command line (GRUB) and one reboot. A container node shares the
host's kernel: nothing about its boot is the node's to change.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

FLAG = "systemd.unified_cgroup_hierarchy=0"
_FLAG_RE = re.compile(r"(^|\s)systemd\.unified_cgroup_hierarchy=(\S*)")


def netlab_cgroup_v1_plan(cgroup_fstype: str, cmdline: str, grub_present: bool, container: bool) -> str:
    """What the node needs for cgroup v1, from facts read on it.

    cgroup_fstype: the file system type of /sys/fs/cgroup (`stat -f -c %T`):
      `cgroup2fs` on the unified hierarchy, `tmpfs` on v1 (or hybrid).
    cmdline: the running kernel's command line (/proc/cmdline).
    grub_present: whether /etc/default/grub exists (the node boots through GRUB).
    container: whether the node is a container (`systemd-detect-virt --container`).

    Returns `none` (nothing to do), `configure` (add the flag to GRUB, then reboot),
    or `unsupported` (unified hierarchy, and no GRUB to put the flag in, or booted
    with the flag and still unified).
    """
    if container or cgroup_fstype != "cgroup2fs":
        return "none"
    if FLAG in cmdline.split():
        # Booted with the flag, yet unified: the kernel or systemd ignores it.
        return "unsupported"
    if not grub_present:
        return "unsupported"
    return "configure"


def netlab_grub_cmdline_with_flag(value: str) -> str:
    """GRUB_CMDLINE_LINUX's value with the cgroup v1 flag set (replacing another value of it)."""
    words = [w for w in shlex.split(value) if not _FLAG_RE.match(w)]
    return " ".join(words + [FLAG])


class FilterModule:
    """netlab_cgroup_v1_plan, netlab_grub_cmdline_with_flag."""

    def filters(self) -> dict[str, Any]:
        return {
            "netlab_cgroup_v1_plan": netlab_cgroup_v1_plan,
            "netlab_grub_cmdline_with_flag": netlab_grub_cmdline_with_flag,
        }
