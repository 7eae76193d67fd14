"""``fedjava serve``: the page reviews an uploaded or pasted file through the shared review path and marks the
error line; uploads that are too large or not Java text are refused with a message; a grade folder can be
browsed; a form sent by another site (cross-site request forgery) or without the page's token is refused before
anything is reviewed; ``--unsafe-run`` needs a loopback address and is warned about; missing packages stop it
at start. The last tests drive the page in a real headless Chromium (Debian's chromium + chromium-driver,
installed by ``make test``): the page's own form works and saves a screenshot, another site's form is refused."""

from __future__ import annotations

import contextlib
import html
import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tests.conftest import BAD, BAD_ANSWER, GOOD, GOOD_ANSWER, REQUIREMENT, CountingReviewer, finished, form_token

from fedjava.cli import main


@pytest.fixture(scope="module")
def reviewer(taught_adapter):
    from fedjava.reviewer import Reviewer, open_adapter

    return Reviewer.load(*open_adapter(taught_adapter))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A grade output folder written from two made-up reviews (no model needed to browse one)."""
    from fedjava.grading.grade import write_outputs
    from fedjava.grading.rubric import load_rubric
    from fedjava.grading.store import GradeFolder

    folder = GradeFolder(tmp_path_factory.mktemp("results") / "hw1")
    folder.meta["assignment"] = "Homework 1"
    records = {
        name: {"student": name, "source": f"{name}.java", "code": code, "status": "graded", "answer": answer}
        for name, code, answer in (("alice", GOOD, GOOD_ANSWER), ("bob", BAD, BAD_ANSWER))
    }
    write_outputs(folder, "Homework 1", load_rubric(), records, set(records), False)
    return folder.root


SAME_ORIGIN = {"origin": "http://testserver"}  # what a browser sends with the page's own form (TestClient's host)


def send(client, data=None, files=None, **kwargs):
    """POST the review form as the page's own form does (its token, from the page's origin), then follow the progress
    page until the review is done, as the page does: the response with the review (or the refusal)."""
    return finished(
        client, client.post("/review", data={**(data or {}), "form_token": form_token(client)}, files=files, **kwargs)
    )


@pytest.fixture(scope="module")
def client(reviewer, results):
    from starlette.testclient import TestClient

    from fedjava.grading.rubric import load_rubric
    from fedjava.serve import create_app

    return TestClient(create_app(reviewer, load_rubric(), results, max_upload_bytes=20_000), headers=SAME_ORIGIN)


@pytest.fixture
def counted(reviewer):
    """A client of an app whose reviewer counts its reviews."""
    from starlette.testclient import TestClient

    from fedjava.grading.rubric import load_rubric
    from fedjava.serve import create_app

    counting = CountingReviewer(reviewer)
    return TestClient(create_app(counting, load_rubric()), headers=SAME_ORIGIN), counting


def test_upload_or_paste_gives_the_feedback_page_with_the_line_marked(client):
    page = client.get("/")
    assert page.status_code == 200 and 'action="/review"' in page.text and "Up to 20 KB" in page.text
    reviewed = send(client, data={"task": REQUIREMENT}, files={"code_file": ("Solution.java", BAD)})
    assert reviewed.status_code == 200
    assert (
        '<div class="line marked" id="L3" data-line="3"><span class="n">3</span><code>        return 2 * x</code>'
        in reviewed.text
        and "The return statement on line 3 is missing its semicolon." in reviewed.text
    )
    assert 'data-field="state"' not in reviewed.text and 'href="/"' in reviewed.text
    pasted = send(client, data={"task": REQUIREMENT, "code": GOOD})
    assert pasted.status_code == 200 and 'data-field="verdict">NO_ERROR<' in pasted.text
    assert "line marked" not in pasted.text


@pytest.mark.parametrize(
    "form, files, status, message",
    [
        ({}, {"code_file": ("notes.txt", GOOD)}, 400, "notes.txt: not a .java file"),
        ({}, {"code_file": ("A.java", b"\xca\xfe\xba\xbe\x00\x01")}, 400, "A.java: not a text file"),
        ({}, {"code_file": ("A.java", "caf\xe9 { class }".encode("latin-1"))}, 400, "A.java: not UTF-8 text"),
        ({"code": "def twice(x):\n    return 2 * x\n"}, None, 400, "this does not look like Java source"),
        ({"code": "  "}, None, 400, "no code: paste the Java program or choose a .java file"),
        ({}, {"code_file": ("A.java", "class A {}\n" + "//" * 15_000)}, 413, "the limit is 20 KB"),
        ({"code": GOOD}, {"task_file": ("t.yaml", "requirement: x\nhints: y\n")}, 400, "t.yaml: unknown key 'hints'"),
        (
            {"code": GOOD},
            {"task_file": ("notes", "root:$6$salt$hash:19000:0:99999:7:::\n")},
            400,
            "notes: not a task file: a task file is a YAML mapping with 'requirement:'",
        ),
    ],
)
def test_refusals_say_why(client, form, files, status, message):
    response = send(client, data=form, files=files)
    assert response.status_code == status and message in html.unescape(response.text), response.text[-600:]


def test_browse_a_grade_folder(client, reviewer, results):
    from starlette.testclient import TestClient

    from fedjava.grading.rubric import load_rubric
    from fedjava.serve import create_app

    listing = client.get("/results")
    assert listing.status_code == 200 and "<h1>Homework 1</h1>" in listing.text
    assert '<a href="/results/files/feedback/bob.html">bob</a>' in listing.text
    assert 'data-line="3"' in client.get("/results/files/feedback/bob.html").text
    assert client.get("/results/files/grades.csv").text.startswith("Student,ID,SIS User ID,SIS Login ID,Section")
    (results / "outside.txt").symlink_to(results.parent / "secret.txt")
    (results.parent / "secret.txt").write_text("not for the page")
    for escape in (
        "../../etc/passwd",
        "%2e%2e/secret.txt",
        "..%2fsecret.txt",
        "feedback/..%2f..%2fsecret.txt",
        "%2fetc%2fpasswd",
        "outside.txt",
    ):  # nothing outside the folder, not even through a link
        response = client.get("/results/files/" + escape)
        assert response.status_code == 404 and "not for the page" not in response.text, escape
    bare = TestClient(create_app(reviewer, load_rubric()))
    assert (
        bare.get("/results").status_code == 404 and "start the server with --results DIR" in bare.get("/results").text
    )


def test_student_code_stays_text(client):
    code = BAD.replace("class Solution {", "class Solution { // </code><script>alert(1)</script><b>")
    page = send(client, data={"task": "<i>twice</i>"}, files={"code_file": ("x<y>.java", code)})
    assert page.status_code == 200 and "<script>" not in page.text and "<i>" not in page.text
    assert "x&lt;y&gt;.java" in page.text and "&lt;i&gt;twice&lt;/i&gt;" in page.text
    assert "// &lt;/code&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;" in page.text


def test_only_loopback_host_names_when_bound_to_loopback(reviewer):
    from starlette.testclient import TestClient

    from fedjava.grading.rubric import load_rubric
    from fedjava.serve import LOOPBACK_NAMES, _host_name, create_app

    app = create_app(reviewer, load_rubric(), allowed_hosts=LOOPBACK_NAMES)
    local = TestClient(app, base_url="http://127.0.0.1:8765")
    assert local.get("/").status_code == 200
    assert local.get("/", headers={"host": "localhost:8765"}).status_code == 200
    rebound = local.get("/", headers={"host": "attacker.example:8765"})  # DNS rebinding: a foreign name
    assert rebound.status_code == 400 and "only on this machine" in rebound.text
    assert local.post("/review", headers={"host": "attacker.example"}, data={"code": GOOD}).status_code == 400
    assert [_host_name(h) for h in ("127.0.0.1:8765", "[::1]:80", "LocalHost", "::1")] == [
        "127.0.0.1",
        "::1",
        "localhost",
        "::1",
    ]


def test_serve_checks_before_listening(tmp_path, capsys):
    from fedjava.serve import _is_loopback

    (tmp_path / "notes.txt").write_text("a folder of other things")
    assert main(["serve", "--results", str(tmp_path)]) == 2
    assert "not a fedjava grade output folder (no grades_detail.csv), and not empty" in capsys.readouterr().err
    assert main(["serve", "--results", str(tmp_path / "notes.txt")]) == 2
    assert "is a file; --results takes a folder" in capsys.readouterr().err
    assert _is_loopback("127.0.0.1") and _is_loopback("::1") and _is_loopback("localhost")
    assert not _is_loopback("0.0.0.0") and not _is_loopback("192.168.1.5")
    with socket.socket() as busy:  # a port in use is said before the model loads, not after
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main(["serve", "--port", str(busy.getsockname()[1])]) == 2
    assert "cannot listen on 127.0.0.1:" in capsys.readouterr().err


ATTACKS = [  # (headers, why): forms another web page in the teacher's browser can make it send
    ({"origin": "http://evil.example"}, "the form came from http://evil.example"),
    ({"origin": "null"}, "the form came from null"),  # a sandboxed frame or a data: URL
    ({"origin": "http://testserver:8080"}, "the form came from http://testserver:8080"),  # another port
    ({"origin": "http://testserver.evil.example"}, "not from this page"),
    ({"origin": "", "referer": "http://evil.example/page.html"}, "the form came from"),
    ({"origin": None, "referer": "http://evil.example/page.html"}, "came from http://evil.example/page.html"),
    ({"sec-fetch-site": "cross-site"}, "Sec-Fetch-Site: cross-site"),
    ({"sec-fetch-site": "same-site"}, "Sec-Fetch-Site: same-site"),  # another port or subdomain of the host
    ({"origin": None}, "neither where it came from (Origin) nor which page sent it (Referer)"),
]


@pytest.mark.parametrize("headers, why", ATTACKS)
def test_a_form_from_another_site_is_refused_and_nothing_is_reviewed(counted, headers, why):
    client, counting = counted
    token = form_token(client)  # even with a valid token (which another site cannot read)
    for name in [k for k, v in headers.items() if v is None]:
        client.headers.pop(name, None)  # not sent at all
    sent = {k: v for k, v in headers.items() if v is not None}
    refused = client.post("/review", data={"task": REQUIREMENT, "code": GOOD, "form_token": token}, headers=sent)
    assert refused.status_code == 403 and why in html.unescape(refused.text), refused.text[-500:]
    assert "This page takes forms only from itself" in refused.text and counting.reviews == 0


def test_a_post_without_the_pages_token_is_refused_and_the_pages_own_form_works(counted, reviewer):
    from starlette.testclient import TestClient

    from fedjava.grading.rubric import load_rubric
    from fedjava.serve import create_app

    client, counting = counted
    other_server = form_token(TestClient(create_app(reviewer, load_rubric()), headers=SAME_ORIGIN))
    for token in (None, "", "0123.abcd", form_token(client) + "0", other_server):  # restarted: a new key
        data = {"task": REQUIREMENT, "code": GOOD, **({"form_token": token} if token is not None else {})}
        refused = client.post("/review", data=data)
        assert refused.status_code == 403, token
        assert "the form's token is missing or out of date" in html.unescape(refused.text), token
    assert counting.reviews == 0
    reviewed = send(client, data={"task": REQUIREMENT, "code": GOOD})  # same origin, the page's token
    assert reviewed.status_code == 200 and 'data-field="verdict">NO_ERROR<' in reviewed.text
    assert counting.reviews == 1
    referer_only = client.post(
        "/review",
        data={"code": GOOD, "form_token": form_token(client)},
        headers={"origin": "", "referer": "http://testserver/"},
    )
    assert referer_only.status_code == 403  # an empty Origin is a foreign one, not a missing one
    client.headers.pop("origin")
    by_referer = client.post(
        "/review", data={"code": GOOD, "form_token": form_token(client)}, headers={"referer": "http://testserver/"}
    )
    assert by_referer.status_code == 200 and counting.reviews == 2  # no Origin: the Referer says it


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::"])
def test_unsafe_run_is_refused_unless_bound_to_loopback(host, capsys):
    assert main(["serve", "--unsafe-run", "--host", host]) == 2
    err = capsys.readouterr().err
    assert f"error: --unsafe-run with --host {host}: anyone who can reach this port could run Java code" in err
    assert len(err.strip().splitlines()) == 1


def _src_path() -> str:
    import fedjava

    return str(Path(fedjava.__file__).resolve().parents[1])


@pytest.mark.parametrize(
    "blocked, named",
    [
        (("python_multipart", "multipart"), "python-multipart"),
        (("uvicorn",), "uvicorn"),
        (("fastapi",), "fastapi"),
    ],
)
def test_serve_without_its_packages_says_what_to_install(blocked, named):
    """As in an environment without the serve extra: the import fails (None in sys.modules), serve says so at start
    instead of answering every upload with a 500."""
    script = (
        f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None\n"
        "from fedjava.cli import main\nsys.exit(main(['serve']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": _src_path()},
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: fedjava serve needs {named}, not installed"), lines
    assert "pip install 'fedjava[serve]'" in lines[0]


def test_serve_from_the_command_line_warns_about_unsafe_run_and_refuses_other_sites(taught_adapter, tmp_path):
    """The real command, on a real port: the warning, then a cross-site form refused and the page's own accepted."""
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path / "serve.log").open("w+")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fedjava.cli",
            "serve",
            "--adapter",
            str(taught_adapter),
            "--port",
            str(port),
            "--unsafe-run",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": _src_path()},
    )
    try:
        deadline = time.monotonic() + 120
        while "Serving on" not in Path(log.name).read_text() and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        started = Path(log.name).read_text()
        assert "Serving on" in started, started
        assert "warning: --unsafe-run: Java code sent to this page runs WITHOUT the sandbox" in started
        url = f"http://127.0.0.1:{port}"
        # "Serving on" is printed as uvicorn starts; the port opens a moment later (longer on a busy machine)
        while True:
            try:
                index = httpx.get(url + "/")
                break
            except httpx.ConnectError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        token = re.search(r'name="form_token" value="([^"]+)"', index.text)[1]
        form = {"task": REQUIREMENT, "code": GOOD, "form_token": token}
        attack = httpx.post(url + "/review", data=form, headers={"origin": "http://evil.example"})
        assert attack.status_code == 403 and "Refused" in attack.text
        with httpx.Client(follow_redirects=True, timeout=120) as browser_like:
            own = finished(browser_like, browser_like.post(url + "/review", data=form, headers={"origin": url}))
        assert own.status_code == 200 and 'data-field="verdict"' in own.text
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _browser() -> tuple[str, str]:
    """Debian's chromium and chromedriver; a clear failure when they are missing (make test installs them)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail(
            "the browser test needs Debian's chromium and chromium-driver: make browser (or, as root, "
            "apt-get install -y chromium chromium-driver)"
        )
    return chromium, driver


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(app):
    """``app`` on a free 127.0.0.1 port, served by uvicorn in a thread, as fedjava serve runs it; yields its URL."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_server(reviewer, results):
    """The app on a free 127.0.0.1 port; yields its URL and its counting reviewer."""
    from fedjava.grading.rubric import load_rubric
    from fedjava.serve import LOOPBACK_NAMES, create_app

    counting = CountingReviewer(reviewer)
    app = create_app(counting, load_rubric(), results, allowed_hosts=LOOPBACK_NAMES)  # as fedjava serve makes it
    with serving(app) as url:
        yield url, counting


