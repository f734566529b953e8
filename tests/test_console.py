"""The web console served at ``/``: its files and headers, and the pages in a real browser.

The fast tests read the page, its files and the headers of the service's answers over HTTP:
the strict Content-Security-Policy and frame refusal on every answer, no CORS grant to another
origin, the API's JSON error bodies kept, the files shipped as package data and nothing in them
fetched from another host.

The browser tests drive Debian's headless Chromium (tests/browser.py) against a real local
service with real jobs, in one browser session: sign in with the API key, find the jobs just
submitted (and filter them), open a sampler job and find its histograms drawn (and download its
result), check the page's own decoder against the client's counts, open an estimator job with
its error bars and zero-noise extrapolation, a batch, the backends and a device's error map with
one circle per qubit, reach a job with the keyboard alone, narrow the window, cancel a running
job from the page (checked through the REST API) and delete it, read a private job's result only
when asked, and sign out (or be signed out when the token expires). Each page is captured under
tests/output/console/ (docs/local_service.md shows copies). The browser's console must stay free
of errors (a CSP violation is one), and no page may show a "null" or "NaN".
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
        (f"{server.url}/console/../pyproject.toml", 404),
        (f"{server.url}/console/js/../../__init__.py", 404),
    ):
        answer = requests.get(url, timeout=10)
        assert answer.status_code == status, url
        assert answer.json()["errors"][0]["code"], url
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    # FastAPI's API browser (CDN scripts, inline code) keeps working, still unframeable.
    docs = requests.get(f"{server.url}/docs", timeout=10)
    assert docs.status_code == 200
    assert docs.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert docs.headers["x-frame-options"] == "DENY"
    # The console's routes stay out of the API's OpenAPI document.
    paths = requests.get(f"{server.url}/openapi.json", timeout=10).json()["paths"]
    assert "/" not in paths and not [p for p in paths if p.startswith("/console")]


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
            # Nothing becomes HTML or code from a string (Trusted Types would refuse it anyway),
            # and nothing is written anywhere but the tab's session storage.
            for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
                assert sink not in text, (name, sink)
            assert "eval(" not in text and "new Function" not in text, name
            assert "localStorage" not in text and "document.cookie" not in text, name
    assert "apikey" not in files["js/api.js"].decode().split("sessionStorage.setItem")[1][:200]


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
    # Only the token and the instance are kept, in this tab's storage; no key, no secret URL.
    stored = browser.execute_script(
        "return [sessionStorage.length, localStorage.length, "
        "sessionStorage.getItem('qiskit-rest-console'), location.href, document.cookie]"
    )
    assert stored[0] == 1 and stored[1] == 0 and stored[4] == ""
    kept = json.loads(stored[2])
    assert set(kept) == {"token", "expiration", "instance", "instances", "apiVersion"}
    assert kept["instance"] == server.instance
    assert server.api_key not in stored[2] and server.api_key not in stored[3]
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
