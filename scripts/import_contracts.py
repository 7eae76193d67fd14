"""An import-linter contract type of our own: no import circle between any two modules of a package.

import-linter's own ``acyclic_siblings`` squashes each package into one node, so it also refuses two packages that
import each other through unrelated modules (``java`` and ``prompts`` do: ``prompts`` reads the evidence block of
``java.evidence``, and ``java.localise`` reads a sample's prompt back). This contract looks at modules, the level
where an import circle makes one module half-initialised when the other starts it. ``pyproject.toml`` registers it
under ``contract_types``; ``lint-imports`` finds it because it puts the current folder on ``sys.path``.
"""

from __future__ import annotations

import grimp
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


class AcyclicModulesContract(Contract):
    """Every module under ``root`` reaches itself through no chain of imports.

    Configuration: ``root``, the package whose modules are checked (its sub-packages included).
    """

    type_name = "acyclic_modules"

    root = fields.StringField()

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        """Each strongly connected group of two or more modules is one circle; the contract holds when there is none."""
        prefix = f"{self.root}."
        modules = sorted(m for m in graph.modules if m == self.root or m.startswith(prefix))
        edges = {m: sorted(n for n in graph.find_modules_directly_imported_by(m) if n in modules) for m in modules}
        circles = []
        for group in _strongly_connected(modules, edges):
            imports = []
            for importer in group:
                for imported in edges[importer]:
                    if imported in group:
                        lines = [
                            d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported)
                        ]
                        imports.append((importer, imported, lines))
            circles.append(imports)
        return ContractCheck(kept=not circles, metadata={"circles": circles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        """One paragraph per circle: each import that closes it, with its line numbers."""
        for imports in check.metadata["circles"]:
            output.print_error("An import circle:", bold=True)
            for importer, imported, lines in imports:
                output.print(f"  {importer} -> {imported} (l. {', '.join(map(str, lines))})")
            output.new_line()


def _strongly_connected(nodes: list[str], edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm without recursion: the groups of two or more nodes that reach each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            step = next(successors, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(edges[step])))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups
