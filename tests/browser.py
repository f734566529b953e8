"""Headless Chromium for browser tests, and a static file server on loopback to point it at.

Reusable by any test that must look at a page the way a reader does (documentation, web
console). Chromium and its driver come from Debian (``apt-get install chromium
chromium-driver``; ``.ci/run`` installs them) and are driven with Selenium, whose own driver
download (Selenium Manager) is never used: both executables are passed explicitly.

Use :func:`require_chromium` at the start of a fixture: it skips with a clear reason when
Chromium is missing on a developer's machine, and fails in CI (``CI`` set), where a skipped
browser test would hide a broken site.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
CHROMEDRIVER_CANDIDATES = ("chromedriver",)
# Debian installs the driver outside PATH on some releases.
CHROMEDRIVER_FALLBACK = Path("/usr/lib/chromium/chromedriver")

# Flags for a quiet, reproducible, offline browser. Without the background-networking ones
# Chromium keeps calling home (updates, sync, metrics, field trials), which on a closed network
# means a flood of failing connections and slow starts.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
    "--metrics-recording-only",
    "--hide-scrollbars",
    "--force-color-profile=srgb",
    "--lang=en-US",
)


@dataclass(frozen=True)
class ChromiumInstall:
    """Where the Chromium browser and its WebDriver live."""

    browser: str
    driver: str


def find_chromium() -> ChromiumInstall | None:
    """Return the installed Chromium and chromedriver, or ``None`` if either is missing."""
    browser = next(filter(None, map(shutil.which, CHROMIUM_CANDIDATES)), None)
    driver = next(filter(None, map(shutil.which, CHROMEDRIVER_CANDIDATES)), None)
    if driver is None and CHROMEDRIVER_FALLBACK.exists():
        driver = str(CHROMEDRIVER_FALLBACK)
    if browser is None or driver is None:
        return None
    return ChromiumInstall(browser=browser, driver=driver)


def require_chromium() -> ChromiumInstall:
    """Return the Chromium install; skip the test without one, except in CI, where it fails."""
    install = find_chromium()
    problem = None
    if install is None:
        problem = "chromium and chromium-driver are not installed"
    else:
        try:
            import selenium  # noqa: F401
        except ImportError:
            problem = "selenium is not installed (pip install -e '.[test]')"
    if problem is None:
        assert install is not None
        return install
    if os.environ.get("CI"):
        pytest.fail(f"{problem}; CI must run the browser tests (.ci/run installs chromium)")
    pytest.skip(f"{problem} (apt-get install chromium chromium-driver); set CI=1 to fail instead")


@contextlib.contextmanager
def headless_chromium(
    install: ChromiumInstall, *, width: int = 1280, height: int = 900
) -> Iterator[WebDriver]:
    """Start a headless Chromium with a fresh profile and a ``width`` x ``height`` viewport.

    The viewport is fixed through the DevTools protocol rather than the window size, so layout
    assertions see exactly ``width`` CSS pixels whatever window decorations a build adds.
    The browser and its profile directory are removed on exit.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = install.browser
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--window-size={width},{height}")
        options.add_argument(f"--user-data-dir={profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=install.driver, log_output=os.devnull)
        driver = webdriver.Chrome(options=options, service=service)
        try:
            driver.set_page_load_timeout(60)
            driver.set_script_timeout(30)
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
            yield driver
        finally:
            driver.quit()


@dataclass
class StaticServer:
    """A directory served over HTTP on 127.0.0.1, recording every failed request."""

    root: Path
    url: str
    failures: list[tuple[int, str]] = field(default_factory=list)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without logging to stderr; records 4xx/5xx answers for the test."""

    failures: list[tuple[int, str]]

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the test output is for assertions."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Record every answer that was not a success."""
        # An int or HTTPStatus from send_response; "-" when there is none.
        status = int(code) if isinstance(code, int) or str(code).isdigit() else 0
        if status >= 400:
            self.failures.append((status, self.path))


@contextlib.contextmanager
def serve_directory(root: Path) -> Iterator[StaticServer]:
    """Serve ``root`` on an ephemeral port of 127.0.0.1 from a thread, for the ``with`` block."""
    failures: list[tuple[int, str]] = []
    handler = type("_Handler", (_QuietHandler,), {"failures": failures})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, name="static-server", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield StaticServer(root=root, url=f"http://{host}:{port}", failures=failures)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
