"""Each role's defaults/main.yml, meta/argument_specs.yml and README variable table agree.

The rules are in roledocs' docstring. The checks run over every role of roles/, then
over copies in a temporary directory, changed one way at a time, to show that each
kind of disagreement is reported."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from netlab_tests.roledocs import check_entry_point, check_readme, check_role, check_specs, defaults, entry_points

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(path for path in (ROOT / "roles").iterdir() if (path / "tasks").is_dir())
ENTRY_POINTS = [(role, point) for role in ROLES for point in entry_points(role)]


def _report(problems: list[str]) -> str:
    return "\n".join(problems)


@pytest.mark.parametrize("role", ROLES, ids=[role.name for role in ROLES])
def test_defaults_and_argument_specs_agree(role: Path) -> None:
    problems = check_specs(role)
    assert not problems, _report(problems)


@pytest.mark.parametrize(
    ("role", "point"), ENTRY_POINTS, ids=[f"{role.name}:{point}" for role, point in ENTRY_POINTS]
)
def test_an_entry_point_declares_the_defaults_its_tasks_use(role: Path, point: str) -> None:
    problems = check_entry_point(role, point)
    assert not problems, _report(problems)


@pytest.mark.parametrize("role", ROLES, ids=[role.name for role in ROLES])
def test_readme_variable_table_agrees_with_the_defaults(role: Path) -> None:
    problems = check_readme(role)
    assert not problems, _report(problems)


def test_every_role_is_checked() -> None:
    assert len(ROLES) >= 19
    assert all((role / "defaults" / "main.yml").is_file() for role in ROLES)


# The checks themselves.


def test_a_default_added_without_its_spec_is_reported(tmp_path: Path) -> None:
    role = shutil.copytree(ROOT / "roles" / "artifact_mirror", tmp_path / "artifact_mirror")
    before = set(check_role(role))
    with (role / "defaults" / "main.yml").open("a") as file:
        file.write("\nartifact_mirror_extra: 1\n")
    assert set(check_role(role)) - before == {
        "roles/artifact_mirror: default `artifact_mirror_extra` has no option in meta/argument_specs.yml",
        "roles/artifact_mirror: default `artifact_mirror_extra` is not in the README's variable table",
    }


DEMO_DEFAULTS = """\
---
demo_port: 80
demo_dir: "{{ netlab_base_dir }}/demo"
demo_hosts: [a, b]
demo_flag: true
demo_mode: "0755"
demo_filter: "{{ demo_dir | basename }}"
demo_command: >-
  {{ demo_dir }}/run
  --port {{ demo_port }}
demo_only_check: /usr/bin/check
"""

DEMO_SPECS = """\
---
argument_specs:
  main:
    short_description: Demo.
    options:
      demo_port: {type: int, default: 80, description: Port.}
      demo_dir: {type: path, default: "{{ netlab_base_dir }}/demo", description: Dir.}
      demo_hosts:
        type: list
        elements: str
        default:
          - a
          - b
        description: Hosts.
      demo_flag: {type: bool, default: true, description: Flag.}
      demo_mode: {type: str, default: "0755", description: Mode.}
      demo_filter: {type: str, default: "{{ demo_dir | basename }}", description: Filter.}
      demo_command: {type: str, default: "{{ demo_dir }}/run --port {{ demo_port }}", description: Cmd.}
      demo_peers: {type: list, elements: str, description: Per host, not a role default.}
  check:
    short_description: Check.
    options:
      demo_only_check: {type: path, default: /usr/bin/check, description: Checker.}
"""

DEMO_README = """\
# demo

