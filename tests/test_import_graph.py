"""The library's import graph, read from the source with ``ast`` (nothing is imported).

Every ``import`` counts, at module top or inside a function: a function-local
import is still a dependency, and hiding one in a function is how a cycle or a
back-arrow went unseen before. The rules (issue #25):

- no import cycle between the library's modules;
- no package imports the one that imports it (``cli -> pacs -> cli``), where a
  "package" is the first name under ``cranioscan`` (``cranioscan.dicom``, or a
  top-level module such as ``cranioscan.inference``);
- only the app package, ``cranioscan.ui``, imports Streamlit, and no other
  module of the library imports ``cranioscan.ui``.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "cranioscan"
APP_PACKAGE = "cranioscan.ui"


def _module_name(path, root):
    parts = ("cranioscan",) + path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(path):
    return path.name == "__init__.py"


def _targets(node, module, is_package, known):
    """Absolute names a node imports: a module when it is one, else the package/module named."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[:len(base) - node.level + 1]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module
    out = []
    for alias in node.names:
        candidate = f"{source}.{alias.name}"
        out.append(candidate if candidate in known else source)
    return out


def import_graph(root=ROOT):
    """``{module: set of imported names}`` for every module under ``root``."""
    paths = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph = {}
    for module, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[module] = {target for node in ast.walk(tree)
                         if isinstance(node, (ast.Import, ast.ImportFrom))
                         for target in _targets(node, module, _is_package(path), paths)}
    return graph


def _internal(graph):
    """The graph restricted to the library's own modules (a package import -> its __init__)."""
    return {m: {t for t in targets if t in graph and t != m} for m, targets in graph.items()}


def find_cycle(edges):
    """One cycle of ``edges`` as a list of nodes (first == last), or None."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, stack)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node, [])
            if found:
                return found
    return None


def _package(module):
    return ".".join(module.split(".")[:2])


def package_edges(edges):
    """``{package: packages it imports}``, self-imports left out."""
    out = {}
    for module, targets in edges.items():
        for target in targets:
            a, b = _package(module), _package(target)
            if a != b:
                out.setdefault(a, set()).add(b)
    return out


def mutual_packages(edges):
    """Pairs of packages that import each other, with one module edge each way as evidence."""
    packages = package_edges(edges)
    pairs = []
    for a, targets in sorted(packages.items()):
        for b in sorted(targets):
            if a < b and a in packages.get(b, ()):
                why = [f"{m} -> {t}" for m, ts in sorted(edges.items()) for t in sorted(ts)
                       if {_package(m), _package(t)} == {a, b}]
                pairs.append((a, b, why))
    return pairs


GRAPH = import_graph()
EDGES = _internal(GRAPH)


def test_the_graph_sees_the_library():
    # the reader finds what the library imports, top-level and function-local
    assert "cranioscan.series_result" in EDGES["cranioscan.inference"]
    assert "cranioscan.dicom" in EDGES["cranioscan.ui.state"]
    assert any(t.startswith("cranioscan.net") for t in EDGES["cranioscan.inference"])  # local import
    assert len(EDGES) > 80


def test_no_import_cycle_between_modules():
    assert find_cycle(EDGES) is None, " -> ".join(find_cycle(EDGES))


def test_no_package_imports_the_package_that_imports_it():
    assert mutual_packages(EDGES) == []


def test_only_the_app_package_imports_streamlit():
    outside = sorted(m for m, targets in GRAPH.items()
                     if not (m == APP_PACKAGE or m.startswith(APP_PACKAGE + "."))
                     and any(t == "streamlit" or t.startswith("streamlit.") for t in targets))
    assert outside == []


def test_no_library_module_imports_the_app_package():
    back = sorted(f"{m} -> {t}" for m, targets in EDGES.items()
                  if not m.startswith(APP_PACKAGE)
                  for t in targets if t == APP_PACKAGE or t.startswith(APP_PACKAGE + "."))
    assert back == []


# ------------------------------------------------------------- the checks can fail
def test_a_cycle_is_found():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(edges) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_packages_that_import_each_other_are_found():
    edges = {"cranioscan.cli.predict": {"cranioscan.pacs.worklist"},
             "cranioscan.pacs.worklist": {"cranioscan.cli.worklist"},
             "cranioscan.cli.worklist": set()}
    assert find_cycle(edges) is None  # no module cycle, yet the packages point at each other
    [(a, b, why)] = mutual_packages(edges)
    assert (a, b) == ("cranioscan.cli", "cranioscan.pacs")
    assert "cranioscan.pacs.worklist -> cranioscan.cli.worklist" in why


@pytest.mark.parametrize("source, expected", [
    ("from . import caches", {"cranioscan.ui.caches"}),
    ("from ..visualize import case_view, text as vis_text",
     {"cranioscan.visualize.case_view", "cranioscan.visualize.text"}),
    ("def f():\n    from ..dicom import load_series", {"cranioscan.dicom"}),
    ("import streamlit as st", {"streamlit"}),
])
def test_relative_and_local_imports_are_resolved(tmp_path, source, expected):
    package = tmp_path / "cranioscan"
    for name in ("ui", "visualize", "dicom"):
        (package / name).mkdir(parents=True)
        (package / name / "__init__.py").write_text("")
    for name in ("ui/caches.py", "visualize/case_view.py", "visualize/text.py"):
        (package / name).write_text("")
    (package / "__init__.py").write_text("")
    (package / "ui" / "probe.py").write_text(source + "\n")
    assert import_graph(package)["cranioscan.ui.probe"] == expected


def test_only_the_app_package_touches_the_session_state():
    # the pages and app.py read and write a session through cranioscan.ui.state and friends
    repo = ROOT.parent
    scripts = [repo / "app.py", *sorted((repo / "pages").glob("*.py")),
               *(p for p in sorted(ROOT.rglob("*.py")) if "ui" not in p.relative_to(ROOT).parts[:1])]
    touching = [str(p.relative_to(repo)) for p in scripts
                if "session_state" in p.read_text(encoding="utf-8")]
    assert touching == []
