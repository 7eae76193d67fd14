"""The documentation is whole: a short README whose links lead somewhere, and every docs page reachable from the nav.

`make test` builds the site with `mkdocs build --strict` (links between docs pages, anchors); these checks are the
ones that build cannot make (README lies outside docs/) and stay fast and offline.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 200
# [text](target) and ![alt](target); the target ends at the first space (a title) or the closing parenthesis
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)")


def relative_links(markdown: str) -> list[str]:
    """The link targets of a Markdown text that point into the repository (no scheme, no bare #anchor)."""
    without_code = re.sub(r"```.*?```", "", markdown, flags=re.DOTALL)
    without_code = re.sub(r"`[^`\n]*`", "", without_code)
    targets = [m.group(1) for m in LINK.finditer(without_code)]
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def nav_pages(nav: list) -> set[str]:
    """Every page file named anywhere in a mkdocs nav (nested sections included)."""
    pages: set[str] = set()
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        if isinstance(value, list):
            pages |= nav_pages(value)
        elif isinstance(value, str):
            pages.add(value)
    return pages


def test_readme_is_at_most_200_lines() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail to docs/"


def test_readme_keeps_make_demo_and_make_test() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text


def test_every_relative_link_in_readme_exists() -> None:
    links = relative_links((ROOT / "README.md").read_text(encoding="utf-8"))
    assert links, "README.md links to no docs page"
    missing = [t for t in links if not (ROOT / t.split("#")[0]).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"


def test_every_docs_page_is_in_the_nav() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    docs = ROOT / config.get("docs_dir", "docs")
    in_nav = nav_pages(config["nav"])
    pages = {p.relative_to(docs).as_posix() for p in docs.rglob("*.md")}
    assert not pages - in_nav, f"docs pages missing from mkdocs.yml's nav: {sorted(pages - in_nav)}"
    assert not in_nav - pages, f"mkdocs.yml's nav names pages that do not exist: {sorted(in_nav - pages)}"


def test_the_link_reader_finds_links_and_skips_code_and_urls() -> None:
    text = (
        'See [a](docs/a.md#x) and ![b](docs/img/b.png "title"), [web](https://example.org), [here](#top).\n'
        "`[not](a link)`\n```\n[nor](this.md)\n```\n"
    )
    assert relative_links(text) == ["docs/a.md#x", "docs/img/b.png"]
