"""A role's three descriptions of its variables, checked against each other.

Every role has ``defaults/main.yml`` (the values), ``meta/argument_specs.yml`` (the
entry points and their options) and a README with a variable table
(``| Variable | Default | Meaning |``). The checks here take a role directory and
return one sentence per disagreement, each starting with ``roles/<name>:``; an empty
list means the three agree. ``vars/main.yml`` (internal, undocumented) is ignored.

The rules:

- every default is named ``<role>_...``;
- every default is an option of some entry point, and every option that has a default
  in the spec is a default with the same value (values compared as parsed YAML, types
  included; strings holding Jinja compare with their whitespace runs collapsed, so a
  folded scalar equals the same template on one line); an option without a default in
  the spec (an input set per host or by the inventory) needs none in defaults, and must
  not have one there;
- every entry point has its ``tasks/<entry point>.yml``, and each default that its task
  files or their templates name (directly, or through another default's value) and that
  is an option at all is one of its options (not only another entry point's);
- every default is in the README's variable table (all tables whose header starts with
  ``Variable``), once; the table names nothing that is neither a default nor an option;
  where a row's default cell is a single backticked value, it is the default: its text
  equals the default string, or it parses (YAML) to the default value. Any other cell is
  prose and only the name is checked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

README_HEADER = re.compile(r"^\|\s*variable\s*\|", re.IGNORECASE)
TABLE_ROW = re.compile(r"^\|(.*)\|\s*$")
NAME_CELL = re.compile(r"^`([A-Za-z_][A-Za-z0-9_]*)`$")
VALUE_CELL = re.compile(r"^`([^`]+)`$")
FILE_MENTION = re.compile(r"[\w./-]+\.(?:ya?ml|j2)\b")
DYNAMIC_INCLUDE = re.compile(r"(?:include|import)_tasks:\s*['\"]?[^\n]*\{\{")


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) if path.exists() else None


def defaults(role: Path) -> dict[str, Any]:
    """The role's defaults/main.yml, as a dict."""
    return _load(role / "defaults" / "main.yml") or {}


def entry_points(role: Path) -> dict[str, dict[str, Any]]:
    """Entry point -> its options (name -> option spec), from meta/argument_specs.yml."""
    specs = (_load(role / "meta" / "argument_specs.yml") or {}).get("argument_specs") or {}
    return {name: (spec or {}).get("options") or {} for name, spec in specs.items()}


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def normalized(value: Any) -> Any:
    """The value, with every Jinja string's whitespace runs collapsed to one space."""
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    if is_template(value):
        return " ".join(value.split())
    return value


def same_value(a: Any, b: Any) -> bool:
    """Equal as parsed YAML, types included (true is not 1), Jinja whitespace aside."""
    a, b = normalized(a), normalized(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def show(value: Any) -> str:
    """A value for messages, in backticks: a string JSON-quoted (its type and every character
    visible), anything else as one line of YAML flow style."""
    if isinstance(value, str):
        return "`" + json.dumps(value) + "`"
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, allow_unicode=True)
    return "`" + text.removesuffix("\n").removesuffix("\n...").strip() + "`"


def check_specs(role: Path) -> list[str]:
    """defaults/main.yml against meta/argument_specs.yml."""
    where = f"roles/{role.name}"
    values = defaults(role)
    points = entry_points(role)
    problems = []
    if "main" not in points:
        problems.append(f"{where}: meta/argument_specs.yml has no entry point `main`")
    for name in values:
        if not name.startswith(f"{role.name}_"):
            problems.append(f"{where}: default `{name}` is not prefixed `{role.name}_`")
        if not any(name in options for options in points.values()):
            problems.append(f"{where}: default `{name}` has no option in meta/argument_specs.yml")
    for point, options in points.items():
        for name, option in options.items():
            option = option or {}
            label = f"{where}: option `{name}` of entry point `{point}`"
            if "default" in option and name not in values:
                problems.append(
                    f"{label} has the default {show(option['default'])} in meta/argument_specs.yml"
                    " but is not in defaults/main.yml"
                )
            elif "default" not in option and name in values:
                problems.append(
                    f"{label} has no default in meta/argument_specs.yml;"
                    f" defaults/main.yml has {show(values[name])}"
                )
            elif name in values and not same_value(option["default"], values[name]):
                problems.append(
                    f"{label}: meta/argument_specs.yml has the default {show(option['default'])},"
                    f" defaults/main.yml has {show(values[name])}"
                )
    return problems


