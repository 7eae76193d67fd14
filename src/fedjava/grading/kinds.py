"""What kind of error an answer names, in a teacher's words, from its ``code``.

The grader was trained on labels that type every compile error "Syntax Error" (``fedjava.dataset.label``), so a
missing import, a misspelt name or a wrong type all read alike. The error's ``code`` says more: javac's message
key, the exception's class, ``wrong_output`` or ``timeout``. :func:`error_kind` names the kind from it, and
:func:`describe_code` gives javac's plain message for a key (the summary lists those, not raw keys). The answer
itself is left as the model wrote it; only what the pages and the review print changes.
"""

from __future__ import annotations

from typing import Any

# javac key (without "compiler.err.") -> (kind, what javac says, in short)
JAVAC_KEYS: dict[str, tuple[str, str]] = {
    "expected": ("Syntax error", "a symbol such as ';' or ')' is missing"),
    "expected2": ("Syntax error", "a symbol such as ';' or ')' is missing"),
    "expected3": ("Syntax error", "a symbol such as ';' or ')' is missing"),
    "expected4": ("Syntax error", "class, interface, enum, or record expected"),
    "premature.eof": ("Syntax error", "reached end of file while parsing (a '}' is missing)"),
    "illegal.start.of.expr": ("Syntax error", "illegal start of expression"),
    "illegal.start.of.type": ("Syntax error", "illegal start of type"),
    "not.stmt": ("Syntax error", "not a statement"),
    "else.without.if": ("Syntax error", "'else' without 'if'"),
    "orphaned": ("Syntax error", "'case' or 'default' outside a switch"),
    "unclosed.str.lit": ("Syntax error", "unclosed string literal"),
    "unclosed.char.lit": ("Syntax error", "unclosed character literal"),
    "unclosed.comment": ("Syntax error", "unclosed comment"),
    "dot.class.expected": ("Syntax error", "'.class' expected (a type where a value belongs)"),
    "variable.not.allowed": ("Syntax error", "variable declaration not allowed here"),
    "cant.resolve": ("Unknown name", "cannot find symbol"),
    "cant.resolve.args": ("Unknown name", "cannot find symbol (a method)"),
    "cant.resolve.location": ("Unknown name", "cannot find symbol"),
    "cant.resolve.location.args": ("Unknown name", "cannot find symbol (a method)"),
    "cant.apply.symbol": ("Wrong arguments", "a method called with arguments it does not take"),
    "cant.apply.symbols": ("Wrong arguments", "no method of that name takes these arguments"),
    "prob.found.req": ("Type error", "incompatible types"),
    "operator.cant.be.applied": ("Type error", "bad operand type for an operator"),
    "operator.cant.be.applied.1": ("Type error", "bad operand types for a binary operator"),
    "unexpected.type": ("Type error", "unexpected type (a value where a variable belongs)"),
    "incomparable.types": ("Type error", "incomparable types"),
    "missing.ret.stmt": ("Missing return", "missing return statement"),
    "var.might.not.have.been.initialized": ("Uninitialised variable", "variable might not have been initialized"),
    "unreachable.stmt": ("Unreachable code", "unreachable statement"),
    "non-static.cant.be.ref": ("Static context", "non-static member used from a static context"),
    "already.defined": ("Duplicate name", "already defined"),
    "cant.assign.val.to.final.var": ("Final variable", "cannot assign a value to a final variable"),
    "unreported.exception.need.to.catch.or.throw": ("Unhandled exception", "unreported exception: catch or declare it"),
    "class.public.should.be.in.file": ("Wrong file name", "a public class must be in a file of its name"),
    "does.not.override.abstract": ("Missing method", "does not implement an abstract method"),
}
VERDICT_KIND = {"COMPILE_ERROR": "Compile error", "RUNTIME_ERROR": "Runtime error", "LOGIC_ERROR": "Logic error"}
TYPE_KIND = {"Syntax Error": "Compile error", "Runtime Error": "Runtime error", "Logical Error": "Logic error"}


def error_kind(error: dict[str, Any]) -> str:
    """The kind of ``error`` to show: "Unknown name" for ``compiler.err.cant.resolve.location``, "Runtime error
    (NullPointerException)", "Logic error (wrong result)", "Runtime error (never ends)", else the answer's type."""
    code = str(error.get("code") or "")
    if code.startswith("compiler.err."):
        return JAVAC_KEYS.get(code.removeprefix("compiler.err."), ("Compile error", ""))[0]
    if code == "wrong_output":
        return "Logic error (wrong result)"
    if code == "timeout":
        return "Runtime error (never ends)"
    if code.endswith(("Exception", "Error")) and "." in code:
        return f"Runtime error ({code.rsplit('.', 1)[-1]})"
    kind = str(error.get("type") or "")
    return TYPE_KIND.get(kind, kind or "Error")


def describe_code(code: str) -> str:
    """A code in plain words: javac's short message for a key, the exception's name, "wrong result" ..."""
    if code.startswith("compiler.err."):
        found = JAVAC_KEYS.get(code.removeprefix("compiler.err."))
        return found[1] if found else "a compile error (" + code.removeprefix("compiler.err.") + ")"
    return {"wrong_output": "a test returned a wrong value", "timeout": "a test never finished", "": "(no code)"}.get(
        code, code.rsplit(".", 1)[-1] if "." in code else code
    )


def error_title(error: dict[str, Any]) -> str:
    """``error_kind`` with the code after it when that says more: "Unknown name (compiler.err.cant.resolve)"."""
    kind, code = error_kind(error), str(error.get("code") or "")
    shown = code and code not in ("wrong_output", "timeout") and not kind.endswith(f"({code.rsplit('.', 1)[-1]})")
    return f"{kind} ({code})" if shown else kind
