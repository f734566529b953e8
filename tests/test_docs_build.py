"""The documentation builds with warnings as errors, links its stylesheets, works offline and
contains the tutorials with their plots.

What the pages look like in a real browser is checked in tests/test_docs_browser.py; these
checks read the built HTML and need no browser.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.docs_site import ROOT, build_docs, require_built_docs

pytestmark = [pytest.mark.slow]

TUTORIALS = sorted((ROOT / "tutorials").glob("*.ipynb"))
# The pages that are not guides: every tutorial must also be reachable from a guide.
NOT_GUIDES = {"index.html", "genindex.html", "search.html", "py-modindex.html", "api.html"}


class _Tags(HTMLParser):
    """Collects every start tag of a page with its attributes, and which are in the article.

    The article is the page's own content; the navigation around it links every page.
    """

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.article: list[tuple[str, dict[str, str]]] = []
        self._in_article = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        entry = (tag, {name: value or "" for name, value in attrs})
        self.tags.append(entry)
        self._in_article = self._in_article or tag == "article"
        if self._in_article:
            self.article.append(entry)

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self._in_article = False


def _parse(page: Path) -> _Tags:
    parser = _Tags()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def _tags(page: Path) -> list[tuple[str, dict[str, str]]]:
    return _parse(page).tags


def _pages(html: Path) -> list[Path]:
    return sorted(
        page
        for page in html.rglob("*.html")
        if not page.relative_to(html).parts[0].startswith(("_", "."))
    )


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return require_built_docs(tmp_path_factory)


def test_docs_build_without_warnings(tmp_path_factory: pytest.TempPathFactory) -> None:
    build = build_docs(tmp_path_factory)
    assert build.returncode == 0, build.output
    assert (build.html / "api.html").exists()


def test_every_page_links_the_theme_stylesheets_in_order(html: Path) -> None:
    # Without the qiskit_sphinx_theme extension the pages link the theme's stylesheet but not
    # furo's base one, and render unstyled; the theme's must come after furo's to override it.
    pages = _pages(html)
    assert len(pages) > 15
    for page in pages:
        sheets = [
            Path(urlsplit(attrs["href"]).path).name
            for tag, attrs in _tags(page)
            if tag == "link" and attrs.get("rel") == "stylesheet"
        ]
        assert "furo.css" in sheets, (page, sheets)
        assert "qiskit-sphinx-theme.css" in sheets, (page, sheets)
        assert sheets.index("furo.css") < sheets.index("qiskit-sphinx-theme.css"), sheets
        assert "ibm-plex.css" in sheets, (page, sheets)


def test_pages_load_nothing_from_other_hosts(html: Path) -> None:
    # The site must work offline: no stylesheet, script, font, image or preconnect elsewhere.
    for page in _pages(html):
        for tag, attrs in _tags(page):
            if tag == "a":
                continue  # plain links are the reader's choice to follow
            for name in ("href", "src"):
                url = attrs.get(name, "")
                assert not urlsplit(url).netloc, (page.name, tag, url)
    fonts = html / "_static" / "fonts"
    assert (fonts / "IBMPlexSans-Variable.woff2").stat().st_size > 10_000
    assert (fonts / "OFL.txt").exists()  # the fonts' licence travels with them


@pytest.mark.parametrize("notebook", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_page_shows_the_committed_outputs(html: Path, notebook: Path) -> None:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    plots = sum(
        "image/png" in output.get("data", {})
        for cell in cells
        if cell["cell_type"] == "code"
        for output in cell.get("outputs", [])
    )
    page = html / "tutorials" / f"{notebook.stem}.html"
    assert page.exists(), f"{notebook.name} is not in the documentation"
    images = [
        attrs["src"]
        for tag, attrs in _tags(page)
        if tag == "img" and "/_images/" in f"/{attrs.get('src', '')}"
    ]
    assert len(images) == plots, (page.name, images)
    for src in images:
        assert (page.parent / src).resolve().stat().st_size > 1000
    text = page.read_text(encoding="utf-8")
    assert "cell_output" in text, "the page shows no cell outputs"


def test_every_tutorial_is_linked_from_a_guide(html: Path) -> None:
    linked: set[str] = set()
    for page in html.glob("*.html"):
        if page.name in NOT_GUIDES:
            continue
        for tag, attrs in _parse(page).article:
            if tag == "a" and "tutorials/" in attrs.get("href", ""):
                linked.add(Path(urlsplit(attrs["href"]).path).stem)
    missing = {notebook.stem for notebook in TUTORIALS} - linked
    assert not missing, f"tutorials no guide links to: {sorted(missing)}"


def test_the_api_reference_documents_each_public_name_once(html: Path) -> None:
    """Generated from the package: every name of the root's ``__all__`` has one entry, at the
    root (not again under the module that defines it), and so do the errors and the modules."""
    import qiskit_rest_provider
    from qiskit_rest_provider import errors

    ids = [
        attrs["id"]
        for tag, attrs in _tags(html / "api.html")
        if tag == "dt" and "sig-object" in attrs.get("class", "") and attrs.get("id")
    ]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    for name in qiskit_rest_provider.__all__:
        home = "errors" if name in errors.__all__ else None
        expected = f"qiskit_rest_provider.{home}.{name}" if home else f"qiskit_rest_provider.{name}"
        assert expected in ids, expected
    assert "qiskit_rest_provider.client.backend.RestBackend" not in ids
    for name in errors.__all__:
        if name != "MALFORMED_INPUT_ERRORS":
            assert f"qiskit_rest_provider.errors.{name}" in ids, name
    assert "qiskit_rest_provider.client.pipeline.submit" in ids
    assert "qiskit_rest_provider.core.codec.results.decode_result" in ids


def test_qiskit_names_link_to_the_qiskit_api_reference(html: Path) -> None:
    """Type hints naming Qiskit classes link to IBM's Qiskit reference (intersphinx, from an
    inventory written from the installed Qiskit because the build runs offline)."""
    links = {
        attrs.get("href", "")
        for tag, attrs in _parse(html / "api.html").article
        if tag == "a" and attrs.get("href", "").startswith("https://quantum.cloud.ibm.com/")
    }
    base = "https://quantum.cloud.ibm.com/docs/api/qiskit/"
    for name in ("qiskit.circuit.QuantumCircuit", "qiskit.transpiler.Target"):
        assert base + name in links, sorted(links)[:20]
