"""``fedjava serve``: the page reviews an uploaded or pasted file through the shared review path and marks the
error line; uploads that are too large or not Java text are refused with a message; a grade folder can be
browsed. The last test drives the page in a real headless Chromium (Debian's chromium + chromium-driver,
installed by ``make test``) and saves a screenshot."""

from __future__ import annotations

import html
import shutil
import socket
import threading
import time

import pytest
from tests.conftest import BAD, BAD_ANSWER, GOOD, GOOD_ANSWER, REQUIREMENT

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
    records = {name: {"student": name, "source": f"{name}.java", "code": code, "status": "graded", "answer": answer}
               for name, code, answer in (("alice", GOOD, GOOD_ANSWER), ("bob", BAD, BAD_ANSWER))}
    write_outputs(folder, "Homework 1", load_rubric(), records, set(records), False)
    return folder.root


@pytest.fixture(scope="module")
def client(reviewer, results):
    from starlette.testclient import TestClient

    from fedjava.grading.rubric import load_rubric
    from fedjava.serve import create_app

    return TestClient(create_app(reviewer, load_rubric(), results, max_upload_bytes=20_000))


def test_upload_or_paste_gives_the_feedback_page_with_the_line_marked(client):
    page = client.get("/")
    assert page.status_code == 200 and 'action="/review"' in page.text and "Up to 20 KB" in page.text
    reviewed = client.post("/review", data={"task": REQUIREMENT}, files={"code_file": ("Solution.java", BAD)})
    assert reviewed.status_code == 200
    assert '<div class="line marked" id="L3" data-line="3"><span class="n">3</span><code>        return 2 * x</code>' \
        in reviewed.text and "The return statement on line 3 is missing its semicolon." in reviewed.text
    assert "data-field=\"state\"" not in reviewed.text and 'href="/"' in reviewed.text
    pasted = client.post("/review", data={"task": REQUIREMENT, "code": GOOD})
    assert pasted.status_code == 200 and 'data-field="verdict">NO_ERROR<' in pasted.text
    assert "line marked" not in pasted.text


@pytest.mark.parametrize("form, files, status, message", [
    ({}, {"code_file": ("notes.txt", GOOD)}, 400, "notes.txt: not a .java file"),
    ({}, {"code_file": ("A.java", b"\xca\xfe\xba\xbe\x00\x01")}, 400, "A.java: not a text file"),
    ({}, {"code_file": ("A.java", "caf\xe9 { class }".encode("latin-1"))}, 400, "A.java: not UTF-8 text"),
    ({"code": "def twice(x):\n    return 2 * x\n"}, None, 400, "this does not look like Java source"),
    ({"code": "  "}, None, 400, "no code: paste the Java program or choose a .java file"),
    ({}, {"code_file": ("A.java", "class A {}\n" + "//" * 15_000)}, 413, "the limit is 20 KB"),
    ({"code": GOOD}, {"task_file": ("t.yaml", "requirement: x\nhints: y\n")}, 400, "t.yaml: unknown key 'hints'"),
])
def test_refusals_say_why(client, form, files, status, message):
    response = client.post("/review", data=form, files=files)
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
    for escape in ("../../etc/passwd", "%2e%2e/secret.txt", "..%2fsecret.txt", "feedback/..%2f..%2fsecret.txt",
                   "%2fetc%2fpasswd", "outside.txt"):  # nothing outside the folder, not even through a link
        response = client.get("/results/files/" + escape)
        assert response.status_code == 404 and "not for the page" not in response.text, escape
    bare = TestClient(create_app(reviewer, load_rubric()))
    assert bare.get("/results").status_code == 404 and "start the server with --results DIR" in bare.get("/results").text


def test_student_code_stays_text(client):
    code = BAD.replace("class Solution {", "class Solution { // </code><script>alert(1)</script><b>")
    page = client.post("/review", data={"task": "<i>twice</i>"}, files={"code_file": ("x<y>.java", code)})
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
    assert [_host_name(h) for h in ("127.0.0.1:8765", "[::1]:80", "LocalHost", "::1")] == \
        ["127.0.0.1", "::1", "localhost", "::1"]


def test_serve_checks_before_listening(tmp_path, capsys):
    from fedjava.serve import _is_loopback

    assert main(["serve", "--results", str(tmp_path)]) == 2
    assert "not a fedjava grade output folder" in capsys.readouterr().err
    assert _is_loopback("127.0.0.1") and _is_loopback("::1") and _is_loopback("localhost")
    assert not _is_loopback("0.0.0.0") and not _is_loopback("192.168.1.5")


def _browser() -> tuple[str, str]:
    """Debian's chromium and chromedriver; a clear failure when they are missing (make test installs them)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail("the browser test needs Debian's chromium and chromium-driver: make browser (or, as root, "
                    "apt-get install -y chromium chromium-driver)")
    return chromium, driver


@pytest.fixture
def live_server(reviewer, results):
    """The app on a free 127.0.0.1 port, served by uvicorn in a thread."""
    import uvicorn

    from fedjava.grading.rubric import load_rubric
    from fedjava.serve import LOOPBACK_NAMES, create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(reviewer, load_rubric(), results, allowed_hosts=LOOPBACK_NAMES)  # as fedjava serve makes it
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_in_a_real_browser_the_submitted_file_comes_back_with_its_line_marked(live_server, tmp_path, monkeypatch):
    chromium, chromedriver = _browser()
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not try to download a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    java = tmp_path / "Solution.java"
    java.write_text(BAD)
    options = Options()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1100,1500"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        browser.get(live_server + "/")
        browser.find_element(By.ID, "task").send_keys(REQUIREMENT)
        browser.find_element(By.ID, "code_file").send_keys(str(java))
        browser.find_element(By.ID, "submit").click()
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
    finally:
        browser.quit()
    assert (tmp_path / "review.png").stat().st_size > 10_000