| Variable | Default | Meaning |
|---|---|---|
| `demo_port` | `80` | Port. |
| `demo_dir` | `{{ netlab_base_dir }}/demo` | Dir. |
| `demo_hosts` | `[a, b]` | Hosts. |
| `demo_flag` | `true` | Flag. |
| `demo_mode` | `"0755"` | Mode. |
| `demo_filter` | `{{ demo_dir \\| basename }}` | Filter. |
| `demo_command` | `demo_dir`/run with the port | Prose: only the name is checked. |
| `demo_peers` | none (host_vars) | An option without a default may be listed. |
| `demo_only_check` | `/usr/bin/check` | (`check`) Checker. |
"""

DEMO_TASKS = {
    "main.yml": "- ansible.builtin.command: '{{ demo_command }} {{ demo_hosts }} {{ demo_flag }}'\n"
    "- ansible.builtin.template: {src: demo.conf.j2, dest: /etc/demo}\n",
    "check.yml": "- ansible.builtin.command: '{{ demo_only_check }}'\n",
}


def make_demo(tmp_path: Path) -> Path:
    role = tmp_path / "demo"
    for name, text in {
        "defaults/main.yml": DEMO_DEFAULTS,
        "meta/argument_specs.yml": DEMO_SPECS,
        "README.md": DEMO_README,
        "templates/demo.conf.j2": "mode={{ demo_mode }} filter={{ demo_filter }}\n",
        "vars/main.yml": "demo_internal: not documented\n",
        **{f"tasks/{file}": tasks for file, tasks in DEMO_TASKS.items()},
    }.items():
        (role / name).parent.mkdir(parents=True, exist_ok=True)
        (role / name).write_text(text)
    return role


def test_a_role_whose_three_descriptions_agree_passes(tmp_path: Path) -> None:
    """Folded and one-line templates, flow and block lists, a quoted mode, an escaped
    pipe, a prose cell, an option without a default, vars/main.yml: all in order."""
    role = make_demo(tmp_path)
    assert defaults(role)["demo_command"] == "{{ demo_dir }}/run --port {{ demo_port }}"
    assert check_role(role) == []


def _edit(path: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(role: Path) -> None:
        text = (role / path).read_text()
        assert old in text, f"{old!r} is not in {path}"
        (role / path).write_text(text.replace(old, new, 1))

    return edit


def _spec_option(point: str, name: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(role: Path) -> None:
        path = role / "meta" / "argument_specs.yml"
        specs = yaml.safe_load(path.read_text())
        change(specs["argument_specs"].setdefault(point, {}).setdefault("options", {}).setdefault(name, {}))
        path.write_text(yaml.safe_dump(specs))

    return edit


def _move_option(name: str, source: str, target: str) -> Callable[[Path], None]:
    def edit(role: Path) -> None:
        path = role / "meta" / "argument_specs.yml"
        specs = yaml.safe_load(path.read_text())["argument_specs"]
        specs[target]["options"][name] = specs[source]["options"].pop(name)
        path.write_text(yaml.safe_dump({"argument_specs": specs}))

    return edit


MUTATIONS = {
    "default without option": (
        _edit("defaults/main.yml", "demo_port: 80\n", "demo_port: 80\ndemo_new: x\n"),
        [
            "roles/demo: default `demo_new` has no option in meta/argument_specs.yml",
            "roles/demo: default `demo_new` is not in the README's variable table",
        ],
    ),
    "default without prefix": (
        _edit("defaults/main.yml", "demo_port: 80\n", "demo_port: 80\nport: 80\n"),
        [
            "roles/demo: default `port` is not prefixed `demo_`",
            "roles/demo: default `port` has no option in meta/argument_specs.yml",
            "roles/demo: default `port` is not in the README's variable table",
        ],
    ),
    "option with a default, not in defaults": (
        _edit("defaults/main.yml", "demo_flag: true\n", ""),
        [
            "roles/demo: option `demo_flag` of entry point `main` has the default `true` in"
            " meta/argument_specs.yml but is not in defaults/main.yml",
        ],
    ),
    "option without a default, in defaults": (
        _edit("defaults/main.yml", "demo_port: 80\n", "demo_port: 80\ndemo_peers: []\n"),
        [
            "roles/demo: option `demo_peers` of entry point `main` has no default in"
            " meta/argument_specs.yml; defaults/main.yml has `[]`",
        ],
    ),
    "spec default differs": (
        _spec_option("main", "demo_port", lambda option: option.update(default=8080)),
        [
            "roles/demo: option `demo_port` of entry point `main`: meta/argument_specs.yml has the"
            " default `8080`, defaults/main.yml has `80`",
        ],
    ),
    "spec default of another type": (
        _spec_option("main", "demo_port", lambda option: option.update(default="80")),
        [
            "roles/demo: option `demo_port` of entry point `main`: meta/argument_specs.yml has the"
            ' default `"80"`, defaults/main.yml has `80`',
        ],
    ),
    "spec template differs": (
        _spec_option("main", "demo_dir", lambda option: option.update(default="/srv/demo")),
        [
            "roles/demo: option `demo_dir` of entry point `main`: meta/argument_specs.yml has the"
            ' default `"/srv/demo"`, defaults/main.yml has `"{{ netlab_base_dir }}/demo"`',
        ],
    ),
    "option of the wrong entry point": (
        _move_option("demo_hosts", "main", "check"),
        [
            "roles/demo: default `demo_hosts` is used by entry point `main` (tasks/main.yml and what it"
            " includes) but is an option only of `check` in meta/argument_specs.yml",
        ],
    ),
    "option used by a template, of the wrong entry point": (
        _move_option("demo_mode", "main", "check"),
        [
            "roles/demo: default `demo_mode` is used by entry point `main` (tasks/main.yml and what it"
            " includes) but is an option only of `check` in meta/argument_specs.yml",
        ],
    ),
    "option used through another default, of the wrong entry point": (
        _move_option("demo_port", "main", "check"),
        [
            "roles/demo: default `demo_port` is used by entry point `main` (tasks/main.yml and what it"
            " includes) but is an option only of `check` in meta/argument_specs.yml",
        ],
    ),
    "entry point without tasks": (
        _spec_option("remove", "demo_port", lambda option: option.update(type="int", default=80)),
        ["roles/demo: entry point `remove` has no tasks/remove.yml"],
    ),
    "README default differs": (
        _edit("README.md", "| `80` |", "| `8080` |"),
        ["roles/demo: README.md line 5: `demo_port` has the default `8080`, defaults/main.yml has `80`"],
    ),
    "README template differs": (
        _edit("README.md", "`{{ netlab_base_dir }}/demo`", "`/srv/demo`"),
        [
            "roles/demo: README.md line 6: `demo_dir` has the default `/srv/demo`,"
            ' defaults/main.yml has `"{{ netlab_base_dir }}/demo"`',
        ],
    ),
    "README list differs": (
        _edit("README.md", "`[a, b]`", "`[a]`"),
        ["roles/demo: README.md line 7: `demo_hosts` has the default `[a]`, defaults/main.yml has `[a, b]`"],
    ),
    "README variable missing": (
        _edit("README.md", "| `demo_flag` | `true` | Flag. |\n", ""),
        ["roles/demo: default `demo_flag` is not in the README's variable table"],
    ),
    "README variable unknown": (
        _edit("README.md", "| `demo_flag` |", "| `demo_flags` |"),
        [
            "roles/demo: README.md line 8 lists `demo_flags`, which is neither a default nor an option",
            "roles/demo: default `demo_flag` is not in the README's variable table",
        ],
    ),
    "README variable twice": (
        _edit("README.md", "| `demo_flag` | `true` | Flag. |\n", "| `demo_flag` | `true` | Flag. |\n" * 2),
        ["roles/demo: README.md lists `demo_flag` 2 times (lines [8, 9])"],
    ),
    "README without a table": (
        _edit("README.md", "| Variable | Default | Meaning |", "| Name | Default | Meaning |"),
        ["roles/demo: README.md has no variable table (| Variable | Default | Meaning |)"],
    ),
}


@pytest.mark.parametrize(("edit", "expected"), MUTATIONS.values(), ids=list(MUTATIONS))
def test_a_disagreement_is_reported(
    tmp_path: Path, edit: Callable[[Path], None], expected: list[str]
) -> None:
    role = make_demo(tmp_path)
    edit(role)
    assert sorted(check_role(role)) == sorted(expected)


def test_the_readme_table_may_span_several_tables(tmp_path: Path) -> None:
    role = make_demo(tmp_path)
    text = (role / "README.md").read_text()
    row = "| `demo_only_check` | `/usr/bin/check` | (`check`) Checker. |\n"
    (role / "README.md").write_text(
        text.replace(row, "")
        + textwrap.dedent("""
            ## The check entry point

            | Variable | Default | Meaning |
            |---|---|---|
            """)
        + row
    )
    assert check_role(role) == []
