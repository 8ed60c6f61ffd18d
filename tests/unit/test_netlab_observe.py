"""Unit tests of the observe role's filter (plugins/filter/netlab_observe.py) and of
its default node commands."""

import importlib.util
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
_SPEC = importlib.util.spec_from_file_location("netlab_observe", ROOT / "plugins/filter/netlab_observe.py")
observe = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(observe)


def test_a_node_command_is_shown_as_the_argv_that_ran():
    result = {"cmd": ["docker", "port", "3f2a"], "rc": 0, "stdout": "80/tcp -> 0.0.0.0:80", "stderr": "",
              "item": "3f2a"}
    assert observe.netlab_command_record(result) == {
        "command": "docker port 3f2a", "rc": 0, "stdout": "80/tcp -> 0.0.0.0:80", "stderr": "",
    }


def test_a_kubectl_command_is_shown_as_typed_without_path_and_kubeconfig():
    result = {
        "cmd": ["/usr/local/bin/kubectl", "--kubeconfig=/etc/kubernetes/admin.kubeconfig", "get", "rc"],
        "rc": 0, "stdout": "No resources found in default namespace.", "stderr": "", "item": "get rc",
    }
    assert observe.netlab_command_record(result, "kubectl")["command"] == "kubectl get rc"


def test_a_failed_command_keeps_its_code_and_error():
    result = {"cmd": "ip route show table 7", "rc": 2, "stdout": "", "stderr": "Error: ipv4: FIB table does not exist."}
    record = observe.netlab_command_record(result)
    assert (record["command"], record["rc"], record["stderr"]) == (
        "ip route show table 7", 2, "Error: ipv4: FIB table does not exist.")


def test_the_default_node_commands_show_every_netfilter_backend():
    """iptables-save alone shows neither iptables-legacy's rules nor native nftables tables."""
    commands = yaml.safe_load((ROOT / "roles/observe/defaults/main.yml").read_text())["observe_node_commands"]
    assert {"iptables-save", "iptables-legacy-save", "nft list ruleset"} <= set(commands)
    specs = yaml.safe_load((ROOT / "roles/observe/meta/argument_specs.yml").read_text())
    assert specs["argument_specs"]["main"]["options"]["observe_node_commands"]["default"] == commands
