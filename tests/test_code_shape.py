"""The shape issue 26 asks of the code, checked on every run: short functions, and exit codes chosen only by the
command line (``fedjava.cli``) and by the ``python -m`` entry points' own ``__main__`` blocks.

The layers and the absence of import circles are import-linter's contracts (``lint-imports`` in ``make test``)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "fedjava"
MAX_FUNCTION_LINES = 80


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8"))) for path in sorted(SRC.rglob("*.py"))]


def _long_functions(tree: ast.Module, limit: int) -> list[tuple[str, int]]:
    return [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > limit
    ]


def _exits_outside_main(tree: ast.Module) -> list[int]:
    """Lines that call ``sys.exit`` or raise ``SystemExit`` outside an ``if __name__ == "__main__":`` block."""
    main_blocks = [node for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)]
    inside = {id(child) for block in main_blocks for child in ast.walk(block)}
    found = []
    for node in ast.walk(tree):
        if id(node) in inside:
            continue
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "sys.exit":
            found.append(node.lineno)
        if isinstance(node, ast.Raise) and node.exc is not None and "SystemExit" in ast.unparse(node.exc):
            found.append(node.lineno)
    return sorted(found)


def test_no_function_is_longer_than_80_lines():
    long = [
        f"{path.relative_to(SRC)}: {name} ({lines} lines)"
        for path, tree in _modules()
        for name, lines in _long_functions(tree, MAX_FUNCTION_LINES)
    ]
    assert long == []


def test_only_the_command_line_chooses_exit_codes():
    outside = [
        f"{path.relative_to(SRC)}:{line}"
        for path, tree in _modules()
        if path.relative_to(SRC).parts[0] not in ("cli", "bench")
        for line in _exits_outside_main(tree)
    ]
    assert outside == []


def test_the_checks_see_what_they_look_for():
    """The two checks above would catch what they forbid (so an empty list is not a blind one)."""
    long = ast.parse("def f():\n" + "    x = 1\n" * 90)
    assert _long_functions(long, MAX_FUNCTION_LINES) == [("f", 91)]
    exits = ast.parse(
        "import sys\ndef f():\n    sys.exit(2)\nif __name__ == '__main__':\n    sys.exit(f())\n"
        "def g():\n    raise SystemExit(1)\n"
    )
    assert _exits_outside_main(exits) == [3, 7]
