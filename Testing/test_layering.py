"""Imports go one way, LGECore <- AHABullseyeLib <- ScarSegmentLib <- ScarSynthLib, with no circle.

Reads every Python file of the packages, the Slicer module files and the tests, and counts as
imports the import statements anywhere in a file (inside functions too) and the names given to
`__import__` / `importlib.import_module`, including module names held in string constants.
"""

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {
    "LGECore": REPO / "LGECore",
    "AHABullseyeLib": REPO / "AHABullseye" / "AHABullseyeLib",
    "ScarSegmentLib": REPO / "ScarSegment" / "ScarSegmentLib",
    "ScarSynthLib": REPO / "ScarSynth" / "ScarSynthLib",
}
LAYER = {name: rank for rank, name in enumerate(PACKAGES)}
MODULE_FILES = {"AHABullseye": "AHABullseyeLib", "ScarSegment": "ScarSegmentLib", "ScarSynth": "ScarSynthLib"}
# What each test file is about, by its name: it may import that layer and those below it, and
# the `scarsynth` command line (ScarSynthLib.cli), which any test may run as a user would.
ENTRY = "ScarSynthLib.cli"
TEST_LAYERS = (("test_aha_", "AHABullseyeLib"), ("test_scarsegment_", "ScarSegmentLib"),
               ("test_scar_", "ScarSegmentLib"), ("test_seg_", "ScarSegmentLib"), ("test_synth_", "ScarSynthLib"),
               ("test_bad_inputs", "ScarSynthLib"), ("bad_input_files", "ScarSynthLib"))  # the corpus spans all
OURS = re.compile(r"^(?:%s)(?:\.\w+)*$" % "|".join(list(PACKAGES) + list(MODULE_FILES)))
NAMED = re.compile(r"^(?:%s)(?:\.\w+)*$" % "|".join(PACKAGES))  # a package named in a string


def _module_name(path):
    """Dotted name of one of our files: LGECore.io, ScarSegmentLib.train, ScarSegment, ..."""
    for package, folder in PACKAGES.items():
        if folder in path.parents:
            parts = path.relative_to(folder).with_suffix("").parts
            return ".".join((package,) + tuple(p for p in parts if p != "__init__"))
    return path.stem


def _package_files():
    return sorted(p for folder in PACKAGES.values() for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _module_files():
    return [REPO / module / f"{module}.py" for module in MODULE_FILES]


def _test_files():
    return sorted((REPO / "Testing").glob("*.py"))


def _existing(name):
    """`name` if it is one of our modules, else its package (for `from LGECore import __version__`)."""
    head, _, _ = name.rpartition(".")
    return name if name in _ALL_MODULES or not head else head


def _absolute(node, here):
    """The module an ImportFrom names, relative imports resolved against the file's module."""
    if node.level == 0:
        return node.module
    base = here.split(".")
    is_package = here in PACKAGES or here.endswith("__init__")
    base = base if is_package else base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(path):
    """Our modules that `path` imports, by statement or by name."""
    here = _module_name(path)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, here)
            found |= {f"{module}.{alias.name}" for alias in node.names} | {module}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and NAMED.match(node.value):
            found.add(node.value)  # __import__("X"), importlib.import_module("X") or a list of such names
    return {_existing(name) for name in found if OURS.match(name)}


_ALL_MODULES = {_module_name(p) for p in _package_files()} | set(MODULE_FILES)


def _top(name):
    return name.split(".")[0]


def _allowed_top(path):
    """The highest package a file may import."""
    if path.parent == REPO / "Testing":
        return next((layer for prefix, layer in TEST_LAYERS if path.name.startswith(prefix)), "LGECore")
    if path.stem in MODULE_FILES and path.parent.name == path.stem:
        return MODULE_FILES[path.stem]
    return _top(_module_name(path))


@pytest.mark.parametrize("path", _package_files() + _module_files()
                         + [p for p in _test_files() if p.name != "test_layering.py"],
                         ids=lambda p: str(p.relative_to(REPO)))
def test_no_upward_import(path):
    limit = LAYER[_allowed_top(path)]
    imports = imported_modules(path)
    if path.parent == REPO / "Testing":
        imports -= {ENTRY, "ScarSynthLib"}  # `from ScarSynthLib import cli`
    upward = sorted(name for name in imports if _top(name) in LAYER and LAYER[_top(name)] > limit)
    assert not upward, f"{path.name} imports {upward}, above {_allowed_top(path)}"
    modules = sorted(name for name in imports if _top(name) in MODULE_FILES)
    if path.parent != REPO / "Testing":
        assert not modules, f"{path.name} imports the Slicer module file(s) {modules}"


def _graph():
    graph = {}
    for path in _package_files():
        here = _module_name(path)
        graph[here] = {name for name in imported_modules(path) if name != here and name in _ALL_MODULES}
    return graph


def _cycle(graph):
    """One import circle as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_circle():
    cycle = _cycle(_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_checks_see_what_they_claim(tmp_path):
    """The reader catches name-based and relative imports, and the circle finder a circle."""
    sample = PACKAGES["LGECore"] / "io.py"
    assert "LGECore.volume" in imported_modules(sample)
    path = tmp_path / "probe.py"
    path.write_text("import importlib\nimportlib.import_module('ScarSynthLib.cli')\n__import__('ScarSegmentLib')\n")
    assert {"ScarSynthLib.cli", "ScarSegmentLib"} <= imported_modules(path)
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
