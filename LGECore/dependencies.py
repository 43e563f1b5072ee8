"""Install the Python packages a module needs on first use, after asking the user.

torch comes from Slicer's PyTorch extension (PyTorchUtils picks the build that fits the GPU);
everything else from the module's Resources/requirements.txt through pip.
"""

import importlib
import importlib.util
from importlib import metadata
from pathlib import Path

TORCH_REQUIREMENT = ">=2.0"


class MissingDependencies(RuntimeError):
    """Packages a module needs are missing and were not installed."""


def missing_modules(names):
    """The import names among `names` that cannot be imported (checked without importing)."""
    return [name for name in names if importlib.util.find_spec(name) is None]


def read_requirements(path):
    """Requirement strings of a requirements.txt (comments and blank lines dropped)."""
    lines = (line.split("#", 1)[0].strip() for line in Path(path).read_text().splitlines())
    return [line for line in lines if line]


def missing_requirements(requirements):
    """The requirements not satisfied by the installed distributions."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pip always carries a copy
        from pip._vendor.packaging.requirements import Requirement

    missing = []
    for text in requirements:
        requirement = Requirement(text)
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            missing.append(text)
            continue
        if requirement.specifier and installed not in requirement.specifier:
            missing.append(text)
    return missing


def _install_torch():
    try:
        import PyTorchUtils
    except ModuleNotFoundError:
        raise MissingDependencies(
            "This module needs the PyTorch extension: install 'PyTorch' from the Extensions "
            "Manager, restart Slicer and try again.") from None
    logic = PyTorchUtils.PyTorchUtilsLogic()
    if not logic.torchInstalled():
        if logic.installTorch(askConfirmation=False, torchVersionRequirement=TORCH_REQUIREMENT) is None:
            raise MissingDependencies("PyTorch could not be installed.")


def ensure_dependencies(requirements_file, need_torch=True, ask=True):
    """Make torch (when `need_torch`) and the requirements importable, asking the user first.

    Raises MissingDependencies when the user declines or an installation fails.
    """
    import slicer

    missing = missing_requirements(read_requirements(requirements_file))
    torch_missing = need_torch and bool(missing_modules(["torch"]))
    if not missing and not torch_missing:
        return
    names = (["torch (through the PyTorch extension)"] if torch_missing else []) + missing
    question = ("This module needs Python packages that are not installed yet:\n\n  "
                + "\n  ".join(names)
                + "\n\nDownload and install them now? This can take several minutes.")
    if ask and not slicer.util.confirmOkCancelDisplay(question, "Install Python packages"):
        raise MissingDependencies("Not installed: " + ", ".join(names) + ".")
    if torch_missing:
        _install_torch()
    if missing:
        slicer.util.pip_install(missing)
    importlib.invalidate_caches()
    still_missing = missing_requirements(missing)
    if still_missing:
        raise MissingDependencies("Installation failed for: " + ", ".join(still_missing) + ".")
