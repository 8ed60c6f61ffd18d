"""The cgroup v1 switch's decision (plugins/filter/netlab_boot.py), from the facts a
node shows: act on a VM that boots unified through GRUB, never on a container node,
never on a node already on v1, and refuse what cannot be switched."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "filter"))

from netlab_boot import FLAG, netlab_cgroup_v1_plan, netlab_grub_cmdline_with_flag  # noqa: E402

VM_CMDLINE = "BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=UUID=0b1d ro quiet"


@pytest.mark.parametrize(
    ("fstype", "cmdline", "grub", "container", "plan"),
    [
        ("cgroup2fs", VM_CMDLINE, True, False, "configure"),        # Debian 12 VM, first run
        ("tmpfs", f"{VM_CMDLINE} {FLAG}", True, False, "none"),      # the same VM after the reboot
        ("tmpfs", VM_CMDLINE, True, False, "none"),                  # a VM already on v1
        ("cgroup2fs", VM_CMDLINE, True, True, "none"),               # a container node on a v2 host
        ("tmpfs", VM_CMDLINE, False, True, "none"),                  # a container node here
        ("cgroup2fs", VM_CMDLINE, False, False, "unsupported"),      # unified, no GRUB
        ("cgroup2fs", f"{VM_CMDLINE} {FLAG}", True, False, "unsupported"),  # flag ignored
    ],
)
def test_the_plan_follows_the_facts(fstype, cmdline, grub, container, plan):
    assert netlab_cgroup_v1_plan(fstype, cmdline, grub, container) == plan


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", FLAG),
        ("console=ttyS0 net.ifnames=0", f"console=ttyS0 net.ifnames=0 {FLAG}"),
        (f"quiet {FLAG}", f"quiet {FLAG}"),
        ("quiet systemd.unified_cgroup_hierarchy=1", f"quiet {FLAG}"),
    ],
)
def test_grub_gets_the_flag_once_and_keeps_the_rest(before, after):
    assert netlab_grub_cmdline_with_flag(before) == after
