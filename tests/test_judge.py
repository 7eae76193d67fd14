"""The optional LLM judge against a real local HTTP server that speaks the chat/completions protocol."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tests.conftest import BAD, BAD_ANSWER, GOOD, REQUIREMENT

from fedjava.evaluation import judge as judge_module
from fedjava.evaluation.judge import JudgeClient, JudgeSettings, endpoint, parse_judge_reply
from fedjava.evaluation.metrics import compute_metrics

MODEL = "judge-7b"
KEY = "sekret-123"
CHECK_TEXT = "Reply with: SCORE: 10"

# The reply the server gives for each case; the case is named in the sample's task text.
REPLIES = {
    "case-good": (200, "SCORE: 10\nRATIONALE: The program is correct and the answer says so."),
    "case-fancy": (200, "<think>Maybe SCORE: 9?</think>\n**Score:** 2/10\n**Rationale:** It finds no error."),
    "case-malformed": (200, "I would say this explanation is pretty decent overall."),
    "case-error": (500, "upstream model crashed"),
    "case-flaky": (429, "SCORE: 4\nRATIONALE: No error found, but it is a syntax error."),
    "case-legacy": (200, "SCORE: 0\nRATIONALE: Misses the syntax error."),
    "case-html": (200, "<html>proxy login</html>"),  # sent as the raw body, not JSON
    "case-nochoices": (200, ""),  # a JSON body without choices
}


class FakeJudge:
    """A chat/completions endpoint on 127.0.0.1 that records and checks every request."""

    def __init__(self, require_key: str | None = KEY):
        self.requests: list[dict] = []
        self.problems: list[str] = []
        self.require_key = require_key
        self.lock = threading.Lock()
        self.seen: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def _send(self, status, payload, headers=()):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                auth = self.headers.get("Authorization")
                with server.lock:
                    server.requests.append({"path": self.path, "auth": auth, "body": body})
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                if server.require_key and auth != f"Bearer {server.require_key}":
                    return self._send(401, {"error": {"message": "Incorrect API key provided"}})
                status, text = server.answer(body)
                if "proxy login" in text:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    return self.wfile.write(text.encode())
                if status == 200 and not text:
                    return self._send(200, {"object": "chat.completion"})
                if status == 200:
                    return self._send(
                        200,
                        {
                            "id": "x",
                            "object": "chat.completion",
                            "choices": [
                                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                            ],
                        },
                    )
                return self._send(status, {"error": {"message": text}}, headers=[("Retry-After", "0")])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, body: dict) -> tuple[int, str]:
        if body.get("model") != MODEL:
            self.problems.append(f"model {body.get('model')!r}")
        if body.get("temperature") != 0:
            self.problems.append(f"temperature {body.get('temperature')!r}")
        messages = body.get("messages") or []
        prompt = "\n".join(m.get("content", "") for m in messages)
        if messages[-1]["content"] == CHECK_TEXT:
            return 200, "SCORE: 10"
        case = next((c for c in REPLIES if c in prompt), None)
        if case is None:
            self.problems.append("a judge request for no known case")
            return 400, "unknown case"
        if "SCORE: <integer 0-10>" not in messages[0]["content"]:
            self.problems.append(f"{case}: the system turn lacks the reply format")
        # the judge must see the code with numbered lines and the reference answer
        if "3 |         return 2 * x" not in prompt:
            self.problems.append(f"{case}: numbered code missing")
        reference = {"case-good": "there is no error", "case-legacy": "1) Syntax Error: the return lacks"}.get(
            case, "The return statement on line 3 is missing its semicolon."
        )
        if "Reference answer:" not in prompt or reference not in prompt:
            self.problems.append(f"{case}: reference missing")
        if '"verdict": "NO_ERROR"' not in prompt:
            self.problems.append(f"{case}: the model's prediction is missing")
        with self.lock:
            self.seen[case] = self.seen.get(case, 0) + 1
            count = self.seen[case]
        status, text = REPLIES[case]
        if case == "case-flaky" and count >= 2:  # rate limited once, then fine
            return 200, text
        return status, text

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_judge(monkeypatch):
    monkeypatch.setattr(judge_module, "BACKOFF_SECONDS", 0.0)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    server = FakeJudge()
    yield server
    server.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- pieces


def test_parse_judge_reply_is_strict_but_robust():
    ok = parse_judge_reply("SCORE: 7\nRATIONALE: Right problem, line off by one.")
    assert (ok.score, ok.rationale, ok.error) == (7, "Right problem, line off by one.", None)
    assert parse_judge_reply("**score** = 9/10\n- rationale: fine").score == 9
    assert parse_judge_reply("<think>SCORE: 1</think>SCORE: 8").score == 8
    assert parse_judge_reply('Here: {"score": 6, "rationale": "partly"}').score == 6
    assert parse_judge_reply("SCORE: 5").rationale == ""
    for text, reason in (
        ("SCORE: 11", "outside"),
        ("SCORE: 7.5", "not an integer"),
        ("SCORE: -1", "outside"),
        ("SCORE: 3\nSCORE: 5", "several"),
        ("", "empty"),
        (None, "empty"),
        ("Looks good to me.", "no 'SCORE"),
        ('{"score": true}', "not a number"),
    ):
        result = parse_judge_reply(text)
        assert result.score is None and reason in result.error, (text, result)
    assert parse_judge_reply("garbage").as_dict()["raw"] == "garbage"


def test_endpoint_url_forms():
    assert endpoint("http://h:8000/v1") == "http://h:8000/v1/chat/completions"
    assert endpoint("http://h:8000/v1/") == "http://h:8000/v1/chat/completions"
    assert endpoint("https://api.x.com/v1/chat/completions") == "https://api.x.com/v1/chat/completions"
    with pytest.raises(judge_module.JudgeError, match="http:// or https://"):
        endpoint("localhost:8000")


def test_client_retries_then_reports_not_scored(fake_judge, monkeypatch):
    monkeypatch.delenv("FEDJAVA_TEST_KEY", raising=False)
    client = JudgeClient(JudgeSettings(fake_judge.url, MODEL, key_env="FEDJAVA_TEST_KEY"))
    fake_judge.require_key = None
    client.check()
    assert fake_judge.requests[0]["auth"] is None  # no key variable set: no Authorization header
    pred = json.dumps({"verdict": "NO_ERROR", "errors": [], "score": 10})
    flaky = client.judge(REQUIREMENT + " case-flaky", BAD, BAD_ANSWER, "", pred)
    assert flaky.score == 4 and fake_judge.seen["case-flaky"] == 2
    failed = client.judge(REQUIREMENT + " case-error", BAD, BAD_ANSWER, "", pred)
    assert failed.score is None and "HTTP 500" in failed.error and "upstream model crashed" in failed.error
    assert fake_judge.seen["case-error"] == judge_module.RETRIES + 1
    for case, reason in (("case-html", "the reply is not JSON"), ("case-nochoices", "not an OpenAI chat completion")):
        result = client.judge(f"{REQUIREMENT} {case}", BAD, BAD_ANSWER, "", pred)
        assert result.score is None and reason in result.error and fake_judge.seen[case] == 1
    empty = client.judge(REQUIREMENT + " case-good", GOOD, None, "", "  ")
    assert empty.score == 0 and "case-good" not in fake_judge.seen  # an empty answer is not sent
    assert not fake_judge.problems


# ---------------------------------------------------------------- through fedjava evaluate


@pytest.fixture
def judge_data(data_dir):
    from fedjava.prompts import build_messages, write_samples

    ok = {"verdict": "NO_ERROR", "errors": [], "score": 10}
    samples = [
        {
            "messages": build_messages(
                f"{REQUIREMENT} ({case})",
                GOOD if case == "case-good" else BAD,
                ok if case == "case-good" else BAD_ANSWER,
            ),
            "meta": {"task_id": "twice"},
        }
        for case in ("case-good", "case-fancy", "case-malformed", "case-error", "case-flaky")
    ]
    samples.append(
        {
            "messages": build_messages(f"{REQUIREMENT} (case-legacy)", BAD)
            + [{"role": "assistant", "content": "1) Syntax Error: the return lacks its semicolon."}]
        }
    )
    write_samples(samples, data_dir / "test.jsonl")
    return data_dir


def test_evaluate_with_judge_end_to_end(fake_judge, judge_data, tiny_overrides, tmp_path, monkeypatch, capsys):
    from fedjava.cli import main

    monkeypatch.setenv("FEDJAVA_TEST_KEY", KEY)
    code = main(
        [
            "evaluate",
            "--majority",
            "--no-fix-check",
            "--judge-url",
            fake_judge.url,
            "--judge-model",
            MODEL,
            "--judge-key-env",
            "FEDJAVA_TEST_KEY",
            *tiny_overrides,
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert not fake_judge.problems, fake_judge.problems
    assert all(r["auth"] == f"Bearer {KEY}" for r in fake_judge.requests)
    assert fake_judge.requests[0]["body"]["messages"][-1]["content"] == CHECK_TEXT  # checked first

    folder = tmp_path / "results" / "majority"
    rows = [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]
    scores = [r["judge"]["score"] for r in rows]
    assert scores == [10, 2, None, None, 4, 0]
    assert rows[0]["judge"]["rationale"] == "The program is correct and the answer says so."
    assert "no 'SCORE" in rows[2]["judge"]["error"] and "pretty decent" in rows[2]["judge"]["raw"]
    assert "HTTP 500" in rows[3]["judge"]["error"]
    assert rows[5]["judge"] == {"score": 0, "rationale": "Misses the syntax error."}  # the legacy sample

    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["judge_score"] == pytest.approx(4.0)
    assert metrics["judge"]["scored"] == 4 and metrics["judge"]["not_scored"] == 2
    assert metrics["judge"]["model"] == MODEL and metrics["judge"]["url"].endswith("/v1/chat/completions")
    low, high = metrics["ci"]["judge_score"]
    assert 0 <= low <= 4.0 <= high <= 10 and low < high
    assert "sekret" not in (folder / "metrics.json").read_text()
    assert "judge score (0-10)" in captured.out and "4 scored, 2 not scored" in captured.out
    assert "not scored" in captured.err  # the warning names the reasons

    # compare shows the judge row: the value for the judged run, '-' for a run without a judge
    (tmp_path / "results" / "base").mkdir()
    (tmp_path / "results" / "base" / "metrics.json").write_text(
        json.dumps({"run": "base", **compute_metrics([BAD_ANSWER], [None], n_boot=10)})
    )
    assert main(["compare", str(tmp_path / "results")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["metric", "majority", "base"]
    line = next(x for x in out.splitlines() if x.startswith("judge score"))
    assert line.split()[3] == "4.000" and line.split()[-1] == "-"
    md = (tmp_path / "results" / "report.md").read_text()
    assert f"| judge score (0-10) | 4.000 [{low:.3f}, {high:.3f}] | - |" in md


def test_judge_problems_stop_before_the_model_loads(fake_judge, eval_free_data, tiny_overrides, monkeypatch, capsys):
    import fedjava.models
    from fedjava.cli import main

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the judge was checked")

    monkeypatch.setattr(fedjava.models, "load_base_model", no_model)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    base = ["evaluate", "--base", "--judge-model", MODEL, *tiny_overrides]

    # the server wants a key and none is set: one clear message (a full endpoint URL is accepted)
    assert main([*base, "--judge-url", fake_judge.url + "/chat/completions"]) == 2
    err = capsys.readouterr().err
    assert "refused the request (HTTP 401: Incorrect API key provided)" in err and "OPENAI_API_KEY is not set" in err

    fake_judge.require_key = None
    assert main([*base, "--judge-url", fake_judge.url.replace("/v1", "/nope")]) == 2
    assert "HTTP 404" in capsys.readouterr().err

    assert main([*base, "--judge-url", f"http://127.0.0.1:{_closed_port()}/v1"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the judge" in err and f"tried {judge_module.RETRIES + 1} times" in err

    assert main(["evaluate", "--base", "--judge-url", fake_judge.url, *tiny_overrides]) == 2
    assert "--judge-url and --judge-model go together" in capsys.readouterr().err


@pytest.fixture
def eval_free_data(data_dir):
    """A test split (the judge check must fail before it is used)."""
    from fedjava.prompts import build_messages, write_samples

    write_samples([{"messages": build_messages(REQUIREMENT, BAD, BAD_ANSWER)}], data_dir / "test.jsonl")
    return data_dir


# ---------------------------------------------------------------- where the key may go


class Recorder:
    """An HTTP server on 127.0.0.1 that records each request's Authorization header and answers with ``reply``:
    (status, headers, body). ``url`` names it by ``host``, so 'localhost' makes another origin than '127.0.0.1'."""

    def __init__(self, reply, host: str = "127.0.0.1"):
        self.seen: list[tuple[str, str, str | None]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                recorder.seen.append((self.command, self.path, self.headers.get("Authorization")))
                status, headers, body = reply(self.path)
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://{host}:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _chat_reply(path: str):
    body = json.dumps({"choices": [{"message": {"role": "assistant", "content": "SCORE: 10"}}]}).encode()
    return 200, [("Content-Type", "application/json")], body


@pytest.fixture
def elsewhere(monkeypatch):
    """A second server, reached as 'localhost' on its own port: another origin than the judge at 127.0.0.1."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("FEDJAVA_TEST_KEY", KEY)
    server = Recorder(_chat_reply, host="localhost")
    yield server
    server.close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_the_key_never_follows_a_redirect_to_another_host(status, elsewhere):
    judge = Recorder(lambda path: (status, [("Location", elsewhere.url + "/chat/completions")], b""))
    try:
        client = JudgeClient(JudgeSettings(judge.url, MODEL, key_env="FEDJAVA_TEST_KEY"))
        with pytest.raises(judge_module.JudgeError) as info:
            client.check()
    finally:
        judge.close()
    assert judge.seen == [("POST", "/v1/chat/completions", f"Bearer {KEY}")]  # 127.0.0.1 is this machine
    assert elsewhere.seen == []  # the other origin got nothing, key or not
    message = str(info.value)
    assert f"HTTP {status}: it redirects to {elsewhere.url}/chat/completions" in message
    assert "redirects are not followed" in message and "\n" not in message


