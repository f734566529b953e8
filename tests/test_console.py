"""The web console served at ``/``: its files and headers, and the pages in a real browser.

The fast tests read the page, its files and the headers of the service's answers over HTTP:
the strict Content-Security-Policy and frame refusal on every answer (refusals of the outer
middlewares included), no CORS grant to another origin, the API's JSON error bodies kept, dot
segments sent as written never reaching a file outside the console, no API browser pages (they
would load CDN scripts beside the console's token), the files shipped as package data and
nothing in them fetched from another host.

The browser tests drive Debian's headless Chromium (tests/browser.py) against a real local
service with real jobs, in one browser session: sign in with the API key, find the jobs just
submitted (and filter them), open a sampler job and find its histograms drawn (and download its
result), check the page's own decoder against the client's counts, open an estimator job with
its error bars and zero-noise extrapolation, a batch, the backends and a device's error map with
one circle per qubit, reach a job with the keyboard alone, narrow the window, cancel a running
job from the page (checked through the REST API) and delete it, read a private job's result only
when asked, open an executor job whose passthrough data holds a 1 GiB zlib bomb (shown as
text, never inflated), run the decoder on hostile arrays (each inflation bounded, one bad value
failing alone), find markup in tags and error messages shown as text, check that the API key is
kept nowhere in the browser, and sign out (or be signed out when the token expires). Each page
is captured under tests/output/console/ (docs/local_service.md shows copies). The browser's
console must stay free of errors (a CSP violation is one), and no page may show a "null" or
"NaN".
"""

from __future__ import annotations

import base64
import fnmatch
import http.client
import io
import json
import re
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np
import pytest
import requests
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qiskit_rest_provider import Batch, EstimatorV2, SamplerV2
from qiskit_rest_provider.server import LocalRuntimeServer
from qiskit_rest_provider.server.console import CONTENT_SECURITY_POLICY

from .browser import headless_chromium, require_chromium
from .serve_process import start_serve
from .service_helpers import auth_headers, running_server, wait_final

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "tests" / "output" / "console"
STATIC = resources.files("qiskit_rest_provider.server.console") / "static"
WIDTH, HEIGHT = 1280, 860
EVIL = "http://evil.example"

browser_test = [pytest.mark.slow, pytest.mark.service, pytest.mark.browser]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalRuntimeServer]:
    with running_server() as started:
        yield started


def _static_files() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    stack = [(STATIC, "")]
    while stack:
        node, prefix = stack.pop()
        for child in node.iterdir():
            if child.is_dir():
                stack.append((child, f"{prefix}{child.name}/"))
            else:
                files[f"{prefix}{child.name}"] = child.read_bytes()
    return files


# Files and headers -------------------------------------------------------------------------


@pytest.mark.service
def test_page_and_every_file_it_loads_are_served_with_the_security_headers(
    server: LocalRuntimeServer,
) -> None:
    page = requests.get(f"{server.url}/", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="console/js/app.js">' in page.text
    # Everything the page and its modules load, found by following their references.
    wanted = set(re.findall(r'(?:src|href)="(console/[^"]+)"', page.text))
    seen: set[str] = set()
    types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    while wanted - seen:
        path = sorted(wanted - seen)[0]
        seen.add(path)
        answer = requests.get(f"{server.url}/{path}", timeout=10)
        assert answer.status_code == 200, path
        assert answer.headers["content-type"].startswith(types[Path(path).suffix]), path
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        if path.endswith(".js"):
            folder = path.rsplit("/", 1)[0]
            for module in re.findall(r'from "\./([\w.]+\.js)"', answer.text):
                wanted.add(f"{folder}/{module}")
    assert {"console/js/app.js", "console/js/job.js", "console/js/charts.js"} <= seen
    for answer in (page,):
        policy = answer.headers["content-security-policy"]
        assert policy == CONTENT_SECURITY_POLICY
        assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
        assert "script-src 'self';" in policy and "connect-src 'self';" in policy
        assert "unsafe" not in policy and "http" not in policy
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cross-origin-resource-policy"] == "same-origin"
    # Revalidation: the same file is not sent twice.
    again = requests.get(
        f"{server.url}/console/js/app.js",
        headers={"If-None-Match": requests.get(f"{server.url}/console/js/app.js").headers["etag"]},
        timeout=10,
    )
    assert again.status_code == 304 and not again.content


@pytest.mark.service
def test_another_origin_is_granted_nothing_and_errors_keep_their_json_bodies(
    server: LocalRuntimeServer,
) -> None:
    headers = {**auth_headers(server), "Origin": EVIL}
    listing = requests.get(f"{server.url}/api/v1/backends", headers=headers, timeout=10)
    assert listing.status_code == 200  # a non-browser client with a token is served...
    # ...but no browser page of another origin may read it.
    assert not [h for h in listing.headers if h.lower().startswith("access-control-")]
    preflight = requests.options(
        f"{server.url}/api/v1/jobs",
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,service-crn,content-type",
        },
        timeout=10,
    )
    assert preflight.status_code >= 400
    assert not [h for h in preflight.headers if h.lower().startswith("access-control-")]
    token = requests.post(
        f"{server.url}/identity/token",
        data={"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": server.api_key},
        headers={"Origin": EVIL},
        timeout=10,
    )
    assert "access-control-allow-origin" not in {h.lower() for h in token.headers}
    # The REST routes keep their error bodies, now with the headers too.
    for url, status in (
        (f"{server.url}/api/v1/jobs", 401),
        (f"{server.url}/console/no-such-file.js", 404),
    ):
        answer = requests.get(url, timeout=10)
        assert answer.status_code == status, url
        assert answer.json()["errors"][0]["code"], url
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    # The console's routes stay out of the API's OpenAPI document.
    paths = requests.get(f"{server.url}/openapi.json", timeout=10).json()["paths"]
    assert "/" not in paths and not [p for p in paths if p.startswith("/console")]


