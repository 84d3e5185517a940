"""The package is layered, and no import goes upward or round in a circle.

Every ``import`` in ``src/netgrad`` counts, also those inside functions (a lazy import is still
a dependency). From the bottom:

    _errors  <  ops  <  _shapes, _sequences, _module, _precision, gradient  <  encoders  <  layers  <  net
    <  debug  <  io, train, plot
    <  the package itself, demo, _audit, __main__, examples

A module imports only modules of its own level or below, and the modules never import each
other in a circle. Where a lower level must call a higher one it holds a hook that the higher
level registers: ``NetModule`` calls the evaluator ``netgrad.net`` registers, evaluation calls
the non-finite checker ``netgrad.debug`` registers.
"""

from __future__ import annotations

import ast
import pathlib

import netgrad

SRC = pathlib.Path(netgrad.__file__).parent

LEVELS = [
    {"_errors"},
    {"ops"},
    {"_shapes", "_sequences", "_stale", "_module", "_html", "_precision", "gradient"},
    {"encoders"},
    {"layers"},
    {"net"},
    {"debug"},
    {"io", "train", "plot"},
    {"", "demo", "_audit", "__main__", "examples"},
]

# Known exceptions (none now), each with its reason.
ALLOWED_UPWARD: set[tuple[str, str]] = set()
# Circles inside ops/ are ops/'s own business (its __init__ and the op modules).
CIRCLES_INSIDE = ("ops",)


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for f in SRC.rglob("*.py"):
        parts = list(f.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _imports(mods: dict[str, pathlib.Path]) -> dict[str, set[str]]:
    """Module → the netgrad modules it imports (``""`` is the package itself). Importing a
    submodule (``from .. import ops``) depends on that submodule, not on its parent package."""
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        pkg = m.split(".") if f.name == "__init__.py" else m.split(".")[:-1]
        pkg = [p for p in pkg if p]
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg[:len(pkg) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                elif node.module and (node.module == "netgrad" or node.module.startswith("netgrad.")):
                    target = node.module[len("netgrad."):] if node.module != "netgrad" else ""
                else:
                    continue
                subs = [f"{target}.{a.name}".lstrip(".") for a in node.names]
                subs = [s for s in subs if s in mods]
                found = subs if len(subs) == len(node.names) else [target] + subs
            elif isinstance(node, ast.Import):
                found = [a.name[len("netgrad."):] if a.name != "netgrad" else ""
                         for a in node.names if a.name == "netgrad" or a.name.startswith("netgrad.")]
            else:
                continue
            edges[m].update(t for t in found if t in mods and t != m)
    return edges


def _level(module: str) -> int:
    top = module.split(".")[0]
    return next(i for i, names in enumerate(LEVELS) if top in names)


def test_every_module_has_a_level():
    for m in _modules():
        assert any(m.split(".")[0] in names for names in LEVELS), f"{m!r} has no level"


def test_no_import_goes_upward():
    edges = _imports(_modules())
    upward = sorted((m, t) for m, ts in edges.items() for t in ts
                    if _level(t) > _level(m) and (m, t) not in ALLOWED_UPWARD)
    assert not upward, "imports that go up a level: " + ", ".join(f"{m} → {t}" for m, t in upward)


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_no_import_circles():
    circles = [c for c in _circles(_imports(_modules()))
               if not all(m.split(".")[0] in CIRCLES_INSIDE for m in c)]
    assert not circles, f"import circles: {circles}"


def test_the_checker_finds_a_circle():
    # the test above could not fail if _circles never found anything
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []
