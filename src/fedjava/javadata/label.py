"""Turn what javac and the JVM reported about one program into the evaluator's answer.

The label comes from the observed run (:class:`~fedjava.javadata.runner.RunOutcome`), never from
the mutation operator's intent:

* it does not compile: ``COMPILE_ERROR`` ("Syntax Error"), ``code`` = javac's key, ``line`` = javac's
  line of the first error in the student's file, ``message`` = javac's message; score 0;
* a test case runs out of time or throws from the student's code: ``RUNTIME_ERROR`` for the first such
  case; code ``timeout`` at the changed line, or the exception class, the student's line from the stack
  trace and the exception's message;
* a test case returns a wrong value: ``LOGIC_ERROR``, code ``wrong_output``, at the changed line,
  with the failing call, the expected and the actual value;
* everything passes: ``NO_ERROR`` for a correct program; a mutant that passes is equivalent and dropped;
* a program that runs out of memory is dropped (where the heap runs out is not reproducible).

``score`` is ``round(10 x passed / total)`` over the task's test cases (0 when it does not compile).
The explanation is one sentence from several templates per kind of error, filled with the real
identifiers, lines and values; the fix is the original line (``""`` when the line must be deleted).
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Any

from fedjava.javadata.evidence import hung_call, strip_loader_names
from fedjava.javadata.mutate import Mutant
from fedjava.javadata.runner import TIMEOUT_SECONDS, RunOutcome
from fedjava.javadata.tasks import Task

ERROR_TYPE = {"COMPILE_ERROR": "Syntax Error", "RUNTIME_ERROR": "Runtime Error", "LOGIC_ERROR": "Logical Error"}
STUDENT_FILE = "Solution.java"


class Dropped(Exception):
    """The program gives no usable sample; ``reason`` is a short tag counted in the build report."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass
class Labelled:
    answer: dict[str, Any]
    raw: str  # the tool output the label was read from


def score(passed: int, total: int) -> int:
    """10 x the share of passed cases, rounded half up."""
    return int(math.floor(10 * passed / total + 0.5)) if total else 0


def _one_line(text: str) -> str:
    parts = [p.strip() for p in text.strip().splitlines() if p.strip()]
    return "; ".join(parts)


