"""The README and docs/ as a reader meets them: a README short enough to read as a Space card, links
and images that open, and no docs page that only a file listing can find (docs/index.md is the
table of contents)."""
import re
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_WORDS = 1500  # the README is also the Hugging Face Space card: it should fit on a screen or two

FENCED_CODE = re.compile(r"^(```|~~~).*?^\1", flags=re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
# [text](target) and ![alt](target), with an optional "title"; <img src="..."> too.
MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_SOURCE = re.compile(r"<(?:img|a|source)\b[^>]*?\b(?:src|href)=[\"']([^\"']+)[\"']", flags=re.I)


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def link_targets(text: str) -> list[str]:
    """Link and image targets of a markdown text, outside code (a `[i](j)` in code is not a link)."""
    prose = INLINE_CODE.sub("", FENCED_CODE.sub("", text))
    return MARKDOWN_LINK.findall(prose) + HTML_SOURCE.findall(prose)


def local_target(page: Path, target: str) -> Path | None:
    """The file a relative link points to, or None for external links and same-page anchors."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.I) or target.startswith(("#", "//")):
        return None
    path = unquote(target.split("#", 1)[0].split("?", 1)[0])
    return (page.parent / path).resolve()


def test_link_parser_finds_links_and_images_but_not_code():
    text = (
        "See [a](docs/a.md#part) and ![b](docs/b.png \"title\") and <img src=\"c.png\" width=3>.\n"
        "Inline `[not](x.md)` and\n```python\nresult[\"k\"](y.md)\n[no](z.md)\n```\n[web](https://e.org/x)\n"
    )
    targets = link_targets(text)
    assert targets == ["docs/a.md#part", "docs/b.png", "https://e.org/x", "c.png"]
    assert local_target(README, "https://e.org/x") is None and local_target(README, "#top") is None
    assert local_target(README, "docs/a%20b.md#x") == ROOT / "docs" / "a b.md"


def test_readme_is_at_most_1500_words_and_keeps_the_space_front_matter():
    text = README.read_text(encoding="utf-8")
    words = len(text.split())
    assert words <= README_MAX_WORDS, f"README.md has {words} words; move detail to a docs/ page (limit {README_MAX_WORDS})"
    assert text.startswith("---\n") and "\nsdk: gradio\n" in text.split("\n---\n", 1)[0]


def test_every_relative_link_and_image_resolves():
    broken = []
    for page in markdown_files():
        for target in link_targets(page.read_text(encoding="utf-8")):
            path = local_target(page, target)
            if path is not None and not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "links to missing files:\n" + "\n".join(broken)


def test_every_docs_page_is_reachable_from_the_readme_or_the_index():
    index = DOCS / "index.md"
    assert index.is_file(), "docs/index.md (the table of contents) is missing"
    readme_links = {local_target(README, target) for target in link_targets(README.read_text(encoding="utf-8"))}
    assert index in readme_links, "README.md does not link docs/index.md"
    reached, frontier = {README, index}, [README, index]
    while frontier:
        page = frontier.pop()
        for target in link_targets(page.read_text(encoding="utf-8")):
            path = local_target(page, target)
            if path is not None and path.suffix == ".md" and path.is_file() and path not in reached:
                reached.add(path)
                frontier.append(path)
    unreachable = [str(page.relative_to(ROOT)) for page in sorted(DOCS.glob("*.md")) if page.resolve() not in reached]
    assert not unreachable, f"docs pages no link leads to from README.md or docs/index.md: {unreachable}"


def test_index_lists_every_docs_page():
    index = DOCS / "index.md"
    assert index.is_file(), "docs/index.md (the table of contents) is missing"
    listed = {local_target(index, target) for target in link_targets(index.read_text(encoding="utf-8"))}
    missing = [page.name for page in sorted(DOCS.glob("*.md")) if page != index and page.resolve() not in listed]
    assert not missing, f"docs/index.md does not list: {missing}"