@pytest.fixture
def browser(tmp_path, monkeypatch):
    """Debian's headless Chromium through Selenium."""
    chromium, chromedriver = _browser()
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not try to download a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1100,1500",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    yield driver
    driver.quit()


def submit_review(browser, url: str, tmp_path) -> None:
    """Open the page at ``url`` in the browser and send BAD with the task through its own form, as a teacher does."""
    from selenium.webdriver.common.by import By

    java = tmp_path / "Solution.java"
    java.write_text(BAD)
    browser.get(url + "/")
    browser.find_element(By.ID, "task").send_keys(REQUIREMENT)
    browser.find_element(By.ID, "code_file").send_keys(str(java))
    browser.find_element(By.ID, "submit").click()


def test_in_a_real_browser_the_submitted_file_comes_back_with_its_line_marked(live_server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    live_server, counting = live_server
    submit_review(browser, live_server, tmp_path)  # the page's own form: its Origin and its token pass
    WebDriverWait(browser, 180).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".line.marked"))
    marked = browser.find_elements(By.CSS_SELECTOR, ".line.marked")
    assert [m.get_attribute("data-line") for m in marked] == ["3"]
    assert "return 2 * x" in marked[0].text and "error 1" in marked[0].text
    assert "COMPILE_ERROR" in browser.find_element(By.CSS_SELECTOR, "[data-field=verdict]").text
    browser.save_screenshot(str(tmp_path / "review.png"))
    browser.get(live_server + "/results")
    browser.find_element(By.LINK_TEXT, "bob").click()
    assert browser.find_element(By.CSS_SELECTOR, ".line.marked").get_attribute("data-line") == "3"
    browser.save_screenshot(str(tmp_path / "results_bob.png"))
    assert (tmp_path / "review.png").stat().st_size > 10_000 and counting.reviews == 1


