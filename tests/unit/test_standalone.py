"""The repository stands alone: nothing in it points outside it.

A user who clones the repository has only the repository. No file may name a
directory beside the checkout or a path of the machine it was written on, and every
relative link of the documentation (README.md, docs/*.md, roles/*/README.md) must
lead to a file or directory inside the checkout.

The files looked at are git's: tracked ones, plus new ones not yet committed and not
ignored (`git ls-files --cached --others --exclude-standard`), so that a new file is
checked before its first commit. The unit tests' fixtures and this file are left out.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve().relative_to(REPO).as_posix()
EXCLUDED_DIRS = ("tests/unit/fixtures/",)

# Pointers to places a clone does not have: the directory beside the checkout, the
# path it has on the machine the project is built on, and the documents kept there
# (docs/ holds the project's own). Built from parts so that this file does not hold
# them whole (it is left out of the scan all the same).
OUTSIDE = tuple(
    s.encode() for s in ("../" + "shared", "/work/" + "shared", "LAB-" + "SPEC", "CONTAINER-" + "NODES")
)

# Relative markdown links: inline [text](target) and ![alt](target), and reference
# definitions `[label]: target`. A target may sit in <...> and carry a "title".
INLINE_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+[\"'(][^)]*)?\s*\)")
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)", re.MULTILINE)
FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def repo_files() -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True, capture_output=True,
    ).stdout
    names = sorted({n for n in out.decode().split("\0") if n})
    return [
        n for n in names
        if n != THIS and not n.startswith(EXCLUDED_DIRS) and (REPO / n).is_file()
    ]


def doc_files() -> list[str]:
    files = set(repo_files())
    docs = ["README.md"] + sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md"))
    docs += sorted(p.relative_to(REPO).as_posix() for p in (REPO / "roles").glob("*/README.md"))
    return [d for d in docs if d in files]


def relative_links(markdown: str) -> list[str]:
    """The link targets of a markdown text that are paths (no URL, no bare #anchor),
    outside code blocks and code spans."""
    text = CODE_SPAN.sub("", FENCE.sub("", markdown))
    targets = [m.group(1) for m in INLINE_LINK.finditer(text)]
    targets += [m.group(1) for m in REFERENCE_DEF.finditer(text)]
    found = []
    for target in targets:
        target = target.strip("<>").strip()
        if not target or target.startswith("#") or SCHEME.match(target):
            continue
        found.append(target)
    return found


def line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def test_the_link_reader_finds_relative_links_only():
    text = (
        "See [the spec](docs/lab-spec.md#addresses), ![pic](docs/a%20b.png \"title\"),\n"
        "[site](https://example.org/x), [mail](mailto:a@b), [here](#top), [dir](roles/).\n"
        "`[not a link](nowhere.md)`\n"
        "```\n[in a block](nowhere.md)\n```\n"
        "[ref]: <inventory/lab/hosts.yml>\n"
    )
    assert relative_links(text) == ["docs/lab-spec.md#addresses", "docs/a%20b.png", "roles/",
                                     "inventory/lab/hosts.yml"]


def test_the_scan_sees_the_documentation_and_leaves_itself_out():
    files = repo_files()
    assert "README.md" in files
    assert THIS not in files
    assert not [f for f in files if f.startswith(EXCLUDED_DIRS)]


@pytest.mark.parametrize("name", repo_files())
def test_no_file_points_outside_the_repository(name):
    data = (REPO / name).read_bytes()
    hits = [
        f"line {line_of(data, m.start())}: {pattern.decode()}"
        for pattern in OUTSIDE
        for m in re.finditer(re.escape(pattern), data)
    ]
    assert not hits, f"{name} points outside the repository ({'; '.join(hits)})"


@pytest.mark.parametrize("name", doc_files())
def test_every_relative_link_leads_to_a_file_in_the_repository(name):
    source = REPO / name
    broken = []
    for target in relative_links(source.read_text(encoding="utf-8")):
        path = re.sub(r"%20", " ", target.split("#", 1)[0].split("?", 1)[0])
        if not path:
            continue
        # A leading / is the repository's root, as on GitHub.
        base = REPO if path.startswith("/") else source.parent
        resolved = (base / path.lstrip("/")).resolve()
        if not resolved.is_relative_to(REPO):
            broken.append(f"{target} (outside the repository)")
        elif not resolved.exists():
            broken.append(f"{target} (no such file)")
    assert not broken, f"{name}: " + ", ".join(broken)
