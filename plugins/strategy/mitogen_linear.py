"""Mitogen for Ansible's `mitogen_linear` strategy, from the venv's `mitogen` package.

The linear strategy (every task on every host before the next task), with Mitogen's
connections: each host keeps one Python process for the whole run, which receives
the modules' code once and runs every task in it. Without it, each task is a new
`docker exec` (or SSH session) with a fresh Python that unpacks and imports its
module again: on this lab, ~0.6 s per task, most of a converge.

ansible.cfg names this directory (strategy_plugins) and the strategy; mitogen is
pinned in requirements.txt.
"""

from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule

__all__ = ["StrategyModule"]