ATTACK_PAGE = """<!doctype html><html><body><h1>Free Java tips</h1>
<form id="f" action="{target}/review" method="post" enctype="multipart/form-data">
<input name="task" value="Print hello."><textarea name="code">{code}</textarea>
<input name="form_token" value="guessed"></form>
<script>document.getElementById("f").submit();</script></body></html>"""


def test_in_a_real_browser_another_sites_page_cannot_send_the_form(live_server, browser, tmp_path):
    """The attack of the probe: a page on another origin (here another port of this machine, as a page the
    teacher opens elsewhere would be) submits a form to the review page as soon as it loads."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    target, counting = live_server
    code = html.escape('class Solution { public static void main(String[] a) { System.out.println("pwned"); } }')
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text(ATTACK_PAGE.format(target=target, code=code))
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path / "site"), **k)  # noqa: E731
    site = http.server.ThreadingHTTPServer(("127.0.0.1", _free_port()), handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.1:{site.server_address[1]}/index.html")
        WebDriverWait(browser, 60).until(lambda b: b.current_url.startswith(target))
        WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.TAG_NAME, "h1"))
        assert browser.find_element(By.TAG_NAME, "h1").text == "Refused"
        assert "the browser says the form came from another site" in browser.find_element(By.TAG_NAME, "body").text
    finally:
        site.shutdown()
        site.server_close()
    assert counting.reviews == 0


# ---------------------------------------------------------------- progress, editing and releasing, a class zip


class SlowReviewer(CountingReviewer):
    """The real reviewer, made to wait for ``go`` before each review: the page must answer before the review ends."""

    def __init__(self, inner):
        super().__init__(inner)
        self.go = threading.Event()

    def review(self, *args, **kwargs):
        assert self.go.wait(120), "the test never let the review go"
        return super().review(*args, **kwargs)


def test_a_review_answers_at_once_with_its_progress_then_the_review(reviewer):
    from starlette.testclient import TestClient

    from fedjava.grading.rubric import load_rubric
    from fedjava.serve import create_app

    slow = SlowReviewer(reviewer)
    client = TestClient(create_app(slow, load_rubric()), headers=SAME_ORIGIN)
    started = client.post(
        "/review", data={"task": REQUIREMENT, "code": BAD, "form_token": form_token(client)}, follow_redirects=False
    )
    assert started.status_code == 303 and started.headers["location"].startswith("/jobs/")
    waiting = client.get(started.headers["location"])
    assert waiting.status_code == 200 and "data-progress=" in waiting.text
    assert "<h1>Reviewing &hellip;</h1>" in waiting.text
    assert 'id="bar" style="width: ' in waiting.text and "/jobs/" in waiting.text  # the page polls the job
    progress = client.get(started.headers["location"] + ".json").json()
    assert progress["done"] is False and 0 <= progress["percent"] <= 95 and progress["step"]
    slow.go.set()
    done = finished(client, waiting)
    assert "data-progress=" not in done.text and "The return statement on line 3 is missing its semicolon." in done.text
    assert client.get(started.headers["location"] + ".json").json()["done"] is True and slow.reviews == 1
    assert client.get("/jobs/nothing-here").status_code == 404


@pytest.fixture
def class_folder(tmp_path):
    """A grade output folder of two made-up reviews (bob's error confirmed by javac), scored out of 20."""
    from tests.conftest import BAD_EVIDENCE, GOOD_EVIDENCE

    from fedjava.grading.outputs import write_outputs
    from fedjava.grading.rubric import parse_rubric
    from fedjava.grading.store import GradeFolder

    rubric = parse_rubric(
        "verdict: {NO_ERROR: 20, LOGIC_ERROR: 12, RUNTIME_ERROR: 10, COMPILE_ERROR: 8}\n"
        "per_error: {other: 2}\ncap: 20\n"
    )
    folder = GradeFolder(tmp_path / "hw2")
    folder.root.mkdir()
    folder.rubric.write_text(rubric.text)
    folder.meta.update(assignment="Homework 2", task=REQUIREMENT)
    records = {
        name: {
            "student": name,
            "source": f"{name}.java",
            "code": code,
            "status": "graded",
            "answer": answer,
            "evidence": evidence,
        }
        for name, code, answer, evidence in (
            ("alice", GOOD, GOOD_ANSWER, GOOD_EVIDENCE),
            ("bob", BAD, BAD_ANSWER, BAD_EVIDENCE),
        )
    }
    records["dave"] = {
        "student": "dave",
        "source": "dave.java",
        "code": None,
        "status": "ungradable",
        "reason": "the Java file is empty",
    }
    folder.save_records(list(records.values()))
    write_outputs(folder, "Homework 2", rubric, records, set(records), False)
    return folder.root


def _edit(client, student, **fields):
    return client.post(f"/results/edit/{student}", data={**fields, "form_token": form_token(client)})


def test_the_teacher_edits_scores_and_releases_a_page(reviewer, class_folder):
    from starlette.testclient import TestClient

    from fedjava.grading.gradebook import read_detail
    from fedjava.serve import create_app, results_rubric

    client = TestClient(
        create_app(reviewer, results_rubric(class_folder), class_folder, rubric_given=False), headers=SAME_ORIGIN
    )
    assert "scores out of 20" in client.get("/").text  # the class's rubric, not /10
    listing = client.get("/results").text
    assert '<a href="/results/edit/bob" data-edit="bob">edit or release</a>' in listing
    form = client.get("/results/edit/bob").text
    assert "The return statement on line 3 is missing its semicolon.</textarea>" in form
    assert "the rubric gives <b>6</b> / 20" in form
    page = class_folder / "feedback" / "bob.html"
    original = page.read_text()

    for typed, why in (
        ("25", "25 is not a score from 0 to the 20 points possible; nothing was saved"),
        ("-1", "-1 is not a score from 0 to the 20 points possible"),
        ("x", "'x' is not a number"),
    ):
        refused = _edit(client, "bob", score=typed, action="save")
        assert refused.status_code == 400 and why in html.unescape(refused.text)
    assert page.read_text() == original

    saved = _edit(
        client,
        "bob",
        **{"explanation-1": "Line 3 needs a ';' at its end.", "fix-1": "return 2 * x;", "score": "9", "action": "save"},
    )
    assert saved.status_code == 200 and "Saved: bob: saved, edited" in html.unescape(saved.text)
    edited = page.read_text()
    assert "Line 3 needs a &#39;;&#39; at its end." in edited and '<b data-field="score">9</b> / 20' in edited
    assert 'total: the score your teacher gave (the rubric gave 6)</th><th class="num">9 / 20' in edited
    row = {r["student"]: r for r in read_detail(class_folder / "grades_detail.csv")}["bob"]
    assert (row["score"], row["score_from"], row["edited"], row["state"]) == ("9", "teacher", "yes", "draft")
    assert "bob,,,bob,,9" in (class_folder / "grades.csv").read_text()

    # everything put back as the grader wrote it: no longer an edit, and the rubric's score again
    _edit(
        client,
        "bob",
        **{
            "explanation-1": BAD_ANSWER["errors"][0]["explanation"],
            "fix-1": BAD_ANSWER["errors"][0]["fix"],
            "score": "",
            "action": "save",
        },
    )
    row = {r["student"]: r for r in read_detail(class_folder / "grades_detail.csv")}["bob"]
    assert (row["score"], row["edited"]) == ("6", "no") and page.read_text() == original

    released = _edit(client, "bob", **{"explanation-1": "Add the ';'.", "score": "", "action": "release"})
    assert "Saved: bob: released, edited" in html.unescape(released.text)
    row = {r["student"]: r for r in read_detail(class_folder / "grades_detail.csv")}["bob"]
    assert (row["state"], row["score"], row["score_from"]) == ("released", "6", "rubric")
    assert '<span data-field="state">released</span>' in page.read_text()
    refused = _edit(client, "dave", score="", action="release")  # not graded and no score typed
    assert refused.status_code == 400 and "dave has no score yet" in refused.text
    assert _edit(client, "dave", score="12", action="release").status_code == 200  # graded by hand
    row = {r["student"]: r for r in read_detail(class_folder / "grades_detail.csv")}["dave"]
    assert (row["state"], row["score"], row["score_from"]) == ("released", "12", "teacher")
    assert client.get("/results/edit/zed").status_code == 404
    assert client.post("/results/edit/bob", data={"score": "1", "form_token": "0.1"}).status_code == 403


def test_a_class_zip_uploaded_on_the_page_is_graded_into_the_folder(reviewer, tmp_path):
    import io
    import zipfile

    from starlette.testclient import TestClient

    from fedjava.grading.gradebook import check_gradebook
    from fedjava.grading.rubric import load_rubric
    from fedjava.serve import create_app

    folder = tmp_path / "hw5"
    folder.mkdir()
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("smithalice_101_5001_Solution.java", GOOD)
        archive.writestr("jonesbob_102_5003_Solution.java", BAD)
        archive.writestr("readme.txt", "the class of 5B")
    client = TestClient(create_app(reviewer, load_rubric(), folder, rubric_given=False), headers=SAME_ORIGIN)
    assert "No class graded here yet" in client.get("/results").text
    started = client.post(
        "/batch",
        data={"task": REQUIREMENT, "assignment": "Homework 5", "form_token": form_token(client)},
        files={"class_zip": ("class.zip", zipped.getvalue())},
    )
    done = finished(client, started)
    assert "<h1>Class graded</h1>" in done.text and "Graded 2 of 2 students" in done.text
    assert "Left out (no submission): readme.txt" in done.text
    assert check_gradebook(folder / "grades.csv", "Homework 5") == []
    assert (folder / "grades.csv").read_text().splitlines()[1:] == ["jonesbob,102,,,,10", "smithalice,101,,,,10"]
    listing = client.get("/results").text
    assert "<h1>Homework 5</h1>" in listing and "smithalice_101" in listing
    nothing = client.post("/batch", data={"task": REQUIREMENT, "form_token": form_token(client)})
    assert nothing.status_code == 400 and "choose the class&#39;s zip file" in nothing.text
    no_task = client.post(
        "/batch", data={"form_token": form_token(client)}, files={"class_zip": ("class.zip", zipped.getvalue())}
    )
    assert no_task.status_code == 400 and "give the task" in no_task.text
    bad_zip = finished(
        client,
        client.post(
            "/batch",
            data={"task": REQUIREMENT, "form_token": form_token(client)},
            files={"class_zip": ("class.zip", b"not a zip")},
        ),
    )
    assert bad_zip.status_code == 400 and "not a folder or a zip file" in bad_zip.text


SCREENSHOTS = os.environ.get("FEDJAVA_SCREENSHOTS")
"""A folder to copy the screenshots into (``docs/img`` when the docs' pictures are made again); else tmp only."""


def _shot(browser, tmp_path, name: str) -> None:
    browser.save_screenshot(str(tmp_path / name))
    assert (tmp_path / name).stat().st_size > 10_000, name
    if SCREENSHOTS:
        shutil.copyfile(tmp_path / name, Path(SCREENSHOTS) / name)


def test_in_a_real_browser_the_review_shows_progress_and_the_teacher_edits_and_releases(
    grounded_taught, class_folder, browser, tmp_path
):
    """With a grounded adapter, as the shipped grader is: javac runs on the file sent and confirms its error."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from fedjava.grading.gradebook import read_detail
    from fedjava.reviewer import Reviewer, open_adapter
    from fedjava.serve import LOOPBACK_NAMES, create_app, results_rubric

    slow = SlowReviewer(Reviewer.load(*open_adapter(grounded_taught)))
    app = create_app(slow, results_rubric(class_folder), class_folder, allowed_hosts=LOOPBACK_NAMES, rubric_given=False)
    with serving(app) as url:
        submit_review(browser, url, tmp_path)
        WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.ID, "bar"))
        time.sleep(2.5)  # the page has polled its job at least once
        assert browser.find_element(By.ID, "step").text == "compiling the program and running the task's tests"
        _shot(browser, tmp_path, "serve_progress.png")
        slow.go.set()
        WebDriverWait(browser, 180).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".line.marked"))
        assert browser.find_element(By.CSS_SELECTOR, ".line.marked").get_attribute("data-line") == "3"
        assert browser.find_element(By.CSS_SELECTOR, ".score").text == "Score: 6 / 20"  # the class's rubric
        assert "possible" not in browser.find_element(By.TAG_NAME, "h2").text  # javac confirms it: a finding
        _shot(browser, tmp_path, "serve_review.png")

        browser.get(url + "/results")
        browser.find_element(By.CSS_SELECTOR, '[data-edit="bob"]').click()
        explanation = browser.find_element(By.ID, "explanation-1")
        explanation.clear()
        explanation.send_keys("Line 3 ends without its ';', so javac stops there.")
        browser.find_element(By.ID, "score").send_keys("7.5")
        _shot(browser, tmp_path, "serve_edit.png")
        browser.find_element(By.ID, "release").click()
        WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.ID, "saved"))
        assert "bob: released, edited" in browser.find_element(By.ID, "saved").text
        browser.find_element(By.LINK_TEXT, "bob").click()
        assert browser.find_element(By.CSS_SELECTOR, "[data-field=score]").text == "7.5"
        assert "so javac stops there" in browser.find_element(By.CSS_SELECTOR, "[data-field=explanation-1]").text
    row = {r["student"]: r for r in read_detail(class_folder / "grades_detail.csv")}["bob"]
    assert (row["score"], row["state"], row["edited"]) == ("7.5", "released", "yes")
