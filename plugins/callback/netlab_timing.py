"""Callback: where a playbook run's time went, as JSON, for `make bench`.

Silent unless NETLAB_TIMING_FILE names a file: then each playbook run appends one
JSON line to it with the run's wall time, each play's time, each task's time (from
its start to the start of the next task, as ansible.posix.profile_tasks counts it)
and each host's ok/changed/failed counts. tools/netlab_bench reads these lines.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: netlab_timing
type: aggregate
short_description: Per-play and per-task times of a run, as one JSON line
description:
  - Appends one JSON line per playbook run to the file that NETLAB_TIMING_FILE names
    (nothing when it is unset), with the wall time, plays, tasks and per-host stats.
requirements:
  - enabled in callbacks_enabled, as ansible.cfg does
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "netlab_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._path = os.environ.get("NETLAB_TIMING_FILE", "")
        self._start = time.monotonic()
        self._playbook = ""
        self._plays: list[dict] = []
        self._tasks: list[dict] = []
        self._open_task: dict | None = None

    def _close_task(self, now: float) -> None:
        if self._open_task is not None:
            self._open_task["seconds"] = round(now - self._open_task.pop("_start"), 3)
            self._tasks.append(self._open_task)
            self._open_task = None

    def _close_play(self, now: float) -> None:
        if self._plays and "seconds" not in self._plays[-1]:
            play = self._plays[-1]
            play["seconds"] = round(now - play.pop("_start"), 3)

    def v2_playbook_on_start(self, playbook) -> None:
        self._playbook = os.path.basename(getattr(playbook, "_file_name", "") or "")

    def v2_playbook_on_play_start(self, play) -> None:
        now = time.monotonic()
        self._close_task(now)
        self._close_play(now)
        self._plays.append({"name": play.get_name().strip(), "_start": now})

    def _task_start(self, task) -> None:
        now = time.monotonic()
        self._close_task(now)
        role = task._role.get_name() if getattr(task, "_role", None) else ""
        play = self._plays[-1]["name"] if self._plays else ""
        self._open_task = {"play": play, "role": role, "name": task.get_name().strip(), "_start": now}

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        self._task_start(task)

    def v2_playbook_on_handler_task_start(self, task) -> None:
        self._task_start(task)

    def v2_playbook_on_stats(self, stats) -> None:
        now = time.monotonic()
        self._close_task(now)
        self._close_play(now)
        if not self._path:
            return
        hosts = {
            host: {key: stats.summarize(host)[key] for key in ("ok", "changed", "failures", "unreachable", "skipped")}
            for host in sorted(stats.processed)
        }
        record = {
            "playbook": self._playbook,
            "seconds": round(now - self._start, 3),
            "plays": self._plays,
            "tasks": self._tasks,
            "hosts": hosts,
        }
        with open(self._path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