def entry_point_files(role: Path, point: str) -> list[Path]:
    """tasks/<point>.yml and the role's task files and templates it names, transitively.

    A task file that includes a file whose name is a template (``"{{ x_state }}.yml"``)
    is taken to include every task file of the role."""
    seen: list[Path] = []
    todo = [role / "tasks" / f"{point}.yml"]
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.append(path)
        text = path.read_text()
        if DYNAMIC_INCLUDE.search(text):
            todo.extend(sorted((role / "tasks").glob("*.yml")))
        for mention in FILE_MENTION.findall(text):
            todo.extend([role / "tasks" / mention, role / "templates" / mention])
    return seen


def used_defaults(role: Path, point: str) -> set[str]:
    """The defaults that an entry point's files name, and those their values name."""
    values = defaults(role)
    text = "\n".join(path.read_text() for path in entry_point_files(role, point))

    def named_in(text: str) -> set[str]:
        return {name for name in values if re.search(rf"\b{re.escape(name)}\b", text)}

    used = named_in(text)
    todo = list(used)
    while todo:
        for name in named_in(yaml.safe_dump(values[todo.pop()])) - used:
            used.add(name)
            todo.append(name)
    return used


def check_entry_point(role: Path, point: str) -> list[str]:
    """An entry point's tasks use only defaults that are among its options."""
    where = f"roles/{role.name}"
    if not (role / "tasks" / f"{point}.yml").is_file():
        return [f"{where}: entry point `{point}` has no tasks/{point}.yml"]
    points = entry_points(role)
    problems = []
    for name in sorted(used_defaults(role, point) - set(points.get(point, {}))):
        others = [other for other, options in points.items() if name in options]
        if others:  # a default with no option at all is check_specs' to report
            problems.append(
                f"{where}: default `{name}` is used by entry point `{point}` (tasks/{point}.yml and what"
                f" it includes) but is an option only of {', '.join(f'`{o}`' for o in others)}"
                " in meta/argument_specs.yml"
            )
    return problems


def readme_rows(role: Path) -> list[tuple[int, str, str]]:
    """(line number, variable, default cell) of every row of the README's variable tables."""
    path = role / "README.md"
    if not path.exists():
        return []
    rows = []
    in_table = False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if README_HEADER.match(line):
            in_table = True
            continue
        row = TABLE_ROW.match(line)
        if not in_table or not row:
            in_table = False
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", row.group(1))]
        if set(cells[0]) <= set("-: "):
            continue  # the |---|---| line
        name = NAME_CELL.match(cells[0])
        rows.append((number, name.group(1) if name else cells[0], cells[1] if len(cells) > 1 else ""))
    return rows


def readme_default_agrees(cell: str, value: Any) -> bool | None:
    """Whether a README default cell states the value; None when the cell is prose."""
    literal = VALUE_CELL.match(cell.replace("\\|", "|"))
    if not literal:
        return None
    text = literal.group(1)
    if isinstance(value, str) and normalized(text) == normalized(value):
        return True
    try:
        return same_value(yaml.safe_load(text), value)
    except yaml.YAMLError:
        return False


def check_readme(role: Path) -> list[str]:
    """defaults/main.yml (and the options) against the README's variable table."""
    where = f"roles/{role.name}"
    values = defaults(role)
    options = {name for opts in entry_points(role).values() for name in opts}
    rows = readme_rows(role)
    if not rows:
        return [f"{where}: README.md has no variable table (| Variable | Default | Meaning |)"]
    problems = []
    lines: dict[str, list[int]] = {}
    for number, name, cell in rows:
        lines.setdefault(name, []).append(number)
        if name not in values and name not in options:
            problems.append(
                f"{where}: README.md line {number} lists `{name}`, which is neither a default nor an option"
            )
        elif name in values and readme_default_agrees(cell, values[name]) is False:
            problems.append(
                f"{where}: README.md line {number}: `{name}` has the default {cell},"
                f" defaults/main.yml has {show(values[name])}"
            )
    for name, numbers in lines.items():
        if len(numbers) > 1:
            problems.append(f"{where}: README.md lists `{name}` {len(numbers)} times (lines {numbers})")
    problems += [
        f"{where}: default `{name}` is not in the README's variable table"
        for name in values
        if name not in lines
    ]
    return problems


def check_role(role: Path) -> list[str]:
    """Every check of one role."""
    problems = check_specs(role)
    for point in entry_points(role):
        problems += check_entry_point(role, point)
    return problems + check_readme(role)