def _snippet(line: str, limit: int = 60) -> str:
    text = " ".join(line.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ------------------------------------------------------------------ explanation templates
# Each kind has several phrasings; placeholders: {line} {fix_line} {code_line} {fixed} {name} {call}
# {expected} {actual} {exception} {detail} {seconds} {message}.

_COMPILE = {
    "compiler.err.expected": [
        "Line {line} is missing {detail}, so javac cannot parse the statement.",
        "javac expected {detail} on line {line}; the statement is not finished.",
        "The code on line {line} lacks {detail}, which Java's grammar requires there.",
    ],
    "compiler.err.cant.resolve.location": [
        "Line {line} uses '{name}', which is not declared anywhere it is visible (check the spelling).",
        "'{name}' on line {line} is not a known variable, type or method; it is probably misspelled.",
        "javac cannot find the symbol '{name}' used on line {line}.",
    ],
    "compiler.err.cant.resolve.location.args": [
        "Line {line} calls '{name}', but no method with that name and those arguments exists.",
        "The method '{name}' called on line {line} does not exist; the name is probably misspelled.",
    ],
    "compiler.err.cant.apply.symbol": [
        "The call on line {line} passes arguments that do not match the parameters of '{name}'.",
        "'{name}' is called on line {line} with the wrong number or types of arguments.",
    ],
    "compiler.err.prob.found.req": [
        "Line {line} assigns or returns a value of the wrong type: {message}.",
        "The types on line {line} do not match ({message}); a value cannot be used as that type.",
    ],
    "compiler.err.missing.ret.stmt": [
        "The method ending on line {line} can finish without returning a value, but it must return one.",
        "Not every path through the method returns a value; javac reports the missing return at line {line}.",
    ],
    "compiler.err.var.might.not.have.been.initialized": [
        "Variable '{name}' is read on line {line} before it has surely been given a value.",
        "'{name}' may be used uninitialised on line {line}; give it a value when it is declared.",
    ],
    "compiler.err.unreachable.stmt": [
        "The statement on line {line} can never run because the code before it always leaves the block.",
        "Line {line} is unreachable: it comes after a return, break or continue.",
    ],
    "compiler.err.non-static.cant.be.ref": [
        "Line {line} uses '{name}' from a static context, but '{name}' belongs to an object.",
        "'{name}' is not static, so it cannot be used on line {line} without an instance.",
    ],
    "compiler.err.else.without.if": [
        "The 'else' on line {line} has no matching 'if' before it.",
        "javac finds an 'else' on line {line} that does not follow an if statement.",
    ],
    "compiler.err.unclosed.str.lit": [
        "The string literal on line {line} is never closed with a double quote.",
        "Line {line} opens a string but does not close it.",
    ],
    "compiler.err.premature.eof": [
        "javac reached the end of the file on line {line} while a block was still open: a closing brace is missing.",
        "The file ends at line {line} with an unclosed block; a '}}' is missing.",
    ],
}
_COMPILE_ANY = [
    "javac rejects line {line}: {message}.",
    "The program does not compile because of line {line} ({message}).",
    "Compilation fails at line {line}: {message}.",
]
_RUNTIME = {
    "java.lang.ArrayIndexOutOfBoundsException": [
        "For {call}, line {line} reads an array outside its bounds ({detail}).",
        "Line {line} uses an index past the end of the array when running {call} ({detail}).",
    ],
    "java.lang.StringIndexOutOfBoundsException": [
        "For {call}, line {line} asks for a character or substring outside the string ({detail}).",
        "Line {line} indexes past the end of the string when running {call} ({detail}).",
    ],
    "java.lang.IndexOutOfBoundsException": [
        "For {call}, line {line} uses a list index that does not exist ({detail}).",
        "Line {line} reads a list position outside its size when running {call} ({detail}).",
    ],
    "java.lang.ArithmeticException": [
        "For {call}, line {line} divides by zero.",
        "Line {line} performs an integer division or remainder by zero when running {call}.",
    ],
    "java.lang.NullPointerException": [
        "For {call}, line {line} uses a reference that is null.",
        "Line {line} calls a method or reads a field through a null reference when running {call}.",
    ],
    "java.lang.ClassCastException": [
        "For {call}, line {line} casts an object to a type it does not have ({detail}).",
    ],
    "java.lang.NumberFormatException": [
        "For {call}, line {line} tries to parse text that is not a number ({detail}).",
    ],
    "java.lang.StackOverflowError": [
        "For {call}, the recursion through line {line} never reaches a base case and overflows the stack.",
        "The method keeps calling itself from line {line} when running {call} until the stack runs out.",
    ],
    "java.lang.OutOfMemoryError": [
        "For {call}, line {line} keeps allocating until memory runs out; the loop around it never ends.",
    ],
    "java.lang.NegativeArraySizeException": [
        "For {call}, line {line} creates an array with a negative size ({detail}).",
    ],
}
_RUNTIME_ANY = [
    "For {call}, line {line} throws {exception}{detail_sep}{detail}.",
    "Running {call} fails on line {line} with {exception}.",
]
_TIMEOUT = [
    "{call} does not finish within {seconds:g} s: the loop or recursion at line {line} never stops.",
    "The program never ends for {call}; line {line} does not move the loop towards its exit.",
    "Line {line} makes the program run forever (stopped after {seconds:g} s on {call}).",
]
_LOGIC = [
    "For {call} the program returns {actual} instead of {expected}; the cause is line {fix_line}.",
    "{call} gives {actual} but should give {expected}, because of line {fix_line}.",
    "Line {fix_line} computes the wrong result: {call} returns {actual}, expected {expected}.",
]
_CAUSE = [
    " The cause is line {fix_line}: `{code_line}` should be `{fixed}`.",
    " Fix line {fix_line}: write `{fixed}` instead of `{code_line}`.",
]
_CAUSE_INSERTED = [" Line {fix_line} (`{code_line}`) should not be there."]
_CAUSE_DELETED = [" A line is missing before line {fix_line}: `{fixed}`."]
# "(X is in unnamed module of loader java.net.URLClassLoader @1b2c3d; ...)": differs from JVM to JVM.
_SYMBOL_RE = re.compile(r"symbol:\s+(?:variable|method|class)\s+(\w+)")


def _compile_detail(message: str) -> str:
    m = re.match(r"(.+?) expected", message)
    return m.group(1) if m else "a token"


def _name_from(message: str, code_line: str) -> str:
    m = _SYMBOL_RE.search(message)
    if m:
        return m.group(1)
    m = re.search(r"variable (\w+)", message) or re.search(r"method (\w+)", message)
    if m:
        return m.group(1)
    m = re.search(r"(\w+)", code_line.strip())
    return m.group(1) if m else "it"


def label(
    task: Task,
    code: str,
    outcome: RunOutcome,
    mutant: Mutant | None,
    rng: random.Random,
) -> Labelled:
    """The answer for ``code`` (a correct program when ``mutant`` is None). Raises :class:`Dropped`."""
    lines = code.split("\n")
    total = len(task.tests)
    if not outcome.compiled:
        mine = [d for d in outcome.diagnostics if d.file == STUDENT_FILE]
        if not mine:
            raise Dropped("error_in_driver", "javac only complains about the test driver")
        if mutant is None:
            raise Dropped("correct_failed", "a correct program does not compile")
        first = mine[0]
        message = _one_line(first.message) or first.args or first.key
        raw = "\n".join(f"{d.file}:{d.line}: {d.key}: {_one_line(d.message) or d.args}" for d in outcome.diagnostics)
        code_line = lines[first.line - 1] if 0 < first.line <= len(lines) else ""
        values = {
            "line": first.line, "message": message, "detail": _compile_detail(message),
            "name": _name_from(message, code_line),
        }
        templates = _COMPILE.get(first.key, _COMPILE_ANY)
        error = _error("COMPILE_ERROR", first.key, first.line, message, rng, templates, values, mutant, lines)
        return Labelled({"verdict": "COMPILE_ERROR", "errors": [error], "score": 0}, raw)

    raw = strip_loader_names("\n".join(line for line in outcome.stdout.splitlines() if line.startswith("@@CASE")))
    if any(c.exception == "java.lang.OutOfMemoryError" for c in outcome.cases):
        # Where the heap runs out, and what else a JVM short of memory still reports, is not reproducible.
        raise Dropped("out_of_memory", "a test case ran out of memory")
    stopped = [c for c in outcome.cases if c.status in ("ERROR", "TIMEOUT")]
    halted = outcome.timed_out and not any(c.status == "TIMEOUT" for c in outcome.cases)
    if (halted and not stopped) or (stopped and stopped[0].status == "TIMEOUT"):
        if mutant is None:
            raise Dropped("correct_failed", "a correct program timed out")
        if halted:
            call = hung_call(task, outcome)
        else:
            call = stopped[0].call
        message = f"{call} did not finish within {TIMEOUT_SECONDS:g} s of CPU time"
        values = {"line": mutant.line, "call": call, "seconds": TIMEOUT_SECONDS}
        error = _error("RUNTIME_ERROR", "timeout", mutant.line, message, rng, _TIMEOUT, values, mutant, lines,
                       cause=False)
        return Labelled({"verdict": "RUNTIME_ERROR", "errors": [error],
                         "score": score(outcome.passed, total)}, raw)
    if len(outcome.cases) != total and not outcome.timed_out:
        raise Dropped("incomplete_run", f"{len(outcome.cases)} of {total} cases reported")

    if stopped:
        if mutant is None:
            raise Dropped("correct_failed", "a correct program throws")
        case = stopped[0]
        if case.line < 1:
            raise Dropped("error_outside_student_code", case.exception)
        exception = case.exception
        detail = strip_loader_names(case.message)
        message = f"{exception}: {detail}" if detail else exception
        values = {"line": case.line, "call": case.call, "exception": exception.rsplit(".", 1)[-1],
                  "detail": detail, "detail_sep": ": " if detail else ""}
        templates = _RUNTIME.get(exception, _RUNTIME_ANY)
        error = _error("RUNTIME_ERROR", exception, case.line, message, rng, templates, values, mutant, lines)
        return Labelled({"verdict": "RUNTIME_ERROR", "errors": [error],
                         "score": score(outcome.passed, total)}, raw)

    wrong = [c for c in outcome.cases if c.status == "FAIL"]
    if wrong:
        if mutant is None:
            raise Dropped("correct_failed", "a correct program gives a wrong value")
        case = wrong[0]
        message = f"{case.call} returned {case.actual}, expected {case.expected}"
        values = {"call": case.call, "expected": case.expected, "actual": case.actual, "line": mutant.line}
        error = _error("LOGIC_ERROR", "wrong_output", mutant.line, message, rng, _LOGIC, values, mutant, lines)
        return Labelled({"verdict": "LOGIC_ERROR", "errors": [error],
                         "score": score(outcome.passed, total)}, raw)

    if mutant is not None:
        raise Dropped("equivalent", "the mutant passes every test")
    return Labelled({"verdict": "NO_ERROR", "errors": [], "score": 10}, raw)


def _error(
    verdict: str,
    code: str,
    line: int,
    message: str,
    rng: random.Random,
    templates: list[str],
    values: dict[str, Any],
    mutant: Mutant,
    lines: list[str],
    cause: bool = True,
) -> dict[str, Any]:
    fix_line = mutant.line
    code_line = lines[fix_line - 1] if 0 < fix_line <= len(lines) else ""
    fill = {
        "call": "", "expected": "", "actual": "", "exception": "", "detail": "", "detail_sep": "", "name": "",
        "seconds": TIMEOUT_SECONDS, "message": message, **values,
        "fix_line": fix_line, "code_line": _snippet(code_line), "fixed": _snippet(mutant.original_line),
    }
    explanation = rng.choice(templates).format(**fill)
    if cause and fix_line != line and verdict != "LOGIC_ERROR":
        if not mutant.original_line:
            extra = _CAUSE_INSERTED
        elif not mutant.mutated_line:
            extra = _CAUSE_DELETED
        else:
            extra = _CAUSE
        explanation += rng.choice(extra).format(**fill)
    return {
        "type": ERROR_TYPE[verdict],
        "code": code,
        "line": line,
        "message": message,
        "explanation": explanation,
        "fix": mutant.original_line,
    }
