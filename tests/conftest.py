"""Shared fixtures: offline mode, tiny chat data written to real files, the tiny Qwen3 model."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REQUIREMENT = "Write a static method `int twice(int x)` in class `Solution` that returns two times x."
GOOD = "class Solution {\n    static int twice(int x) {\n        return 2 * x;\n    }\n}\n"
BAD = GOOD.replace("return 2 * x;", "return 2 * x")
GOOD_ANSWER = {"verdict": "NO_ERROR", "errors": [], "score": 10}
BAD_ANSWER = {
    "verdict": "COMPILE_ERROR",
    "errors": [
        {
            "type": "Syntax Error",
            "code": "compiler.err.expected",
            "line": 3,
            "message": "';' expected",
            "explanation": "The return statement on line 3 is missing its semicolon.",
            "fix": "        return 2 * x;",
        }
    ],
    "score": 0,
}


GOOD_EVIDENCE = "Tool results:\njavac: compiles\ntests: 5 of 5 passed"
BAD_EVIDENCE = (
    "Tool results:\njavac: error at line 3: compiler.err.expected: ';' expected\n"
    "tests: not run (the program does not compile)"
)


def make_samples(n: int = 8) -> list[dict]:
    """Alternating correct and broken programs, with tool results in ``meta`` (both prompt modes work)."""
    from fedjava.prompts import build_messages

    out = []
    for i in range(n):
        code, answer, evidence = (GOOD, GOOD_ANSWER, GOOD_EVIDENCE) if i % 2 == 0 else (BAD, BAD_ANSWER, BAD_EVIDENCE)
        out.append({"messages": build_messages(REQUIREMENT, code, answer), "meta": {"evidence": evidence}})
    return out


@pytest.fixture
def data_dir(tmp_path):
    """A data folder with train.jsonl (8 samples) and valid.jsonl (4 samples)."""
    from fedjava.prompts import write_samples

    folder = tmp_path / "data"
    write_samples(make_samples(8), folder / "train.jsonl")
    write_samples(make_samples(4), folder / "valid.jsonl")
    return folder


def tiny_training(data, results) -> list[str]:
    """key=value overrides for seconds-long training of the tiny model on ``data``, written under ``results``."""
    return [
        "model_name=builtin:tiny-qwen3",
        f"data_dir={data}",
        f"results_dir={results}",
        "batch_size=4",
        "gradient_accumulation_steps=1",
        "learning_rate=1e-2",
        "warmup_ratio=0",
        "lr_scheduler=constant",
        "lora_r=8",
        "lora_alpha=16",
        "lora_dropout=0",
        "logging_steps=1",
        "max_seq_length=1024",
    ]


def federated_overrides(data, results, algorithm: str, *extra: str) -> list[str]:
    """tiny_training for a federated run: 2 clients (``data`` was split in 2), 2 rounds of 2 local epochs."""
    return [
        *tiny_training(data, results),
        f"algorithm={algorithm}",
        "num_clients=2",
        "num_rounds=2",
        "local_epochs=2",
        "fedadam_eta=0.05",
        *extra,
    ]


@pytest.fixture
def tiny_overrides(data_dir, tmp_path):
    """key=value overrides for a seconds-long run of the tiny model on the fixture data."""
    return [*tiny_training(data_dir, tmp_path / "results"), "num_epochs=8", "save_strategy=no"]


TINY_ADAPTER = ["model_name=builtin:tiny-qwen3", "lora_r=16", "lora_alpha=32", "lora_dropout=0", "max_seq_length=1024"]


def save_tiny_adapter(folder, overrides=(), teach=(), steps: int = 150):
    """Save a tiny-model LoRA adapter in ``folder``: fresh, or taught the ``teach`` (code, answer) pairs (or (code,
    answer, evidence) triples: the grounded prompt with that tool-results block) by ``steps`` full-batch Adam steps
    (seconds: the model has two layers). Returns the folder."""
    import torch

    from fedjava.config import load_config
    from fedjava.models import load_for_training
    from fedjava.prompts import AnswerOnlyCollator, build_messages, tokenize_samples
    from fedjava.runs import save_final_model

    cfg = load_config(None, [*TINY_ADAPTER, *overrides], check_files=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains fastest on one thread
    try:
        torch.manual_seed(0)
        model, tokenizer = load_for_training(cfg)
        if teach:
            samples = [
                {
                    "messages": build_messages(
                        REQUIREMENT,
                        item[0],
                        item[1],
                        evidence=(item[2:] or [None])[0],
                        quote_lines=cfg.quote_lines,
                        localisation=cfg.localisation,
                    )
                }
                for item in teach
            ]
            features, _ = tokenize_samples(tokenizer, samples, cfg.max_seq_length)
            batch = AnswerOnlyCollator(tokenizer.pad_token_id)(features)
            optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
            model.train()
            for _ in range(steps):
                loss = model(**batch).loss
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        return save_final_model(model, tokenizer, cfg, folder)
    finally:
        torch.set_num_threads(threads)


# Twice with nine tests, and two wrong programs: one passes 7 of them, the other 3 (issue 24: their scores differ).
TWICE9 = (
    "requirement: |\n  "
    + REQUIREMENT
    + "\ntests:\n"
    + "".join(f"  - {{call: Solution.twice({x}), expect: {2 * x}}}\n" for x in range(9))
)
SEVEN = GOOD.replace("return 2 * x;", "return x < 7 ? 2 * x : 2 * x + 1;")
THREE = GOOD.replace("return 2 * x;", "return x < 3 ? 2 * x : x;")


def logic_answer(line: int, message: str) -> dict:
    return {
        "verdict": "LOGIC_ERROR",
        "score": 5,
        "errors": [
            {
                "type": "Logical Error",
                "code": "wrong_output",
                "line": line,
                "message": message,
                "explanation": "The result is wrong for some inputs.",
                "fix": "        return 2 * x;",
            }
        ],
    }


@pytest.fixture(scope="session")
def twice9(tmp_path_factory):
    """The nine-test task file, and the tool results of GOOD, BAD, SEVEN and THREE on it (the real JDK), with the
    localisation a review adds (:func:`fedjava.java.localise.review_evidence`): what a grounded review reads."""
    from fedjava.java.localise import review_evidence
    from fedjava.java.tasks import load_task

    path = tmp_path_factory.mktemp("twice9") / "twice9.yaml"
    path.write_text(TWICE9)
    task = load_task(path, strict=False)
    return path, {
        name: review_evidence(code, task)[0]
        for name, code in (("good", GOOD), ("bad", BAD), ("seven", SEVEN), ("three", THREE))
    }


def built_once(tmp_path_factory, name: str, build) -> Path:
    """``build(folder)`` once for the whole test run: under pytest-xdist every worker has its own session, so the
    first worker to ask builds it under a lock in the run's shared temporary folder and the others reuse it."""
    import shutil

    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # popen-gw0, popen-gw1, ... are folders of the run's one base folder
    folder = root / f"built_{name}"
    with FileLock(str(folder) + ".lock"):
        if not (folder / ".built").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            build(folder)
            (folder / ".built").touch()
    return folder


