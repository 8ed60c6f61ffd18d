#!/usr/bin/python
"""Remove every iptables chain whose name starts with a prefix, and the rules that jump to it."""

from __future__ import annotations

DOCUMENTATION = r"""
module: reset_iptables_chains
short_description: Remove the iptables chains with a name prefix (and every rule that jumps to them)
description:
  - Reads every table with C(<command>-save) for each command in O(commands) (C(iptables), C(ip6tables)),
    finds the user-defined chains whose name starts with O(prefix), the rules of other chains that jump
    (C(-j)) or go (C(-g)) to one of them, and removes them in one C(<command>-restore --noflush) per
    command - first the rules that jump to them, then the chains' own rules, then the chains.
  - Chains and rules without the prefix are never touched. Reports changed only when something was
    removed; in check mode, reports what would be.
  - A command that is not installed is skipped.
options:
  prefix:
    description: Name prefix of the chains to remove (C(KUBE-) for kubelet's and kube-proxy's).
    type: str
    required: true
  commands:
    description: The iptables front ends to clean, each with its C(-save) and C(-restore) beside it.
    type: list
    elements: str
    default: [iptables, ip6tables]
author: k8s-netlab
"""

RETURN = r"""
removed:
  description: What was (in check mode - would be) removed, by command and table.
  returned: always
  type: dict
  sample: {"iptables": {"nat": {"chains": ["KUBE-SERVICES"], "rules": ["-A OUTPUT -j KUBE-SERVICES"]}}}
"""

import shlex

from ansible.module_utils.basic import AnsibleModule


def plan(save_output: str, prefix: str) -> dict[str, dict[str, list[str]]]:
    """From `iptables-save` output: per table, the prefixed chains and the rules of other chains that use them."""
    tables: dict[str, dict[str, list[str]]] = {}
    table = None
    for line in save_output.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
            tables[table] = {"chains": [], "rules": []}
        elif table is None:
            continue
        elif line.startswith(":"):
            chain = line[1:].split()[0]
            if chain.startswith(prefix):
                tables[table]["chains"].append(chain)
        elif line.startswith("-A "):
            words = shlex.split(line)
            if words[1].startswith(prefix):
                continue  # flushed with its chain
            targets = [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-j", "--jump", "-g", "--goto")]
            if any(t.startswith(prefix) for t in targets):
                tables[table]["rules"].append(line)
    return {t: found for t, found in tables.items() if found["chains"] or found["rules"]}


def restore_input(found: dict[str, dict[str, list[str]]]) -> str:
    """iptables-restore --noflush input that deletes the rules, then flushes and deletes the chains."""
    lines = []
    for table, what in found.items():
        lines.append(f"*{table}")
        lines += ["-D" + rule[2:] for rule in what["rules"]]
        lines += [f"-F {chain}" for chain in what["chains"]]
        lines += [f"-X {chain}" for chain in what["chains"]]
        lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "prefix": {"type": "str", "required": True},
            "commands": {"type": "list", "elements": "str", "default": ["iptables", "ip6tables"]},
        },
        supports_check_mode=True,
    )
    prefix = module.params["prefix"]
    if not prefix:
        module.fail_json(msg="prefix must not be empty: every chain would match.")
    removed = {}
    for command in module.params["commands"]:
        save = module.get_bin_path(f"{command}-save")
        restore = module.get_bin_path(f"{command}-restore")
        if not save or not restore:
            continue
        rc, out, err = module.run_command([save])
        if rc != 0:
            module.fail_json(msg=f"{command}-save failed ({rc}): {err.strip()}")
        found = plan(out, prefix)
        if not found:
            continue
        removed[command] = found
        if module.check_mode:
            continue
        rc, _out, err = module.run_command([restore, "--noflush"], data=restore_input(found), binary_data=True)
        if rc != 0:
            module.fail_json(msg=f"{command}-restore could not remove the {prefix}* chains ({rc}): {err.strip()}",
                             removed=removed)
        rc, out, err = module.run_command([save])
        left = plan(out, prefix) if rc == 0 else {}
        if left:
            module.fail_json(msg=f"{command}: {prefix}* chains are still there after removing them: {left}",
                             removed=removed)
    module.exit_json(changed=bool(removed), removed=removed)


if __name__ == "__main__":
    main()
