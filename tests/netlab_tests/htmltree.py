"""A small DOM for tests of the lab report: the page parsed with the standard library's
HTMLParser into elements that can be queried by tag, class and data-* attributes, and
the page as headless Chromium lays it out (netlab_report.browser, the report's own
runner)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from netlab_report import browser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    """A node of the parsed page: enough DOM to query the diagram."""

    tag: str
    attrs: dict[str, str]
    parent: Element | None = None
    children: list[Element] = field(default_factory=list)
    data: list[str] = field(default_factory=list)

    def iter(self):
        yield self
        for child in self.children:
            yield from child.iter()

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def find_all(self, tag: str, cls: str | None = None, **data: str) -> list[Element]:
        return [
            e for e in self.iter()
            if e.tag == tag and (cls is None or cls in e.classes())
            and all(e.attrs.get(f"data-{k.replace('_', '-')}") == v for k, v in data.items())
        ]

    def one(self, tag: str, cls: str | None = None, **data: str) -> Element:
        found = self.find_all(tag, cls, **data)
        assert len(found) == 1, f"expected one <{tag} class={cls} {data}>, found {len(found)}"
        return found[0]

    def text(self) -> str:
        return "".join(self.data) + "".join(c.text() for c in self.children)

    def texts(self) -> list[str]:
        """The content of every SVG <text> inside."""
        return [t.text() for t in self.find_all("text")]

    def ancestor(self, tag: str, cls: str) -> Element | None:
        e = self.parent
        while e is not None and not (e.tag == tag and cls in e.classes()):
            e = e.parent
        return e


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.root = Element("#document", {})
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Element(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag):
        e = self.current
        while e is not None and e.tag != tag:
            e = e.parent
        if e is not None and e.parent is not None:
            self.current = e.parent

    def handle_data(self, data):
        self.current.data.append(data)


def parse_html(text: str) -> Element:
    builder = TreeBuilder()
    builder.feed(text)
    builder.close()
    return builder.root


def laid_out(page: Path, profile: Path) -> Element:
    """The page's <svg> after Chromium has laid it out and the page's layout check has run."""
    return parse_html(browser.dump_dom(page, profile)).one("svg")
