"""The package's walls: data flows one way (no import cycle), modules stay small, private names stay home."""

import ast
import json
import re
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "ndic"
MAX_LINES = 400
LONG_REASON = "Why this module is long:"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, list[str]]]:
    """(imported module, names taken from it) for every import statement, relative ones resolved."""
    found = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, [alias.name for alias in node.names]))
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target, names in _imports(ast.parse(path.read_text()), name, path.name == "__init__.py"):
            for candidate in [f"{target}.{n}" for n in names] + [target]:
                if candidate in modules and candidate != name:
                    graph[name].add(candidate)
                    break
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_among_ndic_modules():
    cycle = _find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_lower_layers_never_import_the_upper_ones():
    """data -> models -> train -> evaluate -> results -> plots -> notebooks: nothing imports back up."""
    graph = _graph()
    upper = ("ndic.cli", "ndic.notebook", "ndic.plot")
    for module, targets in graph.items():
        if module.startswith(upper) or module == "ndic.__main__":
            continue
        wrong = sorted(t for t in targets if t.startswith(upper))
        assert not wrong, f"{module} imports {wrong}: only the command line and notebooks sit above the plots"
    for module in ("ndic.models", "ndic.data", "ndic.metrics", "ndic.io", "ndic.recipes"):
        for name, targets in graph.items():
            if name == module or name.startswith(module + "."):
                wrong = sorted(t for t in targets if t.startswith(("ndic.train", "ndic.evaluate", "ndic.results")))
                assert not wrong, f"{name} (a lower layer) imports {wrong}"


def test_modules_stay_small_or_say_why():
    for name, path in _modules().items():
        source = path.read_text()
        lines = source.count("\n")
        docstring = ast.get_docstring(ast.parse(source)) or ""
        assert lines <= MAX_LINES or LONG_REASON in docstring, (
            f"{name} has {lines} lines (> {MAX_LINES}): split it, or give the reason in its docstring "
            f"('{LONG_REASON} ...')"
        )


def _code_outside_the_package() -> list[tuple[str, str]]:
    """(where, Python source) of the notebooks' code cells, the book's code cells and the benchmarks."""
    sources = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        sources.append((path.name, "\n".join(line for line in code.splitlines() if not line.startswith("%"))))
    for path in sorted((ROOT / "book").glob("*.md")):
        blocks = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", path.read_text(), flags=re.S)
        code = "\n".join(re.sub(r"^(:[^\n]*\n|%[^\n]*\n)+", "", b, flags=re.M) for b in blocks)
        sources.append((path.name, code))
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        sources.append((path.name, path.read_text()))
    return sources


def _private_imports(source: str, importer: str) -> list[str]:
    bad = []
    for target, names in _imports(ast.parse(source), importer, False):
        if not target.startswith("ndic"):
            continue
        home = target.rpartition(".")[0] if target.split(".")[-1].startswith("_") else target
        private = [n for n in names if n.startswith("_") and n != "__version__"]
        private += [part for part in target.split(".") if part.startswith("_")]
        if private and not importer.startswith(home.split("._")[0] + "."):
            bad.append(f"{target}: {', '.join(private)}")
    return bad


def test_no_private_name_is_imported_outside_its_package():
    for where, source in _code_outside_the_package():
        assert not _private_imports(source, "outside"), f"{where} imports private names: {_private_imports(source, '')}"
    assert _private_imports("from ndic.evaluate import _safe_name", "outside") == ["ndic.evaluate: _safe_name"]
    assert _private_imports("from ndic.models._ndic_layers import GDN", "outside")
    assert not _private_imports("from ndic.evaluate import evaluate", "outside")
