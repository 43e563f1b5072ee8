"""The Slicer extension's files: panels, module files, CMake lists, icons, catalog entry, layering."""

import ast
import fnmatch
import json
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODULES = ("AHABullseye", "ScarSegment", "ScarSynth")
LIBS = {"LGECore": REPO / "LGECore", **{f"{module}Lib": REPO / module / f"{module}Lib" for module in MODULES}}
HEAVY = {"torch", "monai", "diffusers"}


def _imported_roots(node):
    """Top package names imported by an Import/ImportFrom node (relative imports give none)."""
    if isinstance(node, ast.Import):
        return {alias.name.split(".")[0] for alias in node.names}
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return {node.module.split(".")[0]}
    return set()


def _import_time_imports(tree):
    """Packages imported when the file is imported: everything outside function bodies."""
    found, stack = set(), [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        found |= _imported_roots(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def _all_imports(tree):
    return set().union(*(_imported_roots(node) for node in ast.walk(tree)))


def _parse(path):
    return ast.parse(path.read_text(), filename=str(path))


def _module_file(module):
    return REPO / module / f"{module}.py"


def _ui_tree(module):
    return ET.parse(REPO / module / "Resources" / "UI" / f"{module}.ui")


def _lib_files():
    return sorted(path for lib in LIBS.values() for path in lib.rglob("*.py"))


# --- panels -----------------------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES)
def test_ui_is_a_designer_file_for_its_module(module):
    root = _ui_tree(module).getroot()
    assert root.tag == "ui" and root.get("version") == "4.0"
    top = root.find("widget")
    assert top.get("class") == "qMRMLWidget" and top.get("name") == module
    classes = {w.get("class") for w in root.iter("widget")}
    assert {"ctkCollapsibleButton", "qMRMLNodeComboBox"} <= classes
    declared = {c.findtext("class") for c in root.iter("customwidget")}
    assert {c for c in classes if c.startswith(("ctk", "qMRML"))} <= declared


@pytest.mark.parametrize("module", MODULES)
def test_ui_names_every_widget_the_module_file_uses(module):
    names = {w.get("name") for w in _ui_tree(module).getroot().iter("widget")}
    used = {node.attr for node in ast.walk(_parse(_module_file(module)))
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
            and node.value.attr == "ui" and isinstance(node.value.value, ast.Name)
            and node.value.value.id == "self"}
    assert used, "the module file uses no widget of its panel"
    assert used <= names, f"widgets missing from {module}.ui: {sorted(used - names)}"


@pytest.mark.parametrize("module", MODULES)
def test_ui_parameter_names_are_fields_of_the_parameter_node(module):
    tree = _parse(_module_file(module))
    wrapper = next(node for node in tree.body if isinstance(node, ast.ClassDef)
                   and any(getattr(d, "id", None) == "parameterNodeWrapper" for d in node.decorator_list))
    assert wrapper.name == f"{module}ParameterNode"
    fields = {s.target.id for s in wrapper.body if isinstance(s, ast.AnnAssign)}
    bound = {p.findtext("string") for p in _ui_tree(module).getroot().iter("property")
             if p.get("name") == "SlicerParameterName"}
    assert bound and bound <= fields, f"unknown parameters in {module}.ui: {sorted(bound - fields)}"


@pytest.mark.parametrize("module", MODULES)
def test_every_node_selector_gets_the_scene(module):
    root = _ui_tree(module).getroot()
    selectors = {w.get("name") for w in root.iter("widget") if w.get("class") == "qMRMLNodeComboBox"}
    connected = {c.findtext("receiver") for c in root.iter("connection")
                 if c.findtext("signal") == "mrmlSceneChanged(vtkMRMLScene*)"
                 and c.findtext("slot") == "setMRMLScene(vtkMRMLScene*)"}
    assert selectors and selectors <= connected


def test_scar_synth_panel_has_the_17_segment_checkboxes():
    names = {w.get("name") for w in _ui_tree("ScarSynth").getroot().iter("widget")
             if w.get("class") == "QCheckBox"}
    assert {f"segment{n}CheckBox" for n in range(1, 18)} <= names


# --- module files -------------------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES)
def test_module_file_compiles_and_follows_the_scripted_module_template(module):
    path = _module_file(module)
    tree = compile(path.read_text(), str(path), "exec", ast.PyCF_ONLY_AST)
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    bases = {name: {getattr(b, "id", None) for b in node.bases} for name, node in classes.items()}
    assert "ScriptedLoadableModule" in bases[module]
    assert "ScriptedLoadableModuleWidget" in bases[f"{module}Widget"]
    assert "ScriptedLoadableModuleLogic" in bases[f"{module}Logic"]
    assert "ScriptedLoadableModuleTest" in bases[f"{module}Test"]
    text = path.read_text()
    assert f'resourcePath("UI/{module}.ui")' in text
    assert "connectGui(self.ui)" in text and "tryWithErrorDisplay" in text
    assert '"Cardiac"' in text


@pytest.mark.parametrize("path", [_module_file(m) for m in MODULES]
                         + _lib_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_heavy_import_at_import_time(path):
    heavy = _import_time_imports(_parse(path)) & HEAVY
    assert not heavy, f"{path.name} imports {sorted(heavy)} at import time; import it inside a function"


# --- what a Lib may import (the order of the layers is checked in test_layering.py) --------------


@pytest.mark.parametrize("path", _lib_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_only_scene_files_touch_slicer(path):
    imports = _all_imports(_parse(path))
    assert not imports & {"qt", "ctk"}, f"{path.name} imports Qt; the core must not"
    if not path.name.startswith("scene") and path.name not in ("panel.py", "dependencies.py"):
        assert not imports & {"slicer", "vtk"}, "only scene*.py (and the panel helpers) may import slicer/vtk"
    assert not imports & set(MODULES), f"{path.name} imports a Slicer module file"


# --- CMake, requirements, icons, catalog -------------------------------------------------------


def _cmake_variable(text, name):
    match = re.search(rf'set\({name}\s+"([^"]*)"\)', text)
    assert match, f"{name} is not set"
    return match.group(1)


def test_top_level_cmake_describes_the_extension():
    text = (REPO / "CMakeLists.txt").read_text()
    assert re.search(r"^project\(ScarSynth\)", text, re.M)
    assert _cmake_variable(text, "EXTENSION_CATEGORY") == "Cardiac"
    assert "PyTorch" in _cmake_variable(text, "EXTENSION_DEPENDS").split()
    assert _cmake_variable(text, "EXTENSION_ICONURL").endswith("/ScarSynth.png")
    assert "/Screenshots/" in _cmake_variable(text, "EXTENSION_SCREENSHOTURLS")
    for name in ("EXTENSION_HOMEPAGE", "EXTENSION_CONTRIBUTORS", "EXTENSION_DESCRIPTION"):
        assert _cmake_variable(text, name)
    for line in ("find_package(Slicer REQUIRED)", "include(${Slicer_USE_FILE})",
                 "include(${Slicer_EXTENSION_GENERATE_CONFIG})", "include(${Slicer_EXTENSION_CPACK})"):
        assert line in text
    assert re.findall(r"add_subdirectory\((\w+)\)", text) == ["LGECore", *MODULES]  # ground package first


def _installed_by_cmake(module):
    """Files the module's CMakeLists.txt installs: explicit names plus what its globs match."""
    text = (REPO / module / "CMakeLists.txt").read_text().replace("${MODULE_NAME}", module)
    patterns = re.findall(r"[\w/.*]+\.(?:py|safetensors|json|md|png|ui|txt)", text)
    files = [p.relative_to(REPO / module).as_posix() for p in (REPO / module).rglob("*")
             if p.is_file() and "__pycache__" not in p.parts]
    return text, {f for f in files if any(fnmatch.fnmatch(f, pattern) for pattern in patterns)}


@pytest.mark.parametrize("module", MODULES)
def test_module_cmake_installs_every_lib_file_and_resource(module):
    text, installed = _installed_by_cmake(module)
    assert "slicerMacroBuildScriptedModule(" in text and "WITH_GENERIC_TESTS" in text
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)".replace("${MODULE_NAME}", module) in text
    expected = {f"{module}.py", f"Resources/Icons/{module}.png", f"Resources/UI/{module}.ui",
                "Resources/requirements.txt"}
    expected |= {p.relative_to(REPO / module).as_posix() for p in (REPO / module).rglob("*.py")
                 if "__pycache__" not in p.parts}
    missing = expected - installed
    assert not missing, f"{module}/CMakeLists.txt does not install {sorted(missing)}"
    for pattern in ("Lib/weights/*.safetensors", "Lib/weights/*.json", "Lib/weights/*.md"):
        assert f"{module}{pattern}" in text


@pytest.mark.parametrize("module", MODULES)
def test_requirements_leave_torch_to_the_pytorch_extension(module):
    from packaging.requirements import Requirement

    from LGECore.dependencies import read_requirements

    path = REPO / module / "Resources" / "requirements.txt"

    names = {Requirement(line).name.lower() for line in read_requirements(path)}
    assert names and "torch" not in names


def _png_size(path):
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("path", [REPO / "ScarSynth.png"] + [
    REPO / m / "Resources" / "Icons" / f"{m}.png" for m in MODULES], ids=lambda p: p.name)
def test_icons_are_128_pixel_pngs(path):
    assert _png_size(path) == (128, 128)


def test_catalog_entry_matches_the_extension():
    entry = json.loads((REPO / "ScarSynth.json").read_text())
    cmake = (REPO / "CMakeLists.txt").read_text()
    assert entry["$schema"].startswith("https://raw.githubusercontent.com/Slicer/Slicer/")
    assert entry["category"] == _cmake_variable(cmake, "EXTENSION_CATEGORY")
    assert entry["build_dependencies"] == ["PyTorch"]
    assert entry["scm_url"].startswith("https://") and entry["scm_revision"]
    assert entry["build_subdirectory"] == "."


# --- Slicer-side helpers that work without Slicer --------------------------------------------------


def test_missing_requirements_finds_absent_and_too_old_packages(tmp_path):
    from LGECore.dependencies import missing_modules, missing_requirements, read_requirements

    path = tmp_path / "requirements.txt"
    path.write_text("# comment\nnumpy\n\nnumpy>=999  # too new to exist\nno-such-package-xyz\n")
    requirements = read_requirements(path)
    assert requirements == ["numpy", "numpy>=999", "no-such-package-xyz"]
    assert missing_requirements(requirements) == ["numpy>=999", "no-such-package-xyz"]
    assert missing_modules(["numpy", "no_such_module_xyz"]) == ["no_such_module_xyz"]


def test_ground_package_cmake_installs_every_file():
    """LGECore is no module: its CMakeLists.txt compiles and installs all of its .py files into
    the scripted modules' folder, where the three modules import it."""
    text = (REPO / "LGECore" / "CMakeLists.txt").read_text()
    assert "ctkMacroCompilePythonScript(" in text and "TARGET_NAME LGECore" in text
    assert re.search(r"GLOB_RECURSE LGECORE_PYTHON_SCRIPTS .*\n\s*\*\.py", text)
    assert "${Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR}/LGECore" in text


def test_every_panel_runs_its_work_through_one_helper():
    """run_from_panel shows the bar while the work runs, hides it after, and turns Cancel into the
    panel's words; the three module files all use it."""
    from types import SimpleNamespace

    from LGECore.panel import Cancelled, run_from_panel

    bar, label = SimpleNamespace(value=50, visible=False), SimpleNamespace(text="")
    seen = []
    assert run_from_panel(lambda progress: seen.append(bar.visible) or "done", bar, None, label) == "done"
    assert seen == [True] and bar.visible is False and bar.value == 0

    def cancelled(progress):
        raise Cancelled("Cancelled by the user.")

    assert run_from_panel(cancelled, bar, None, label, cancelled="Abgebrochen.") == "Abgebrochen."
    assert bar.visible is False
    for module in MODULES:
        text = _module_file(module).read_text()
        assert "panel.run_from_panel(" in text and "PanelProgress(" not in text
