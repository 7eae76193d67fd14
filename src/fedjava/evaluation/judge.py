"""The optional LLM judge: an OpenAI-compatible chat endpoint scores each answer's explanation.

``fedjava evaluate ... --judge-url URL --judge-model NAME`` sends, for every sample, one request
``POST {URL}/chat/completions`` (a URL that already ends in ``/chat/completions`` is used as it is)
with ``temperature`` 0. The API key is read from an environment variable (``--judge-key-env``,
default ``OPENAI_API_KEY``) and sent as ``Authorization: Bearer <key>`` only when that variable is set;
the key is never written anywhere. Only the standard library is used (``urllib``).

The key goes only where it cannot be read on the way (:func:`check_key_transport`): over https, or over
plain http to this machine (127.0.0.0/8, ::1, localhost; never through a proxy); any other http URL is
refused unless ``--judge-allow-http``. Redirects are never followed, so the key never reaches a host other
than the one in ``--judge-url``.

The judge sees the task, the student's code with numbered lines, the reference answer and the model's
answer, and scores the **explanation only** (not the JSON format, not the score field) on this scale:

====  ==================================================================================
10    names the same problem as the reference, at the right place, accurately and clearly
      (or, for a correct program, rightly says there is no error)
7-9   the right problem, with minor imprecision (a line off, vague or incomplete wording)
4-6   partly right: the right place but a wrong reason, or a related but different problem
1-3   mostly wrong, but mentions something relevant to the real problem
0     wrong, missing or unreadable; an error claimed in a correct program; no error found in a
      program that has one
====  ==================================================================================

The judge must reply with exactly two lines::

    SCORE: <integer 0-10>
    RATIONALE: <one sentence>

:func:`parse_judge_reply` reads the reply robustly: reasoning in ``<think>...</think>`` is ignored,
markdown emphasis and case do not matter, ``7/10`` is read as 7, and a JSON object
``{"score": 7, "rationale": "..."}`` is accepted too. A reply without exactly one score, a score that
is not an integer, or one outside 0-10 is **not scored** (kept with the reason, never a crash), and so
is a request that still fails after the retries. An empty model answer gets 0 without a request.

Requests time out (``--judge-timeout``, 60 s); 429, 5xx, time-outs and connection errors are retried
3 times with exponential backoff (1, 2, 4 s; a ``Retry-After`` header up to 30 s is honoured).
:meth:`JudgeClient.check` sends one small request before the evaluation starts, so an unreachable
judge, a refused key or a wrong URL or model name stop the run with one clear message
(:class:`JudgeError`) before any model is loaded.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any
from urllib.parse import urlsplit

from fedjava.errors import UserError
from fedjava.evaluation.parse import json_objects
from fedjava.prompts import number_lines

SCORE_MIN, SCORE_MAX = 0, 10
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
DEFAULT_TIMEOUT = 60.0
RETRIES = 3
BACKOFF_SECONDS = 1.0
MAX_RETRY_AFTER = 30.0
MAX_ANSWER_CHARS = 6000
RETRYABLE_STATUS = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))

JUDGE_SYSTEM = (
    "You grade explanations written by an automatic Java code error evaluator for a student's program. "
    "You get the programming task, the student's code with numbered lines, the reference answer "
    "(what is really wrong, or that nothing is) and the evaluator's answer. Score ONLY the evaluator's "
    "explanation of the problem: does it identify the same problem as the reference, at the right place, "
    "accurately and clearly? Ignore formatting, JSON syntax and the evaluator's own score field.\n"
    "Scale (integer 0-10):\n"
    "10 = the same problem as the reference, at the right place, accurate and clear (or, for a correct "
    "program, it rightly says there is no error);\n"
    "7-9 = the right problem with minor imprecision (a line off, vague or incomplete wording);\n"
    "4-6 = partly right: the right place but a wrong reason, or a related but different problem;\n"
    "1-3 = mostly wrong, but mentions something relevant to the real problem;\n"
    "0 = wrong, missing or unreadable; an error claimed in a correct program; or no error found in a "
    "program that has one.\n"
    "Reply with exactly two lines and nothing else:\n"
    "SCORE: <integer 0-10>\n"
    "RATIONALE: <one sentence>"
)


class JudgeError(UserError):
    """The judge cannot be used (unreachable, key refused, wrong URL or model): one clear sentence."""


class JudgeRequestError(Exception):
    """One judge request failed (after the retries, where they apply)."""

    def __init__(self, message: str, status: int | None = None, unreachable: bool = False):
        super().__init__(message)
        self.status = status  # the HTTP status of an error reply
        self.unreachable = unreachable  # no reply at all (refused, reset, timed out)


@dataclass
class JudgeSettings:
    url: str
    model: str
    key_env: str = DEFAULT_KEY_ENV
    timeout: float = DEFAULT_TIMEOUT
    retries: int = RETRIES
    backoff: float | None = None  # None: BACKOFF_SECONDS
    workers: int = 4
    allow_http: bool = False  # send the key over plain http to another machine (--judge-allow-http)


@dataclass
class JudgeResult:
    score: int | None
    rationale: str
    error: str | None = None  # why the sample is not scored
    raw: str | None = None  # the judge's reply, kept when it could not be read

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"score": self.score, "rationale": self.rationale}
        if self.error:
            out["error"] = self.error
        if self.raw is not None and self.score is None:
            out["raw"] = self.raw[:1000]
        return out


def endpoint(url: str) -> str:
    """The chat/completions URL for a base URL (``http://host:8000/v1``) or a full endpoint URL."""
    url = url.strip()
    if not re.match(r"^https?://[^/\s]+", url):
        raise JudgeError(
            f"--judge-url {url!r}: expected an http:// or https:// URL, "
            "e.g. http://localhost:8000/v1 or https://api.openai.com/v1"
        )
    url = url.rstrip("/")
    return url if url.endswith("/chat/completions") else url + "/chat/completions"


def is_loopback(host: str) -> bool:
    """True for a name or address of this machine only: localhost, 127.0.0.0/8, ::1 (also IPv4-mapped)."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def check_key_transport(url: str, key_env: str, allow_http: bool) -> None:
    """Refuse to send an API key in clear text over the network: anyone on the way could read and reuse it."""
    parts = urlsplit(url)
    if parts.scheme == "https" or allow_http or is_loopback(parts.hostname or ""):
        return
    raise JudgeError(
        f"--judge-url {url}: refusing to send the API key in ${key_env} over plain http to "
        f"another machine ({parts.hostname}), where anyone on the way could read it; use an https:// "
        "URL, or pass --judge-allow-http to send it anyway (or --judge-key-env '' to send no key)"
    )


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """No redirect is followed: the request, and the key in it, goes to --judge-url and nowhere else (urllib
    would otherwise resend the Authorization header to whatever host the Location names)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError for the 3xx reply


def _opener(url: str) -> urllib.request.OpenerDirector:
    handlers: list[urllib.request.BaseHandler] = [_RefuseRedirects()]
    if is_loopback(urlsplit(url).hostname or ""):
        handlers.append(urllib.request.ProxyHandler({}))  # an http_proxy would carry the key off this machine
    return urllib.request.build_opener(*handlers)


# ---------------------------------------------------------------- the reply


_THINK_RE = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_SCORE_RE = re.compile(
    r"^[\s>*_#`-]*score[\s*_`]*[:=][\s*_`]*(-?\d+(?:\.\d+)?)(\s*/\s*10\b)?", re.IGNORECASE | re.MULTILINE
)
_RATIONALE_RE = re.compile(r"^[\s>*_#`-]*rationale[\s*_`]*[:=][\s*_`]*(.*)", re.IGNORECASE | re.MULTILINE | re.DOTALL)


def _score_value(value: Any) -> tuple[int | None, str | None]:
    if isinstance(value, bool):
        return None, "score is not a number"
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None, f"score {value!r} is not a number"
    if not isinstance(value, (int, float)):
        return None, "score is not a number"
    if float(value) != int(value):
        return None, f"score {value} is not an integer"
    if not SCORE_MIN <= int(value) <= SCORE_MAX:
        return None, f"score {int(value)} is outside {SCORE_MIN}-{SCORE_MAX}"
    return int(value), None


def _from_json(text: str) -> JudgeResult | None:
    for obj in json_objects(text):
        if isinstance(obj, dict) and "score" in obj:
            score, error = _score_value(obj["score"])
            rationale = str(obj.get("rationale", obj.get("reason", "")) or "").strip()
            return JudgeResult(score, rationale, error, None if score is not None else text)
    return None


def parse_judge_reply(text: Any) -> JudgeResult:
    """The score and rationale in a judge's reply; ``score`` None (with ``error``) when unreadable."""
    if not isinstance(text, str) or not text.strip():
        return JudgeResult(None, "", "empty judge reply", text if isinstance(text, str) else None)
    visible = _THINK_RE.sub("", text).strip()
    matches = _SCORE_RE.findall(visible)
    if not matches:
        found = _from_json(visible)
        if found is not None:
            return found
        return JudgeResult(None, "", "no 'SCORE: <0-10>' line in the judge reply", text)
    values = {m[0] for m in matches}
    if len(values) > 1:
        return JudgeResult(None, "", f"several different scores in the judge reply ({', '.join(sorted(values))})", text)
    score, error = _score_value(matches[0][0])
    rationale_match = _RATIONALE_RE.search(visible)
    rationale = ""
    if rationale_match:
        rationale = " ".join(rationale_match.group(1).replace("*", " ").split())[:500]
    return JudgeResult(score, rationale, error, None if score is not None else text)


# ---------------------------------------------------------------- the prompt


def _reference_text(reference: dict[str, Any] | None, reference_text: str) -> str:
    """The reference answer as plain lines (a legacy free-text reference is shown as it is)."""
    if reference is None:
        return reference_text.strip()
    if not reference["errors"]:
        return f"Verdict: {reference['verdict']} (the program is correct; there is no error)."
    lines = [f"Verdict: {reference['verdict']}"]
    for i, e in enumerate(reference["errors"], 1):
        where = f"line {e['line']}" if e.get("line") is not None else "line not given"
        lines.append(f"Error {i}: {e.get('type') or 'error'} ({e.get('code') or '-'}) at {where}")
        for key in ("message", "explanation", "fix"):
            if e.get(key):
                lines.append(f"  {key}: {e[key]}")
    return "\n".join(lines)


def judge_messages(
    task: str, code: str, reference: dict[str, Any] | None, reference_text: str, prediction: str
) -> list[dict[str, str]]:
    """The judge's chat: the scale and reply format as system turn, the case as user turn."""
    answer = prediction.strip()
    if len(answer) > MAX_ANSWER_CHARS:
        answer = answer[:MAX_ANSWER_CHARS] + "\n[... answer cut here ...]"
    user = (
        f"Task:\n{task.strip()}\n\n"
        f"Student code:\n{number_lines(code)}\n\n"
        f"Reference answer:\n{_reference_text(reference, reference_text)}\n\n"
        f"Evaluator's answer (score its explanation):\n{answer}"
    )
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


# ---------------------------------------------------------------- the client


class JudgeClient:
    """A minimal OpenAI-compatible chat client with time-outs and retries (standard library only)."""

    def __init__(self, settings: JudgeSettings, sleep: Callable[[float], None] = time.sleep):
        if not settings.model.strip():
            raise JudgeError("--judge-model must name the judge model (e.g. gpt-4o-mini)")
        if settings.timeout <= 0:
            raise JudgeError("--judge-timeout must be more than 0 seconds")
        self.settings = settings
        self.url = endpoint(settings.url)
        self.key = os.environ.get(settings.key_env, "") if settings.key_env else ""
        if self.key:
            check_key_transport(self.url, settings.key_env, settings.allow_http)
        self._sleep = sleep
        self._opener = _opener(self.url)

    @property
    def backoff(self) -> float:
        return BACKOFF_SECONDS if self.settings.backoff is None else self.settings.backoff

    def _post_once(self, body: bytes) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        if self.key:  # an unredirected header: urllib never copies it onto a redirected request
            request.add_unredirected_header("Authorization", f"Bearer {self.key}")
        with self._opener.open(request, timeout=self.settings.timeout) as response:
            raw = response.read()
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise JudgeRequestError(f"the reply is not JSON: {raw[:200]!r}") from exc
        if not isinstance(data, dict):
            raise JudgeRequestError(f"the reply is not a JSON object: {raw[:200]!r}")
        return data

    def chat(self, messages: list[dict[str, str]], **extra: Any) -> str:
        """The content of the first choice. Raises JudgeRequestError when no usable reply comes."""
        payload = {"model": self.settings.model, "messages": messages, "temperature": 0, **extra}
        body = json.dumps(payload).encode("utf-8")
        attempt = 0
        while True:
            delay: float | None = None
            try:
                data = self._post_once(body)
                break
            except urllib.error.HTTPError as exc:
                if 300 <= exc.code < 400:
                    raise JudgeRequestError(_redirect_detail(exc), exc.code) from exc
                detail = _error_detail(exc)
                if exc.code not in RETRYABLE_STATUS or attempt >= self.settings.retries:
                    raise JudgeRequestError(f"HTTP {exc.code}{detail}", exc.code) from exc
                delay = _retry_after(exc)
            except (urllib.error.URLError, HTTPException, OSError) as exc:  # refused, reset, time-out
                if attempt >= self.settings.retries:
                    reason = getattr(exc, "reason", exc)
                    raise JudgeRequestError(str(reason) or type(exc).__name__, unreachable=True) from exc
            wait = self.backoff * (2**attempt)
            self._sleep(max(wait, delay or 0.0))
            attempt += 1
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            if isinstance(data.get("error"), dict):
                raise JudgeRequestError(f"error reply: {data['error'].get('message', data['error'])}") from exc
            raise JudgeRequestError("not an OpenAI chat completion (no choices[0].message.content)") from exc
        return content if isinstance(content, str) else ""

    def check(self) -> None:
        """One small request: raise JudgeError now if the judge cannot be used at all."""
        where = f"the judge at {self.url} (model {self.settings.model})"
        try:
            self.chat([{"role": "user", "content": "Reply with: SCORE: 10"}])
        except JudgeRequestError as exc:
            if exc.status in (401, 403):
                if self.key:
                    hint = f"check the key in ${self.settings.key_env}"
                else:
                    hint = f"${self.settings.key_env} is not set; set it or name another with --judge-key-env"
                raise JudgeError(f"{where} refused the request ({exc}): {hint}") from exc
            if exc.status == 404:
                raise JudgeError(
                    f"{where} answered {exc}: check --judge-url (the API base, e.g. "
                    "http://localhost:8000/v1) and --judge-model"
                ) from exc
            if exc.unreachable:
                raise JudgeError(
                    f"cannot reach {where}: {exc} (tried {self.settings.retries + 1} times; "
                    "is the server running and --judge-url right?)"
                ) from exc
            raise JudgeError(f"{where} cannot be used: {exc}") from exc

    def judge(
        self, task: str, code: str, reference: dict[str, Any] | None, reference_text: str, prediction: str
    ) -> JudgeResult:
        """Score one answer's explanation; never raises for a failed request or an unreadable reply."""
        if not prediction.strip():
            return JudgeResult(0, "empty answer (scored 0 without asking the judge)")
        try:
            reply = self.chat(judge_messages(task, code, reference, reference_text, prediction))
        except JudgeRequestError as exc:
            reason = f"no reply ({exc})" if exc.unreachable else str(exc)
            return JudgeResult(None, "", f"judge request failed: {reason}")
        return parse_judge_reply(reply)

    def judge_all(
        self,
        cases: list[tuple[str, str, dict[str, Any] | None, str, str]],
        progress: Callable[[int, int], None] | None = None,
    ) -> list[JudgeResult]:
        """:meth:`judge` for every ``(task, code, reference, reference_text, prediction)``, in order."""
        results: list[JudgeResult] = []
        with ThreadPoolExecutor(max_workers=max(1, self.settings.workers)) as pool:
            for i, result in enumerate(pool.map(lambda c: self.judge(*c), cases), 1):
                results.append(result)
                if progress and (i % 10 == 0 or i == len(cases)):
                    progress(i, len(cases))
        return results


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = exc.read().decode("utf-8", "replace").strip()
    except Exception:  # noqa: BLE001 - the body is only a detail of the message
        body = ""
    if not body:
        return f" {exc.reason}" if exc.reason else ""
    try:
        data = json.loads(body)
        message = data["error"]["message"] if isinstance(data.get("error"), dict) else data.get("error", body)
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError):
        message = body
    return f": {' '.join(str(message).split())[:300]}"


def _redirect_detail(exc: urllib.error.HTTPError) -> str:
    where = exc.headers.get("Location", "?") if exc.headers else "?"
    return (
        f"HTTP {exc.code}: it redirects to {where}, and redirects are not followed (the API key goes to "
        "--judge-url only); give the final URL as --judge-url"
    )


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    value = exc.headers.get("Retry-After") if exc.headers else None
    try:
        return min(float(value), MAX_RETRY_AFTER) if value is not None else None
    except ValueError:
        return None


def judge_summary(results: list[JudgeResult], n_boot: int, seed: int) -> dict[str, Any]:
    """Mean judge score over the scored samples with its bootstrap 95% interval."""
    # lazy: pulls in numpy
    from fedjava.evaluation.metrics import mean_ci

    scores = [r.score for r in results if r.score is not None]
    mean, interval = mean_ci(scores, n_boot, seed)
    return {"mean": mean, "ci": interval, "scored": len(scores), "not_scored": len(results) - len(scores)}
