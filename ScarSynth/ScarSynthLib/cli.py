"""The `scarsynth` command line: one subcommand per feature, for batch work without Slicer.

Each module in COMMAND_MODULES has `register(subparsers)`, which adds its subcommands and sets
`func` on them; the module's heavy imports happen inside those functions. Parsing and error
handling are LGECore.command_line's, shared with the background commands of the Libs.
"""

import importlib
import sys

from LGECore import command_line

COMMAND_MODULES = (
    "AHABullseyeLib.cli",
    "LGECore.phantom_cli",
    "ScarSegmentLib.train_cli",
    "ScarSegmentLib.weak_cli",
    "ScarSegmentLib.cli",
    "ScarSynthLib.run_cli",
    "ScarSynthLib.synth_cli",
    "ScarSynthLib.train_synth_cli",
)


def _lib_weights_dirs():
    """The shipped models' folders: each Lib names its own."""
    from ScarSegmentLib.segmenter import WEIGHTS_DIR as segmenter_weights

    from .diffusion_model import WEIGHTS_DIR as generator_weights

    return [segmenter_weights, generator_weights]


def _info(args):
    import platform

    from LGECore import models

    print(f"ScarSynth {importlib.import_module('ScarSynthLib').__version__}")
    print(f"Python {platform.python_version()} on {platform.system()} {platform.machine()}")
    for package in ("numpy", "SimpleITK", "torch", "monai", "diffusers", "slicerio", "matplotlib"):
        try:
            version = importlib.import_module(package).__version__
        except ImportError:
            version = "not installed"
        print(f"{package:12s} {version}")
    try:
        import torch

        device = f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
        print(f"device       {device}, {torch.get_num_threads()} CPU threads")
    except ImportError:
        print("device       unknown (torch is not installed)")
    print("model folders:")
    lib_dirs = _lib_weights_dirs()
    for folder in models.model_dirs(lib_dirs):
        print(f"  {folder}")
    for entry in models.list_models(lib_dirs):
        print(f"  model {entry['name']}: {entry['path']}")
    return 0


def build_parser():
    return command_line.build_parser([sys.modules[__name__], *COMMAND_MODULES])


def register(subparsers):
    """This module's own subcommand, `info`."""
    info = subparsers.add_parser("info", help="print versions, compute device and model folders")
    info.set_defaults(func=_info)


def main(argv=None):
    return command_line.main(argv, [sys.modules[__name__], *COMMAND_MODULES])


if __name__ == "__main__":
    sys.exit(main())
