"""Which of a grader's answers the tools back: a finding, or the model's guess.

A teacher already has javac and the tests. When they ran and show the error the model names (javac's error for a
compile error, a test that threw or did not finish for a runtime error, a wrong result for a logic error), the
answer is a **finding**. When nothing ran that could show it (a task without tests, ``--no-run``, an adapter
trained without tool results) the model is **guessing**, and a review must say so instead of showing the guess as
a finding. When the tools ran and say otherwise (every test passed, the program compiles), the answer is
**contradicted**.

:func:`support` decides; ``fedjava review`` shows an unconfirmed or contradicted error as "possible", with the
reason (``--json``: ``support``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fedjava.java.evidence import Evidence, FirstException, FirstTimeout, FirstWrongResult, TestSummary

CONFIRMED, UNCONFIRMED, CONTRADICTED = "confirmed", "unconfirmed", "contradicted"


@dataclass(frozen=True)
class Support:
    """What the tools say about an answer's verdict: ``status`` (confirmed, unconfirmed, contradicted) and why."""

    status: str
    reason: str

    @property
    def finding(self) -> bool:
        """Whether the answer may be shown as a finding."""
        return self.status == CONFIRMED


def support(answer: dict[str, Any], evidence: str | Evidence | None) -> Support:
    """How far the tool results (a block, parsed evidence, or None when no tool ran) back ``answer``'s verdict."""
    if isinstance(evidence, str):
        evidence = Evidence.parse(evidence)
    verdict = answer.get("verdict")
    if evidence is None or evidence.compiled is None:
        if verdict == "NO_ERROR":
            return Support(UNCONFIRMED, "no tool ran: the program was neither compiled nor tested")
        return Support(
            UNCONFIRMED, "no tool ran, so nothing confirms this error: it is the model's reading of the code"
        )
    summary = evidence.first(TestSummary)
    failed = evidence.first(FirstException) or evidence.first(FirstTimeout) or evidence.first(FirstWrongResult)
    if verdict == "COMPILE_ERROR":
        if evidence.compiled:
            return Support(CONTRADICTED, "javac compiles the program")
        return Support(CONFIRMED, "javac reports the error")
    if not evidence.compiled:
        return Support(CONTRADICTED, "javac does not compile the program, so it cannot run")
    if verdict == "NO_ERROR":
        if failed is not None:
            return Support(CONTRADICTED, "a test fails")
        if summary is None:
            return Support(UNCONFIRMED, "it compiles, but no test ran")
        return Support(CONFIRMED, f"all {summary.total} test(s) pass")
    if summary is None:
        return Support(
            UNCONFIRMED, "no test ran, so nothing confirms this error: it is the model's reading of the code"
        )
    if failed is None:
        return Support(CONTRADICTED, f"all {summary.total} test(s) pass")
    shows = {"RUNTIME_ERROR": (FirstException, FirstTimeout), "LOGIC_ERROR": (FirstWrongResult,)}.get(verdict, ())
    if any(evidence.first(kind) is not None for kind in shows):
        return Support(CONFIRMED, "a test shows it")
    return Support(CONTRADICTED, "the failing test shows another kind of error")


def tools_verdict(evidence: str | Evidence | None) -> str:
    """The verdict the tool results show by themselves: javac's error, a test that threw or did not finish, a wrong
    result; NO_ERROR when none of these shows (every test passed, or nothing ran that could show one)."""
    if isinstance(evidence, str):
        evidence = Evidence.parse(evidence)
    if evidence is None or evidence.compiled is None:
        return "NO_ERROR"
    if not evidence.compiled:
        return "COMPILE_ERROR"
    if evidence.first(FirstException) is not None or evidence.first(FirstTimeout) is not None:
        return "RUNTIME_ERROR"
    if evidence.first(FirstWrongResult) is not None:
        return "LOGIC_ERROR"
    return "NO_ERROR"
