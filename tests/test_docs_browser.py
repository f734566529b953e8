"""The built documentation, opened in headless Chromium, looks like a styled site to a reader.

The docs are built once per test run (tests/docs_site.py), served on 127.0.0.1 and opened at
1280 x 900. Each page is checked for what a reader sees: the theme's stylesheets applied
(computed styles), IBM Plex loaded from the site itself (it must work offline), the navigation
sidebar beside the content, nothing in the header blown up past the viewport, and, on the
tutorial pages, the plots loaded as images. Screenshots go to tests/output/screenshots/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser import StaticServer, headless_chromium, require_chromium, serve_directory
from tests.docs_site import ROOT, require_built_docs

pytestmark = [pytest.mark.slow, pytest.mark.browser]

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

WIDTH, HEIGHT = 1280, 900
SCREENSHOTS = ROOT / "tests" / "output" / "screenshots"

TUTORIALS = sorted((ROOT / "tutorials").glob("*.ipynb"))
PAGES = [
    "index.html",
    "getting_started.html",
    "api.html",
    *(f"tutorials/{notebook.stem}.html" for notebook in TUTORIALS),
]

# Everything the checks read from a page, measured in the page after its fonts have loaded.
MEASURE = """
const done = arguments[arguments.length - 1];
document.fonts.ready.then(() => {
  const body = getComputedStyle(document.body);
  const box = (selector) => {
    const element = document.querySelector(selector);
    if (!element) return null;
    const rect = element.getBoundingClientRect();
    const style = getComputedStyle(element);
    return {left: rect.left, right: rect.right, top: rect.top, bottom: rect.bottom,
            width: rect.width, height: rect.height, display: style.display,
            visibility: style.visibility};
  };
  const headerParts = [...document.querySelectorAll(
      "header, header *, .content-icon-container, .content-icon-container *, " +
      ".sidebar-brand, .sidebar-brand *")];
  const tallest = headerParts
      .map((element) => ({tag: element.tagName, cls: String(element.className.baseVal ??
                           element.className), height: element.getBoundingClientRect().height}))
      .sort((a, b) => b.height - a.height)[0] || null;
  const icons = [...document.querySelectorAll(".content-icon-container svg, .theme-toggle svg")]
      .map((element) => element.getBoundingClientRect())
      .filter((rect) => rect.width > 0)
      .map((rect) => Math.max(rect.width, rect.height));
  const plexFaces = [...document.fonts]
      .filter((face) => face.family.replace(/"/g, "") === "IBM Plex Sans")
      .map((face) => face.status);
  const sheets = [...document.styleSheets].map((sheet) => {
    let rules = -1;
    try { rules = sheet.cssRules.length; } catch (error) { rules = -1; }
    return {href: sheet.href, rules};
  });
  const images = [...document.querySelectorAll("article img")].map((image) => ({
    src: image.currentSrc, complete: image.complete, naturalWidth: image.naturalWidth,
    width: image.getBoundingClientRect().width,
    inOutput: !!image.closest(".cell_output, .output")}));
  const resources = performance.getEntriesByType("resource")
      .map((entry) => ({name: entry.name, status: entry.responseStatus}));
  done({
    innerWidth: window.innerWidth, innerHeight: window.innerHeight,
    fontFamily: body.fontFamily,
    headerHeightVar: body.getPropertyValue("--header-height").trim(),
    qiskitPurple: body.getPropertyValue("--qiskit-color-purple").trim(),
    brandPrimary: body.getPropertyValue("--color-brand-primary").trim(),
    pageDisplay: (box(".page") || {}).display,
    sidebar: box(".sidebar-drawer"), sidebarTree: box(".sidebar-tree"),
    article: box("article[role=main]"),
    tallest, icons, plexFaces, sheets, images, resources,
    origin: location.origin,
  });
});
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaticServer]:
    html = require_built_docs(tmp_path_factory)
    with serve_directory(html) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    install = require_chromium()
    with headless_chromium(install, width=WIDTH, height=HEIGHT) as driver:
        yield driver


@pytest.fixture(scope="module")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # Generated output, never to be committed, whatever the repository's .gitignore says.
    (SCREENSHOTS.parent / ".gitignore").write_text("*\n", encoding="utf-8")
    return SCREENSHOTS


def _open(browser: WebDriver, site: StaticServer, page: str) -> dict[str, Any]:
    browser.get(f"{site.url}/{page}")
    measured: dict[str, Any] = browser.execute_async_script(MEASURE)
    return measured


def _shoot(browser: WebDriver, folder: Path, page: str) -> Path:
    path = folder / (page.replace("/", "__").removesuffix(".html") + ".png")
    browser.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def _plots_in(notebook: Path) -> int:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return sum(
        "image/png" in output.get("data", {})
        for cell in cells
        if cell["cell_type"] == "code"
        for output in cell.get("outputs", [])
    )


@pytest.mark.parametrize("page", PAGES)
def test_page_looks_like_the_themed_site(
    browser: WebDriver, site: StaticServer, screenshots: Path, page: str
) -> None:
    seen = _open(browser, site, page)
    shot = _shoot(browser, screenshots, page)
    assert shot.stat().st_size > 10_000
    assert (seen["innerWidth"], seen["innerHeight"]) == (WIDTH, HEIGHT)

    # Every stylesheet loaded from this site, with rules in it; furo's base sheet among them.
    sheets = {
        Path(sheet["href"].split("?")[0]).name: sheet["rules"]
        for sheet in seen["sheets"]
        if sheet["href"]  # inline <style> elements have none
    }
    for name in ("furo.css", "qiskit-sphinx-theme.css", "ibm-plex.css"):
        assert sheets.get(name, 0) > 0, (name, sheets)
    # ... and applied: furo's layout variables and flex page, the Qiskit theme's colours and font.
    assert seen["headerHeightVar"], "furo.css is not applied"
    assert seen["pageDisplay"] == "flex", "furo's page layout is not applied"
    assert seen["qiskitPurple"].lower() == "#6929c4", "qiskit-sphinx-theme.css is not applied"
    assert seen["fontFamily"].startswith('"IBM Plex Sans"'), seen["fontFamily"]
    # The font came from the site (no CDN): its face is declared locally and has loaded.
    assert "loaded" in seen["plexFaces"], seen["plexFaces"]

    # The navigation sidebar sits beside the content, left of it, at the top of the viewport.
    sidebar, tree, article = seen["sidebar"], seen["sidebarTree"], seen["article"]
    assert sidebar and tree and article, seen
    assert sidebar["display"] != "none" and sidebar["visibility"] == "visible", sidebar
    assert sidebar["left"] == 0 and sidebar["width"] >= 200, sidebar
    assert tree["width"] >= 150 and tree["top"] < HEIGHT, tree
    assert article["left"] >= sidebar["right"], (sidebar, article)
    assert article["top"] < HEIGHT / 2 and article["width"] >= 400, article

    # Nothing in the header is blown up: the unstyled page drew its icons hundreds of px tall.
    assert seen["tallest"]["height"] <= HEIGHT, seen["tallest"]
    assert seen["icons"], "the page icons are missing"
    assert max(seen["icons"]) <= 48, seen["icons"]

    # Nothing was requested from another host, and nothing failed to load.
    elsewhere = [r["name"] for r in seen["resources"] if not r["name"].startswith(seen["origin"])]
    assert not elsewhere, elsewhere
    # (The site has no favicon; Chromium asks for one anyway, whenever it likes.)
    failed = [
        r
        for r in seen["resources"]
        if r["status"] and r["status"] >= 400 and not r["name"].endswith("/favicon.ico")
    ]
    assert not failed, failed
    assert not [f for f in site.failures if not f[1].endswith("/favicon.ico")], site.failures
    errors = [
        entry["message"]
        for entry in browser.get_log("browser")
        if entry["level"] == "SEVERE" and "/favicon.ico" not in entry["message"]
    ]
    assert not errors, errors


@pytest.mark.parametrize("notebook", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_plots_are_loaded_images(
    browser: WebDriver, site: StaticServer, screenshots: Path, notebook: Path
) -> None:
    page = f"tutorials/{notebook.stem}.html"
    seen = _open(browser, site, page)
    plots = [image for image in seen["images"] if image["inOutput"]]
    assert len(plots) == _plots_in(notebook), seen["images"]
    for plot in plots:
        assert plot["complete"] and plot["naturalWidth"] > 0, plot
        assert plot["width"] > 100, plot  # drawn at a readable size, not collapsed
    if plots:
        # A second screenshot with the first plot in view, to look at the figure itself.
        browser.execute_script(
            "document.querySelector('.cell_output img').scrollIntoView({block: 'center'});"
        )
        _shoot(browser, screenshots, page.replace(".html", "__plot.html"))