def test_a_redirect_stops_fedjava_evaluate_before_the_model_loads(
    elsewhere, eval_free_data, tiny_overrides, monkeypatch, capsys
):
    import fedjava.models
    from fedjava.cli import main

    monkeypatch.setattr(fedjava.models, "load_base_model", lambda *a, **k: pytest.fail("the model was loaded"))
    judge = Recorder(lambda path: (302, [("Location", elsewhere.url + "/chat/completions")], b""))
    try:
        code = main(
            [
                "evaluate",
                "--base",
                "--judge-url",
                judge.url,
                "--judge-model",
                MODEL,
                "--judge-key-env",
                "FEDJAVA_TEST_KEY",
                *tiny_overrides,
            ]
        )
    finally:
        judge.close()
    assert code == 2 and "redirects are not followed" in capsys.readouterr().err
    assert elsewhere.seen == []


def test_the_key_goes_over_plain_http_only_to_this_machine(monkeypatch, capsys, eval_free_data, tiny_overrides):
    import fedjava.models
    from fedjava.cli import main

    monkeypatch.setenv("FEDJAVA_TEST_KEY", KEY)

    def client(url: str, **kwargs) -> JudgeClient:
        return JudgeClient(JudgeSettings(url, MODEL, key_env="FEDJAVA_TEST_KEY", **kwargs))

    for url in (
        "http://judge.example.org/v1",
        "http://10.1.2.3:8000/v1",
        "http://[fe80::1]:8000/v1",
        "http://127.0.0.1.example.org/v1",
        "http://localhost.example.org/v1",
    ):
        with pytest.raises(judge_module.JudgeError, match="--judge-allow-http") as info:
            client(url)
        assert "over plain http to another machine" in str(info.value) and "$FEDJAVA_TEST_KEY" in str(info.value)
        assert client(url, allow_http=True).key == KEY  # the user's explicit choice
    for url in (
        "http://127.0.0.1:8000/v1",
        "http://127.8.9.10/v1",
        "http://localhost:8000/v1",
        "http://LOCALHOST/v1",
        "http://[::1]:8000/v1",
        "https://judge.example.org/v1",
    ):
        assert client(url).key == KEY
    monkeypatch.delenv("FEDJAVA_TEST_KEY")
    assert client("http://10.1.2.3:8000/v1").key == ""  # no key, nothing to protect: a LAN judge without a key works

    # through the command line: one line, exit code 2, nothing sent, no model loaded
    monkeypatch.setenv("OPENAI_API_KEY", "sk-stays-home-42")
    monkeypatch.setattr(fedjava.models, "load_base_model", lambda *a, **k: pytest.fail("the model was loaded"))
    assert (
        main(["evaluate", "--base", "--judge-url", "http://10.1.2.3:8000/v1", "--judge-model", MODEL, *tiny_overrides])
        == 2
    )
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--judge-allow-http" in errors[0] and "$OPENAI_API_KEY" in errors[0]
    assert "sk-stays-home" not in errors[0]


def test_a_loopback_judge_is_reached_directly_never_through_a_proxy(elsewhere, monkeypatch):
    judge = Recorder(_chat_reply)
    monkeypatch.setenv("http_proxy", elsewhere.url.rsplit("/", 1)[0])  # a proxy would see the key in clear
    monkeypatch.setenv("HTTP_PROXY", elsewhere.url.rsplit("/", 1)[0])
    monkeypatch.delenv("NO_PROXY")
    monkeypatch.delenv("no_proxy")
    try:
        JudgeClient(JudgeSettings(judge.url, MODEL, key_env="FEDJAVA_TEST_KEY")).check()
    finally:
        judge.close()
    assert judge.seen == [("POST", "/v1/chat/completions", f"Bearer {KEY}")] and elsewhere.seen == []