def _raw(
    server: LocalRuntimeServer, method: str, target: str, headers: tuple[str, ...] = ()
) -> tuple[int, Any, bytes]:
    """``method target`` sent exactly as written (``requests`` would resolve ``..`` first),
    with ``headers`` ("Name: value"); answers its status, headers and body."""
    url = urlsplit(server.url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    try:
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", url.netloc)
        for header in headers:
            name, _, value = header.partition(": ")
            connection.putheader(name, value)
        connection.endheaders()
        answer = connection.getresponse()
        return answer.status, answer.headers, answer.read()
    finally:
        connection.close()


@pytest.mark.service
def test_no_path_reaches_a_file_outside_the_console_and_every_refusal_is_secured(
    server: LocalRuntimeServer,
) -> None:
    """Dot segments sent as they are (not resolved by the client) reach the console's route,
    which answers only its own files: the API's 404 body, never a file of the package or the
    project. No page of the origin loads a script from elsewhere (FastAPI's /docs and /redoc,
    which do, are not served), and every refusal carries the security headers, the absolute-form
    middleware's refusal of CONNECT included."""
    secret = (ROOT / "pyproject.toml").read_bytes()[:40]
    package = (STATIC / ".." / "__init__.py").read_bytes()[:40]
    for target in (
        "/console/../pyproject.toml",
        "/console/../../../../pyproject.toml",
        "/console/js/../../__init__.py",
        "/console/%2e%2e/__init__.py",
        "/console/..%2f__init__.py",
        "/console//etc/passwd",
        f"http://{urlsplit(server.url).netloc}/console/../__init__.py",
    ):
        status, headers, body = _raw(server, "GET", target)
        assert status == 404, (target, body[:200])
        assert headers["content-type"] == "application/json", target
        assert json.loads(body)["errors"][0]["code"] == "not_found", target
        assert secret not in body and package not in body and b"root:" not in body, target
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, target
        assert headers["x-frame-options"] == "DENY", target
    # A file the console does ship, for contrast: the same route answers it.
    assert _raw(server, "GET", "/console/js/app.js")[0] == 200
    # No API browser pages: they would run CDN scripts beside the console's token.
    for target in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        status, headers, body = _raw(server, "GET", target)
        assert status == 404, target
        assert json.loads(body)["errors"][0]["code"], target
        assert b"<script" not in body and b"cdn" not in body.lower(), target
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, target
    # The OpenAPI document (JSON, no script) stays, with the headers.
    status, headers, body = _raw(server, "GET", "/openapi.json")
    assert status == 200 and json.loads(body)["paths"]
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    # CONNECT, refused by the outermost routing middleware, and a body over the limit, refused
    # by the body guard: the headers are on both.
    status, headers, body = _raw(server, "CONNECT", "example.com:443")
    assert status == 405 and json.loads(body)["errors"][0]["code"] == "method_not_allowed"
    refused = [headers]
    status, headers, body = _raw(
        server, "PUT", "/api/v1/jobs/x/tags", ("Content-Length: 999999999999",)
    )
    assert status == 413 and json.loads(body)["errors"][0]["code"] == "payload_too_large"
    for answer_headers in (*refused, headers):
        assert answer_headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert answer_headers["x-frame-options"] == "DENY"
        assert answer_headers["x-content-type-options"] == "nosniff"


def test_the_console_is_not_mounted_beside_pages_that_load_third_party_scripts() -> None:
    """FastAPI serves /docs and /redoc (CDN scripts) unless told not to: mount_console refuses
    such an app, and accepts one without them (its OpenAPI document kept; the service built
    this way answers the console's files, as the other tests show)."""
    from fastapi import FastAPI

    from qiskit_rest_provider.server.console import mount_console

    for pages in ({}, {"docs_url": None}, {"redoc_url": None}):
        with pytest.raises(ValueError, match="third-party scripts"):
            mount_console(FastAPI(**pages))
    app = FastAPI(docs_url=None, redoc_url=None)
    mount_console(app)
    paths = {getattr(route, "path", None) for route in app.routes}
    assert "/openapi.json" in paths
    assert not paths & {"/docs", "/redoc", "/docs/oauth2-redirect"}


def test_the_files_are_package_data_and_fetch_nothing_from_elsewhere() -> None:
    files = _static_files()
    assert {"index.html", "console.css", "icon.svg", "js/app.js", "js/decode.js"} <= set(files)
    declared = re.search(
        r'^"qiskit_rest_provider\.server\.console" = (\[.*\])$',
        (ROOT / "pyproject.toml").read_text(),
        re.MULTILINE,
    )
    assert declared, "pyproject.toml ships no console files as package data"
    patterns = json.loads(declared.group(1))
    for name in files:
        assert any(fnmatch.fnmatch(f"static/{name}", p) for p in patterns), name
    for name, data in files.items():
        text = data.decode("utf-8")
        # The only URL is the SVG namespace (a name, never fetched).
        urls = set(re.findall(r"https?://[^\s\"'`)]+", text)) - {"http://www.w3.org/2000/svg"}
        assert not urls, (name, urls)
        if name.endswith(".js"):
            # Nothing becomes HTML or code from a string (Trusted Types would refuse it anyway;
            # the browser tests feed the pages hostile strings). What the page keeps in the
            # browser is checked in the browser, after signing in.
            for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
                assert sink not in text, (name, sink)
            assert "eval(" not in text and "new Function" not in text, name


def test_the_docs_show_the_screenshots() -> None:
    """docs/local_service.md ("Console") shows every committed screenshot, each a real PNG of a
    page and small enough for the repository."""
    page = (ROOT / "docs" / "local_service.md").read_text()
    assert "## Console" in page
    shown = set(re.findall(r"\(_static/console/([\w-]+\.png)\)", page))
    committed = {path.name for path in (ROOT / "docs" / "_static" / "console").glob("*.png")}
    assert shown == committed and len(committed) >= 6, (shown, committed)
    for name in committed:
        data = (ROOT / "docs" / "_static" / "console" / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and 20_000 < len(data) < 300_000, name
        width = int.from_bytes(data[16:20], "big")
        assert width == WIDTH, (name, width)


@pytest.mark.slow
@pytest.mark.service
def test_serve_prints_the_console_url() -> None:
    proc, info = start_serve()
    try:
        assert info["console_url"] == f"{info['url']}/"
        page = requests.get(info["console_url"], timeout=10)
        assert page.status_code == 200 and "Qiskit Runtime console" in page.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = subprocess.Popen(
        [sys.executable, "-m", "qiskit_rest_provider.cli.main", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert text.stdout is not None
        lines = []
        while not lines or not lines[-1].startswith("Press Ctrl+C"):
            line = text.stdout.readline()
            assert line, "qiskit-rest serve exited early: " + "".join(lines)
            lines.append(line)
        url = re.search(r"Local Qiskit Runtime service on (\S+)", lines[0])
        assert url is not None
        console = [line for line in lines if "console:" in line]
        assert console and f"{url.group(1)}/" in console[0], lines
    finally:
        text.terminate()
        text.wait(timeout=30)


# The pages in a browser ----------------------------------------------------------------------


@dataclass
class Workload:
    """The jobs the browser tests look at."""

    sampler: str
    estimator: str
    batch_job: str
    batch_id: str
    points: int


@pytest.fixture(scope="module")
def workload(server: LocalRuntimeServer) -> Workload:
    provider = server.provider()
    try:
        backend = provider.backend("local_falcon")
        manager = generate_preset_pass_manager(optimization_level=1, backend=backend)
        # A Bell pair in one register and five coins in another: two histograms, the second
        # with 32 outcomes (more than the 16 shown at first).
        qr = QuantumRegister(7)
        pair, coins = ClassicalRegister(2, "pair"), ClassicalRegister(5, "coins")
        circuit = QuantumCircuit(qr, pair, coins)
        circuit.h(0)
        circuit.cx(0, 1)
        circuit.h(range(2, 7))
        circuit.measure([0, 1], pair)
        circuit.measure(range(2, 7), coins)
        sampler = SamplerV2(backend)
        sampler.options.environment.job_tags = ["console", "bell"]
        sampler_job = sampler.run([manager.run(circuit)], shots=2000)
        # A sweep of 7 angles, two observables, with zero-noise extrapolation.
        theta = Parameter("theta")
        ansatz = QuantumCircuit(2)
        ansatz.ry(theta, 0)
        ansatz.cx(0, 1)
        isa = manager.run(ansatz)
        observables = [[SparsePauliOp(label).apply_layout(isa.layout)] for label in ("ZZ", "ZI")]
        points = 7
        estimator = EstimatorV2(backend, options={"resilience_level": 2})
        estimator.options.environment.job_tags = ["console", "sweep"]
        estimator_job = estimator.run(
            [
                (isa, observables, np.linspace(0, np.pi, points)[:, None]),
                (isa, SparsePauliOp("XX").apply_layout(isa.layout), [np.pi / 2]),  # one value
            ],
            precision=0.05,
        )
        with Batch(backend) as batch:
            batch_job = SamplerV2(batch).run([manager.run(circuit)], shots=100)
            batch_job.result()
        for job in (sampler_job, estimator_job):
            assert wait_final(provider, job.job_id(), timeout=120)["status"] == "Completed"
        return Workload(
            sampler=sampler_job.job_id(),
            estimator=estimator_job.job_id(),
            batch_job=batch_job.job_id(),
            batch_id=batch.session_id,
            points=points,
        )
    finally:
        provider.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    install = require_chromium()
    with headless_chromium(install, width=WIDTH, height=HEIGHT) as driver:
        yield driver


@pytest.fixture(scope="module")
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS.parent / ".gitignore").write_text("*\n", encoding="utf-8")
    return SHOTS


def _wait(browser: WebDriver, condition: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """Poll ``condition`` until it answers something truthy (a page renders asynchronously)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(0.1)
    _errors_so_far = _console_errors(browser)
    raise AssertionError(
        f"timed out waiting for {what} (last: {last!r}; console: {_errors_so_far})"
    )


def _count(browser: WebDriver, selector: str) -> int:
    return int(browser.execute_script(f"return document.querySelectorAll({selector!r}).length"))


def _text(browser: WebDriver, selector: str) -> str:
    return str(
        browser.execute_script(
            f"const e = document.querySelector({selector!r}); return e ? e.textContent : ''"
        )
    )


def _go(browser: WebDriver, server: LocalRuntimeServer, route: str) -> None:
    browser.execute_script(f"location.hash = {route!r}")


def _shoot(
    browser: WebDriver,
    folder: Path,
    name: str,
    *,
    top: str | None = None,
    bottom: str | None = None,
    max_height: int = 2400,
) -> Path:
    """A PNG of the page, not just the viewport: from the top of the element ``top`` (or of
    the page) to the bottom of the element ``bottom`` (or of the page), at most
    ``max_height`` CSS pixels."""
    browser.execute_script("document.activeElement && document.activeElement.blur()")
    edges = browser.execute_script(
        "const [top, bottom] = arguments;"
        "const y = (sel, edge, fallback) => sel ? "
        "document.querySelector(sel).getBoundingClientRect()[edge] + window.scrollY : fallback;"
        "return [y(top, 'top', 0), y(bottom, 'bottom', document.documentElement.scrollHeight)];",
        top,
        bottom,
    )
    start = max(0, int(edges[0]) - (12 if top else 0))
    height = min(int(edges[1]) + (12 if bottom else 0) - start, max_height)
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": start, "width": WIDTH, "height": height, "scale": 1},
        },
    )
    path = folder / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    print(f"screenshot: {path} ({path.stat().st_size // 1024} KB)")
    return path


def _console_errors(browser: WebDriver) -> list[str]:
    return [
        entry["message"]
        for entry in browser.get_log("browser")
        if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]
    ]


def _stray_words(browser: WebDriver) -> list[str]:
    """Words a page shows only when it renders a missing value (``null``, ``NaN``...)."""
    shown = str(browser.execute_script("return document.querySelector('main').innerText"))
    return re.findall(r"\b(?:null|undefined|NaN|Infinity|\[object Object\])\b", shown)


def _overflow(browser: WebDriver) -> int:
    """How far the page is wider than the viewport (0: nothing sticks out sideways)."""
    return int(
        browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
    )


@pytest.fixture(scope="module")
def signed_in(
    browser: WebDriver, server: LocalRuntimeServer, workload: Workload, shots: Path
) -> WebDriver:
    """The browser on the console, signed in through the form (with the API key only: the
    instance is discovered)."""
    from selenium.webdriver.common.by import By

    browser.get(f"{server.url}/")
    _wait(browser, lambda: _count(browser, "#apikey"), "the sign-in form")
    assert browser.execute_script("return document.activeElement.id") == "apikey"
    browser.find_element(By.ID, "apikey").send_keys(server.api_key)
    _shoot(browser, shots, "signin")
    browser.find_element(By.ID, "apikey").clear()
    # A wrong key is refused in the form, nothing is kept.
    browser.find_element(By.ID, "apikey").send_keys("not-a-key")
    browser.find_element(By.ID, "signin-submit").click()
    _wait(browser, lambda: _text(browser, "#signin-error .notice"), "the refusal")
    assert "API key could not be found" in _text(browser, "#signin-error")
    # The browser logs the refused request itself; nothing else went wrong.
    refused = _console_errors(browser)
    assert len(refused) == 1 and "/identity/token" in refused[0] and "400" in refused[0], refused
    browser.find_element(By.ID, "apikey").clear()
    browser.find_element(By.ID, "apikey").send_keys(server.api_key)
    browser.find_element(By.ID, "signin-submit").click()
    _wait(browser, lambda: _count(browser, "tr[data-job]"), "the jobs table")
    return browser


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.browser
def test_sign_in_shows_the_jobs_just_submitted(
    signed_in: WebDriver, server: LocalRuntimeServer, workload: Workload, shots: Path
) -> None:
    browser = signed_in
    rows = browser.execute_script(
        "return [...document.querySelectorAll('tr[data-job]')].map(r => r.dataset.job)"
    )
    assert {workload.sampler, workload.estimator, workload.batch_job} <= set(rows)
    # Only the token and the instance are kept, in this tab's storage: the API key typed into
    # the form is nowhere the page can still read it (any storage, the URL, the DOM).
    kept_everywhere = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const dump = (store) => Array.from({length: store.length}, (_, i) => "
        "  [store.key(i), store.getItem(store.key(i))]);"
        "(async () => ({"
        "  session: dump(sessionStorage), local: dump(localStorage), cookie: document.cookie,"
        "  href: location.href, name: window.name, history: JSON.stringify(history.state),"
        "  databases: indexedDB.databases ? (await indexedDB.databases()).map((d) => d.name) : [],"
        "  caches: self.caches ? await caches.keys() : [],"
        "  inputs: [...document.querySelectorAll('input, textarea')].map((e) => e.value),"
        "  page: document.documentElement.outerHTML,"
        "}))().then(done, (e) => done(String(e)));"
    )
    assert isinstance(kept_everywhere, dict), kept_everywhere
    assert server.api_key not in json.dumps(kept_everywhere)
    assert [key for key, _ in kept_everywhere["session"]] == ["qiskit-rest-console"]
    assert kept_everywhere["local"] == [] and kept_everywhere["cookie"] == ""
    assert kept_everywhere["databases"] == [] and kept_everywhere["caches"] == []
    kept = json.loads(kept_everywhere["session"][0][1])
    assert set(kept) == {"token", "expiration", "instance", "instances", "apiVersion"}
    assert kept["instance"] == server.instance
    # Running and finished times come from each job's metrics.
    row = f'tr[data-job="{workload.sampler}"]'
    _wait(browser, lambda: _count(browser, f"{row} time") == 3, "the job's three times")
    assert "Completed" in _text(browser, row) and "local_falcon" in _text(browser, row)
    assert "bell" in _text(browser, row)
    assert not _stray_words(browser)
    _shoot(browser, shots, "workloads")
    # A tag filter goes to the API: only the tagged jobs come back.
    _go(browser, server, "#/jobs?tag=sweep")
    _wait(
        browser,
        lambda: (
            browser.execute_script(
                "return [...document.querySelectorAll('tr[data-job]')].map(r => r.dataset.job)"
            )
            == [workload.estimator]
        ),
        "the filtered table",
    )
    assert "Jobs 1–1 of 1" in _text(browser, ".summary")
    _go(browser, server, "#/jobs?status=pending")
    _wait(browser, lambda: _count(browser, ".empty"), "the empty state")
    assert "No jobs match these filters" in _text(browser, ".empty")
    assert not _console_errors(browser)


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.browser
def test_a_sampler_job_shows_a_histogram_per_register(
    signed_in: WebDriver,
    server: LocalRuntimeServer,
    workload: Workload,
    shots: Path,
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser = signed_in
    _go(browser, server, f"#/jobs/{workload.sampler}")
    _wait(browser, lambda: _count(browser, "svg.histogram") == 2, "two histograms")
    bars = browser.execute_script(
        "return [...document.querySelectorAll('svg.histogram')].map(svg => "
        "[...svg.querySelectorAll('rect.bar')].map(r => [r.dataset.label, +r.dataset.value,"
        " +r.getAttribute('height')]))"
    )
    pair, coin = bars
    # The Bell pair: 00 and 11 dominate the noisy counts; drawn taller than the rest.
    assert sum(value for _, value, _ in pair) == 2000
    top = sorted(pair, key=lambda bar: -bar[1])[:2]
    assert {label for label, _, _ in top} == {"00", "11"}
    assert all(height > 50 for _, _, height in top)
    # The coins: the 16 most frequent outcomes, as the client counts them, and the 16 others
    # summed in one bar.
    provider = server.provider()
    try:
        counts = provider.job(workload.sampler).result()[0].data.coins.get_counts()
    finally:
        provider.close()
    assert len(counts) == 32 and len(coin) == 17 and coin[-1][0] == "other (16)", coin
    shown = {label: value for label, value, _ in coin[:-1]}
    assert all(counts[label] == value for label, value in shown.items())
    hidden = [value for label, value in counts.items() if label not in shown]
    assert min(shown.values()) >= max(hidden) and coin[-1][1] == sum(hidden)
    _shoot(browser, shots, "sampler_job")
    assert not _stray_words(browser)
    Select(browser.find_element(By.ID, "topk-0")).select_by_visible_text("Top 32")
    coin_bars = (
        "return [...document.querySelectorAll('svg.histogram')][1]"
        ".querySelectorAll('rect.bar').length"
    )
    _wait(browser, lambda: browser.execute_script(coin_bars) == 32, "all 32 outcomes")
    assert not _count(browser, "rect.bar.other")
    # The inputs: the OpenQASM 3 text that was submitted, and its shots.
    assert "OPENQASM 3.0;" in _text(browser, "#inputs pre code")
    assert "2000" in _text(browser, "#inputs")
    # The timeline: queued, running and the execution span of the result's metadata.
    assert _count(browser, "svg.timeline rect.execution-span") >= 1
    # The log and the download of the raw result, which is what the REST API answers.
    assert "job completed" in _text(browser, "#logs pre")
    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    browser.find_element(By.ID, "download-result").click()
    saved = tmp_path / f"job-{workload.sampler}-result.json"
    _wait(browser, saved.exists, "the downloaded result")
    raw = requests.get(
        f"{server.url}/api/v1/jobs/{workload.sampler}/results",
        headers=auth_headers(server),
        timeout=10,
    ).text
    _wait(browser, lambda: saved.read_text() == raw, "the whole result in the file")
    assert not _console_errors(browser)


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.browser
def test_the_page_counts_wide_registers_of_a_sweep_as_the_client_does(
    signed_in: WebDriver, server: LocalRuntimeServer
) -> None:
    """The page's own decoder (zlib-inflated .npy, packed bits) on a 12-bit register (two
    bytes a shot) swept over three parameter values, against the client's counts."""
    provider = server.provider()
    try:
        backend = provider.backend("local_simulator")
        theta = Parameter("theta")
        circuit = QuantumCircuit(12)
        circuit.rx(theta, range(12))
        circuit.h(range(6))
        circuit.measure_all()
        isa = generate_preset_pass_manager(optimization_level=0, backend=backend).run(circuit)
        job = SamplerV2(backend).run([(isa, [[0.0], [1.0], [np.pi]])], shots=300)
        expected = [job.result()[0].data.meas.get_counts(loc=point) for point in range(3)]
        raw = requests.get(
            f"{server.url}/api/v1/jobs/{job.job_id()}/results",
            headers=auth_headers(server),
            timeout=10,
        ).text
    finally:
        provider.close()
    counted = signed_in.execute_async_script(
        "const [text, done] = [arguments[0], arguments[arguments.length - 1]];"
        "import('./console/js/decode.js').then(async (d) => {"
        "  const result = d.unwrap(await d.decodeTagged(JSON.parse(text)));"
        "  const bits = d.unwrap(d.unwrap(result.pub_results[0]).data).fields.meas;"
        "  done([0, 1, 2].map((p) => Object.fromEntries(d.bitCounts(bits, p))));"
        "}).catch((e) => done(String(e)));",
        raw,
    )
    assert counted == expected, counted
    assert len(expected[0]) > 20 and set(expected[2]) != set(expected[0])


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.browser
def test_an_estimator_job_shows_error_bars_and_the_extrapolation(
    signed_in: WebDriver, server: LocalRuntimeServer, workload: Workload, shots: Path
) -> None:
    browser = signed_in
    _go(browser, server, f"#/jobs/{workload.estimator}")
    _wait(browser, lambda: _count(browser, ".evs-chart .point"), "the expectation values")
    # Two observables (series) over the seven angles, each value with its error bar.
    assert _count(browser, ".evs-chart .series") == 2
    assert _count(browser, ".evs-chart .point") == 2 * workload.points
    assert _count(browser, ".evs-chart .error-bar") == 2 * workload.points
    legend = _text(browser, ".evs-chart .legend")
    assert "Z0 Z1" in legend or "ZZ" in legend
    # The x axis is the swept parameter's value (0 to π), not the point's index.
    assert "theta" in _text(browser, ".evs-chart svg")
    ticks = browser.execute_script(
        "return [...document.querySelectorAll('.evs-chart .x-tick')].map(t => +t.textContent)"
    )
    assert ticks[0] == 0 and 3 <= ticks[-1] <= np.pi and len(ticks) > 3, ticks
    # ZZ of (ry(θ) ⊗ I) then CX is 1 at θ = 0: the first point is near 1.
    first = browser.execute_script(
        "return document.querySelector('.evs-chart .series title').textContent"
    )
    assert float(first.split(": ")[1].split(" ")[0]) > 0.7, first
    # Zero-noise extrapolation: a measured value per noise factor (1, 3, 5), the
    # extrapolators' curves and the mitigated value at zero noise.
    first_zne = "document.querySelector('.zne-chart')"
    assert browser.execute_script(f"return {first_zne}.querySelectorAll('.point').length") == 4
    assert browser.execute_script(f"return {first_zne}.querySelectorAll('path.line').length") == 2
    assert "noise factor" in _text(browser, ".zne-chart svg")
    # The second pub is a single value: written out, not plotted; its ZNE still drawn.
    assert _count(browser, ".evs-chart") == 1 and _count(browser, ".zne-chart") == 2
    single = _text(browser, ".single-value")
    assert single.startswith("⟨X0 X1⟩ = ") and " ± " in single, single
    _shoot(browser, shots, "estimator_job")
    assert not _stray_words(browser)
    assert not _console_errors(browser)


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.browser
def test_a_backend_shows_its_error_map_and_calibration_history(
    signed_in: WebDriver, server: LocalRuntimeServer, workload: Workload, shots: Path
) -> None:
    browser = signed_in
    _go(browser, server, "#/backends")
    _wait(browser, lambda: _count(browser, "tr[data-backend]"), "the backends")
    listed = browser.execute_script(
        "return [...document.querySelectorAll('tr[data-backend]')].map(r => r.dataset.backend)"
    )
    assert {"local_heron", "local_eagle", "local_falcon", "local_simulator"} <= set(listed)
    _shoot(browser, shots, "backends")
    headers = auth_headers(server)
    for name in ("local_eagle", "local_falcon"):
        config = requests.get(
            f"{server.url}/api/v1/backends/{name}/configuration", headers=headers, timeout=10
        ).json()
        props = requests.get(
            f"{server.url}/api/v1/backends/{name}/properties", headers=headers, timeout=10
        ).json()
        pairs = {tuple(sorted(edge)) for edge in config["coupling_map"]}
        faulty = {
            tuple(sorted(gate["qubits"]))
            for gate in props["gates"]
            if len(gate["qubits"]) == 2
            and any(
                (p["name"] == "operational" and not p["value"])
                or (p["name"] == "gate_error" and p["value"] >= 1)
                for p in gate["parameters"]
            )
        }
        _go(browser, server, f"#/backends/{name}")
        _wait(browser, lambda: _count(browser, "svg.coupling-map circle.qubit"), "the map")
        # One circle per qubit, one line per coupled pair, the faulty ones marked.
        assert _count(browser, "svg.coupling-map circle.qubit") == config["n_qubits"]
        assert _count(browser, "svg.coupling-map line.coupler") == len(pairs)
        marked = browser.execute_script(
            "return [...document.querySelectorAll('svg.coupling-map line.coupler.faulty')]"
            ".map(l => l.dataset.qubits)"
        )
        assert {tuple(int(q) for q in m.split(",")) for m in marked} == faulty
        # Coloured by readout error: as many colours as distinct errors, roughly.
        colours = browser.execute_script(
            "return new Set([...document.querySelectorAll('svg.coupling-map circle.qubit')]"
            ".map(c => c.getAttribute('fill'))).size"
        )
        assert colours > min(5, config["n_qubits"] - 1)
        # The qubits' table: one row per qubit with T1, T2 and readout error.
        assert _count(browser, "#qubits tbody tr") == config["n_qubits"]
        header = _text(browser, "#qubits thead")
        assert "T1" in header and "T2" in header and "Readout error" in header
        # No two qubits drawn on top of each other (the falcon's layout is inferred).
        spots = browser.execute_script(
            "return [...document.querySelectorAll('svg.coupling-map circle.qubit')]"
            ".map(c => c.getAttribute('cx') + ',' + c.getAttribute('cy'))"
        )
        assert len(set(spots)) == config["n_qubits"]
        # The calibration history: the three weekly snapshots, as medians.
        _wait(browser, lambda: _count(browser, ".history-chart"), "the history charts")
        assert _count(browser, ".history-chart .series") == 5
        assert _count(browser, ".history-chart .point") == 5 * 3
        if name == "local_eagle":
            assert faulty  # the synthetic Eagle has broken couplers: they show
            assert not _stray_words(browser)
            _shoot(browser, shots, "backend", bottom="#error-map")
            _shoot(browser, shots, "backend_history", top="#qubits")
    # A simulator has nothing to map: said so.
    _go(browser, server, "#/backends/local_simulator")
    _wait(browser, lambda: _count(browser, ".empty"), "the simulator's empty state")
    assert "simulator" in _text(browser, ".empty")
    assert not _console_errors(browser)


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.browser
def test_sessions_and_batches_list_their_jobs(
    signed_in: WebDriver, server: LocalRuntimeServer, workload: Workload, shots: Path
) -> None:
    browser = signed_in
    _go(browser, server, "#/sessions")
    _wait(browser, lambda: _count(browser, "tr[data-session]"), "the sessions")
    assert _count(browser, f'tr[data-session="{workload.batch_id}"]') == 1
    assert "Batch" in _text(browser, f'tr[data-session="{workload.batch_id}"]')
    _go(browser, server, f"#/sessions/{workload.batch_id}")
    _wait(browser, lambda: _count(browser, "tr[data-job]"), "the batch's jobs")
    assert browser.execute_script(
        "return [...document.querySelectorAll('tr[data-job]')].map(r => r.dataset.job)"
    ) == [workload.batch_job]
    assert not _stray_words(browser)
    _shoot(browser, shots, "session")
    assert not _console_errors(browser)


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.browser
def test_keyboard_alone_opens_a_job_and_narrow_screens_do_not_scroll_sideways(
    signed_in: WebDriver, server: LocalRuntimeServer, workload: Workload
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    browser = signed_in
    _go(browser, server, "#/jobs")
    _wait(browser, lambda: _count(browser, "tr[data-job]") >= 3, "the jobs")
    browser.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
    # Tab from the top of the page to the sampler job's link, then Enter.
    for _ in range(80):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        if browser.execute_script("return document.activeElement.textContent") == workload.sampler:
            break
    else:
        raise AssertionError("the job's link is not reachable with the keyboard")
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    _wait(browser, lambda: _count(browser, "svg.histogram"), "the job page")
    # The page's heading takes the focus, so the reader knows where they are.
    assert browser.execute_script("return document.activeElement.tagName") == "H1"
    # A laptop-sized and a narrow window: nothing sticks out sideways.
    for width in (1024, 800):
        browser.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": False},
        )
        for route, ready in (
            (f"#/jobs/{workload.estimator}", ".evs-chart"),
            ("#/jobs", "tr[data-job]"),
            ("#/backends/local_heron", "svg.coupling-map"),
        ):
            _go(browser, server, route)
            _wait(browser, lambda ready=ready: _count(browser, ready), route)
            assert _overflow(browser) <= 0, (width, route)
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
    )
    assert not _console_errors(browser)


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.browser
def test_a_running_job_is_cancelled_from_its_page(
    signed_in: WebDriver, server: LocalRuntimeServer, workload: Workload, shots: Path
) -> None:
    from selenium.webdriver.common.by import By

    browser = signed_in
    provider = server.provider()
    # Every job stays Running for at least this long: long enough to press the button.
    server.service.min_job_seconds = 120
    try:
        backend = provider.backend("local_falcon")
        circuit = QuantumCircuit(2)
        circuit.h(0)
        circuit.cx(0, 1)
        circuit.measure_all()
        isa = generate_preset_pass_manager(optimization_level=1, backend=backend).run(circuit)
        job = SamplerV2(backend).run([isa], shots=100)
        deadline = time.monotonic() + 60
        while provider.client.get_job(job.job_id())["status"] != "Running":
            assert time.monotonic() < deadline, "the job never ran"
            time.sleep(0.05)
        # The workloads table shows it running (refreshed live).
        _go(browser, server, "#/jobs")
        row = f'tr[data-job="{job.job_id()}"]'
        _wait(browser, lambda: "Running" in _text(browser, row), "the running job in the table")
        _go(browser, server, f"#/jobs/{job.job_id()}")
        _wait(browser, lambda: _count(browser, "#cancel-job"), "the cancel button")
        assert "Running" in _text(browser, ".title-row .badge")
        assert _count(browser, "#delete-job") == 0  # a running job cannot be deleted
        assert not _stray_words(browser)
        _shoot(browser, shots, "running_job")
        browser.find_element(By.ID, "cancel-job").click()
        _wait(browser, lambda: _count(browser, "#cancel-job-confirm"), "the confirmation")
        browser.find_element(By.ID, "cancel-job-confirm").click()
        _wait(browser, lambda: "Cancelled" in _text(browser, ".title-row .badge"), "Cancelled")
        # The service agrees: the job ended Cancelled, long before its 120 s were up.
        assert provider.client.get_job(job.job_id())["status"] == "Cancelled"
        assert "cancelled" in _text(browser, "#results").lower()
        # Now it can be deleted, from the page too; the table no longer lists it.
        _wait(browser, lambda: _count(browser, "#delete-job"), "the delete button")
        browser.find_element(By.ID, "delete-job").click()
        browser.find_element(By.ID, "delete-job-confirm").click()
        _wait(browser, lambda: _count(browser, "tr[data-job]"), "the workloads after deleting")
        status = requests.get(
            f"{server.url}/api/v1/jobs/{job.job_id()}", headers=auth_headers(server), timeout=10
        ).status_code
        assert status == 404
        assert _count(browser, row) == 0
    finally:
        server.service.min_job_seconds = 0
        provider.close()
    assert not _console_errors(browser)


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.browser
def test_a_private_job_result_is_read_only_when_asked(
    signed_in: WebDriver, server: LocalRuntimeServer
) -> None:
    from selenium.webdriver.common.by import By

    browser = signed_in
    provider = server.provider()
    try:
        backend = provider.backend("local_falcon")
        circuit = QuantumCircuit(2)
        circuit.h(0)
        circuit.cx(0, 1)
        circuit.measure_all()
        isa = generate_preset_pass_manager(optimization_level=1, backend=backend).run(circuit)
        sampler = SamplerV2(backend)
        sampler.options.environment.private = True
        job_id = sampler.run([isa], shots=100).job_id()
        assert wait_final(provider, job_id)["status"] == "Completed"
    finally:
        provider.close()
    _go(browser, server, f"#/jobs/{job_id}")
    _wait(browser, lambda: _count(browser, "#read-private-result"), "the read-once button")
    assert "does not return its inputs" in _text(browser, "#inputs")
    assert not _count(browser, "svg.histogram") and not _count(browser, "#download-result")
    # Opening the page read nothing: the result is still there, and is read on request only.
    browser.find_element(By.ID, "read-private-result").click()
    _wait(browser, lambda: _count(browser, "svg.histogram"), "the private job's histogram")
    assert _count(browser, "#download-result") == 1
    gone = requests.get(
        f"{server.url}/api/v1/jobs/{job_id}/results", headers=auth_headers(server), timeout=10
    )
    assert gone.status_code == 404  # the page's read was the one read
    assert not _stray_words(browser)
    assert not _console_errors(browser)


# Hostile documents ---------------------------------------------------------------------------

#: 1 GiB of zeros: about 1.4 MB as base64 of zlib, the size of one job's params.
BOMB_BYTES = 1 << 30


def _npy_b64(
    data: bytes | None = None,
    *,
    zeros: int = 0,
    shape: tuple[int, ...] | None = None,
    descr: str = "|u1",
    magic: bool = True,
) -> str:
    """An ndarray wrapper's value: base64 of zlib of a .npy file whose header declares
    ``shape`` (by default: as many elements as bytes follow) and whose data is ``data`` or
    ``zeros`` zero bytes, compressed in pieces (never held whole)."""
    size = len(data) if data is not None else zeros
    header = io.BytesIO()
    if magic:
        np.lib.format.write_array_header_1_0(
            header, {"descr": descr, "fortran_order": False, "shape": shape or (size,)}
        )
    packer = zlib.compressobj(9)
    parts = [packer.compress(header.getvalue())]
    if data is not None:
        parts.append(packer.compress(data))
    else:
        piece = bytes(1 << 24)
        for start in range(0, zeros, len(piece)):
            parts.append(packer.compress(piece[: min(len(piece), zeros - start)]))
    parts.append(packer.flush())
    return base64.b64encode(b"".join(parts)).decode("ascii")


def _ndarray(value: str) -> dict[str, Any]:
    return {"__type__": "ndarray", "__value__": value}


@dataclass
class ExecutorBomb:
    """An executor job whose quantum program's passthrough data (echoed in its result) holds an
    ndarray wrapper that inflates to 1 GiB."""

    job_id: str
    params: dict[str, Any]
    wrapper: dict[str, Any]


@pytest.fixture(scope="module")
def executor_bomb(server: LocalRuntimeServer) -> ExecutorBomb:
    pytest.importorskip("qiskit_ibm_runtime")
    from qiskit_ibm_runtime import QuantumProgram
    from qiskit_ibm_runtime.options_models import ExecutorOptions
    from qiskit_ibm_runtime.quantum_program.params_converters import (
        QUANTUM_PROGRAM_PARAMS_CONVERTERS,
    )

    provider = server.provider()
    try:
        backend = provider.backend("local_falcon")
        circuit = QuantumCircuit(2)
        circuit.h(0)
        circuit.cx(0, 1)
        circuit.measure_all()
        isa = generate_preset_pass_manager(optimization_level=1, backend=backend).run(circuit)
    finally:
        provider.close()
    program = QuantumProgram(shots=20)
    program.append_circuit_item(isa)
    encoder = QUANTUM_PROGRAM_PARAMS_CONVERTERS["v2.0"].encoder
    params = dict(encoder(program, ExecutorOptions()).model_dump(mode="json"))
    wrapper = _ndarray(_npy_b64(zeros=BOMB_BYTES))
    params["quantum_program"]["passthrough_data"] = {"note": "a label", "bomb": wrapper}
    headers = auth_headers(server)
    created = requests.post(
        f"{server.url}/api/v1/jobs",
        json={"program_id": "executor", "backend": "local_falcon", "params": params},
        headers=headers,
        timeout=60,
    )
    assert created.status_code == 200, created.text
    job_id = created.json()["id"]
    deadline = time.monotonic() + 120
    while True:
        doc = requests.get(f"{server.url}/api/v1/jobs/{job_id}", headers=headers, timeout=30)
        if doc.json()["status"] in ("Completed", "Failed", "Cancelled"):
            break
        assert time.monotonic() < deadline, "the executor job never finished"
        time.sleep(0.1)
    assert doc.json()["status"] == "Completed", doc.text
    result = requests.get(f"{server.url}/api/v1/jobs/{job_id}/results", headers=headers, timeout=60)
    assert result.json()["passthrough_data"]["bomb"] == wrapper  # echoed in the result too
    return ExecutorBomb(job_id=job_id, params=params, wrapper=wrapper)


def _tab_memory(browser: WebDriver) -> int:
    """Bytes the page's JavaScript holds: its heap and the array buffers' backing stores."""
    usage = browser.execute_cdp_cmd("Runtime.getHeapUsage", {})
    return int(usage["usedSize"]) + int(usage.get("backingStorageSize", 0))


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.browser
def test_an_executor_job_with_a_zlib_bomb_is_shown_as_text_without_inflating_it(
    signed_in: WebDriver,
    server: LocalRuntimeServer,
    executor_bomb: ExecutorBomb,
    shots: Path,
    tmp_path: Path,
) -> None:
    """The executor's params and result (free-form passthrough data) never go through the
    type-tagged decoder: shown as JSON text, cut to the first 64 KB with a note that says so,
    and downloadable whole. The 1 GiB wrapper is never inflated: the tab's memory stays small
    (the decoder used to inflate it twice, params and result: 4 GB and 24 s, measured)."""
    from selenium.webdriver.common.by import By

    browser = signed_in
    job = executor_bomb.job_id
    browser.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
    _go(browser, server, f"#/jobs/{job}")
    _wait(
        browser,
        lambda: _count(browser, "#params-json") and _count(browser, "#result-json"),
        "the executor job's params and result as text",
        timeout=60,
    )
    assert job in _text(browser, "main h1")
    assert "Completed" in _text(browser, ".title-row .badge")
    # Inputs: the params as submitted, cut for display, with the whole document to download.
    note = _text(browser, "#inputs .notice.truncated")
    assert re.fullmatch(r"Showing the first 64 KB of 1\.\d+ MB: download .*", note), note
    shown = _text(browser, "#params-json")
    assert shown.startswith("{\n") and "passthrough_data" in shown and shown.endswith("…")
    assert 60_000 < len(shown) <= 64 * 1024 + 2
    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    browser.find_element(By.ID, "download-params").click()
    saved = tmp_path / f"job-{job}-params.json"

    def whole() -> bool:
        try:
            return bool(json.loads(saved.read_text()) == executor_bomb.params)
        except (OSError, ValueError):
            return False

    _wait(browser, whole, "the whole params in the downloaded file")
    # The result: said to be text, cut the same way, downloadable whole from the actions.
    assert "this executor result is shown as JSON text" in _text(browser, "#results")
    assert "Showing the first 64 KB of" in _text(browser, "#results .notice.truncated")
    assert _text(browser, "#result-json").startswith('{\n  "schema_version"')
    assert _count(browser, "#download-result") == 1
    assert not _count(browser, ".decode-error")  # nothing was decoded, so nothing failed
    # Nothing the size of the inflated wrapper was ever made (4 GB before).
    held = _tab_memory(browser)
    assert held < 256 * 1024 * 1024, f"the tab holds {held / 2**20:.0f} MiB"
    print(f"executor job page: the tab holds {held / 2**20:.1f} MiB")
    _shoot(browser, shots, "executor_job", max_height=1600)
    # Still responsive: another page opens at once.
    _go(browser, server, "#/jobs")
    _wait(browser, lambda: _count(browser, "tr[data-job]"), "the workloads after the job")
    assert not _console_errors(browser)


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.browser
def test_the_decoder_bounds_every_inflation_and_fails_one_value_at_a_time(
    signed_in: WebDriver, executor_bomb: ExecutorBomb
) -> None:
    """decode.js on one hostile document: an array declaring 1 GiB is refused from its header,
    before its data is inflated; one whose header understates its data stops at the declared
    size; data with no .npy header, or no zlib stream, fails. Each becomes a DecodeFailure in
    its place, the good array beside them decodes, and five 20 MiB arrays share the document's
    128 MiB budget: three decode, two are refused."""
    document = {
        "good": _ndarray(_npy_b64(np.array([1.5, 2.5, -3.0]).tobytes(), shape=(3,), descr="<f8")),
        "declared_1_gib": executor_bomb.wrapper,
        "understated": _ndarray(_npy_b64(zeros=256 << 20, shape=(16,))),
        "no_header": _ndarray(_npy_b64(zeros=256 << 20, magic=False)),
        "not_zlib": _ndarray(base64.b64encode(b"certainly not zlib" * 10).decode()),
        "listed": _ndarray([[1, 2], [3, 4]]),
        "shared": [_ndarray(_npy_b64(zeros=20 << 20)) for _ in range(5)],
    }
    decoded = signed_in.execute_async_script(
        "const [doc, done] = [arguments[0], arguments[arguments.length - 1]];"
        "import('./console/js/decode.js').then(async (d) => {"
        "  const show = (v) => v instanceof d.DecodeFailure ? {failure: v.message, type: v.type}"
        "    : v instanceof d.NdArray ? {shape: v.shape, head: Array.from(v.data.slice(0, 4))}"
        "    : v;"
        "  const out = await d.decodeTagged(doc);"
        "  done(Object.fromEntries(Object.entries(out).map(([k, v]) =>"
        "    [k, Array.isArray(v) ? v.map(show) : show(v)])));"
        "}).catch((e) => done(String(e)));",
        document,
    )
    assert isinstance(decoded, dict), decoded
    assert decoded["good"] == {"shape": [3], "head": [1.5, 2.5, -3.0]}
    assert decoded["listed"] == {"shape": [2, 2], "head": [1, 2, 3, 4]}
    refused = decoded["declared_1_gib"]
    assert refused["type"] == "ndarray"
    assert refused["failure"].startswith("an array of shape (1073741824,) (|u1) takes 2 GB"), (
        refused
    )
    assert "more than the console decodes (64 MB)" in refused["failure"]
    assert "longer than its header declares" in decoded["understated"]["failure"]
    assert decoded["no_header"]["failure"] == "not a .npy array"
    assert "failure" in decoded["not_zlib"]
    shared = decoded["shared"]
    assert sum("shape" in item for item in shared) == 3, shared
    over = [item["failure"] for item in shared if "failure" in item]
    assert len(over) == 2 and all("left of the console's budget" in text for text in over)
    assert all(item["head"] == [0, 0, 0, 0] for item in shared if "shape" in item)
    assert not _console_errors(signed_in)


#: Markup that would run or load something if the page ever parsed a string as HTML.
HOSTILE = ("<img src=x onerror=alert(1)>", "<script>alert(2)</script>", '"><svg onload=alert(3)>')


def _injected(browser: WebDriver) -> list[str]:
    """Elements or attributes a hostile string would have created, anywhere in the page."""
    return list(
        browser.execute_script(
            "return [...document.querySelectorAll("
            "'main img, main script, main iframe, main object, main embed, main svg:not(.chart-svg)"
            ", [onerror], [onload], [onclick]')].map((e) => e.outerHTML.slice(0, 120))"
        )
    )


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.browser
def test_hostile_strings_are_shown_as_text(
    signed_in: WebDriver, server: LocalRuntimeServer
) -> None:
    """Markup in a job's tags (listed, filtered on, on the job's page) and in strings that reach
    the page without any backend data (a job or session id in the address, quoted back in the
    service's error message) is shown as the text it is: no element is made, nothing runs, no
    request goes out for it, and the browser logs no violation."""
    browser = signed_in
    provider = server.provider()
    try:
        backend = provider.backend("local_simulator")
        circuit = QuantumCircuit(1)
        circuit.h(0)
        circuit.measure_all()
        sampler = SamplerV2(backend)
        sampler.options.environment.job_tags = list(HOSTILE)
        job_id = sampler.run([circuit], shots=10).job_id()
        assert wait_final(provider, job_id)["status"] == "Completed"
    finally:
        provider.close()
    browser.execute_script("window.__alerts = []; window.alert = (m) => window.__alerts.push(m);")
    _go(browser, server, f"#/jobs?tag={HOSTILE[0]}")
    row = f'tr[data-job="{job_id}"]'
    _wait(browser, lambda: _count(browser, row), "the hostile-tagged job, filtered on its tag")
    chips = browser.execute_script(
        f"return [...document.querySelectorAll('{row} .tag')].map((t) => t.textContent)"
    )
    assert sorted(chips) == sorted(HOSTILE)
    assert browser.execute_script("return document.getElementById('tag').value") == HOSTILE[0]
    assert not _injected(browser)
    _go(browser, server, f"#/jobs/{job_id}")
    _wait(browser, lambda: _count(browser, "svg.histogram"), "the hostile-tagged job's page")
    chips = browser.execute_script(
        "return [...document.querySelectorAll('#summary .tag')].map((t) => t.textContent)"
    )
    assert set(HOSTILE) <= set(chips)  # with the client's own submission tag
    assert not _injected(browser)
    assert not _console_errors(browser)
    # No backend data at all: the id comes from the address, and the service quotes it back.
    for route, quoted in (
        (f"#/jobs/{HOSTILE[0]}", f"Job {HOSTILE[0]} not found."),
        (f"#/sessions/{HOSTILE[2]}", f"Session {HOSTILE[2]} not found."),
    ):
        _go(browser, server, route)
        _wait(browser, lambda quoted=quoted: quoted in _text(browser, "main"), route)
        assert not _injected(browser), route
        assert HOSTILE[0 if "jobs" in route else 2] in browser.execute_script(
            "return document.title"
        )
        # The browser logs the 404 itself; nothing else (no CSP violation, no request for x).
        logged = _console_errors(browser)
        assert logged and all("404" in line and "/api/v1/" in line for line in logged), logged
    assert browser.execute_script("return window.__alerts") == []
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - reading it raises when no alert is open
    _go(browser, server, "#/jobs")
    _wait(browser, lambda: _count(browser, "tr[data-job]"), "the workloads again")
    assert not _console_errors(browser)


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.browser
def test_signing_out_forgets_the_token_and_an_expired_one_asks_again(
    signed_in: WebDriver, server: LocalRuntimeServer
) -> None:
    from selenium.webdriver.common.by import By

    browser = signed_in
    browser.find_element(By.ID, "sign-out").click()
    _wait(browser, lambda: _count(browser, "#apikey"), "the sign-in form")
    assert browser.execute_script("return sessionStorage.length") == 0
    assert not _count(browser, "#signin-title + .notice")  # signed out on purpose: no reason
    # A token that expires: the next page asks to sign in again, and says why.
    server.service.token_lifetime = 2
    try:
        browser.find_element(By.ID, "apikey").send_keys(server.api_key)
        browser.find_element(By.ID, "signin-submit").click()
        # Back on the page it was on (the private job's), signed in.
        _wait(browser, lambda: _count(browser, "#sign-out") and _count(browser, "main h1"), "in")
        assert not _count(browser, "#apikey")
        time.sleep(2.5)
        _go(browser, server, "#/backends")
        _wait(browser, lambda: _count(browser, "#apikey"), "the sign-in form again")
        assert "expired" in _text(browser, "#signin-title + .notice")
        assert browser.execute_script("return sessionStorage.length") == 0
    finally:
        server.service.token_lifetime = 3600
    # Signed in again, for any test that runs after this one.
    browser.find_element(By.ID, "apikey").send_keys(server.api_key)
    browser.find_element(By.ID, "signin-submit").click()
    _wait(browser, lambda: _count(browser, "#sign-out"), "signed in again")
    assert not _console_errors(browser)