@pytest.fixture(scope="session")
def grounded_taught(tmp_path_factory, twice9):
    """A grounded tiny-model adapter taught the answers to GOOD, BAD, SEVEN and THREE with their tool results on the
    nine-test task (as the shipped grader reads them), so that grading scores follow the tools."""
    _, evidence = twice9
    teach = [
        (GOOD, GOOD_ANSWER, evidence["good"]),
        (BAD, BAD_ANSWER, evidence["bad"]),
        (SEVEN, logic_answer(3, "Solution.twice(7) returned 15, expected 14"), evidence["seven"]),
        (THREE, logic_answer(3, "Solution.twice(3) returned 3, expected 6"), evidence["three"]),
    ]
    built = built_once(
        tmp_path_factory,
        "grounded_taught",
        lambda folder: save_tiny_adapter(folder / "final_model", ["prompt_mode=grounded"], teach=teach, steps=200),
    )
    return built / "final_model"


@pytest.fixture(scope="session")
def taught_adapter(tmp_path_factory):
    """A tiny-model adapter (code_only) that answers BAD with BAD_ANSWER and GOOD with GOOD_ANSWER."""
    built = built_once(
        tmp_path_factory,
        "taught",
        lambda folder: save_tiny_adapter(folder / "final_model", teach=[(BAD, BAD_ANSWER), (GOOD, GOOD_ANSWER)]),
    )
    return built / "final_model"


def interruptible() -> None:
    """In the child before exec: Ctrl-C as a terminal gives it. A shell's background job (``make test &``) starts
    with SIGINT ignored, which Python then keeps ignoring, so the command would never see the test's Ctrl-C."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


class CountingReviewer:
    """The real reviewer, counting its reviews: a refused request to ``fedjava serve`` must never reach it."""

    def __init__(self, inner):
        self.inner, self.reviews = inner, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def review(self, *args, **kwargs):
        self.reviews += 1
        return self.inner.review(*args, **kwargs)


def form_token(client) -> str:
    """The token in the hidden field of ``fedjava serve``'s form (from a test client), as a browser sends it back."""
    import re

    return re.search(r'name="form_token" value="([^"]+)"', client.get("/").text)[1]


def finished(client, response, seconds: float = 300):
    """The page a review or class job of ``fedjava serve`` ends on, following its progress page as a browser does
    (``response``: the answer to the form, redirected to the job's page)."""
    import time

    deadline = time.monotonic() + seconds
    while "data-progress=" in response.text and time.monotonic() < deadline:
        time.sleep(0.2)
        response = client.get(response.url)
    return response


# ---------------------------------------------------------------- real server and client processes (test_distributed*)


@pytest.fixture
def processes():
    """Start fedjava processes; whatever happens, end them all and check nothing is left."""
    from deployment import Fedjava, alive

    started: list[Fedjava] = []
    ports: list[int] = []

    def start(folder: Path, name: str, args: list[str], env: dict[str, str] | None = None) -> Fedjava:
        proc = Fedjava(folder, name, args, env)
        started.append(proc)
        return proc

    start.ports = ports  # type: ignore[attr-defined]
    yield start
    for proc in started:
        proc.end()
    time.sleep(0.5)
    leftovers = [pid for proc in started for pid in proc.tree if alive(pid)]
    assert not leftovers, f"processes left running: {leftovers}"
    for port in ports:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"something still listens on port {port}"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Data split for 2 clients, a CA with a server certificate for localhost, registered client keys,
    an unregistered key and a second, unrelated CA."""
    from fedjava.dataset.split import run_split
    from fedjava.federated.certs import make_client_keys, make_server_certificates
    from fedjava.prompts import write_samples

    root = tmp_path_factory.mktemp("distributed")
    data = root / "data"
    write_samples(make_samples(8), data / "train.jsonl")
    write_samples(make_samples(4), data / "valid.jsonl")
    run_split(data, 2)
    make_server_certificates(root / "certs", ["localhost"])
    make_server_certificates(root / "other_ca", ["localhost"])
    for name in ("client0", "client1", "stranger"):
        make_client_keys(root / "keys", name)
    (root / "registered").mkdir()
    for name in ("client0", "client1"):
        (root / "registered" / f"{name}.pub").write_bytes((root / "keys" / f"{name}.pub").read_bytes())
    return root
