"""The one entry of every command line: parse, run the subcommand, turn errors into messages.

`main(argv, command_modules)` builds one argparse parser from modules that each have
`register(subparsers)` (adding their subcommands with `func` set), runs the chosen subcommand and
handles every error the same way: a ScarSynthError or an OS error is one line
`scarsynth COMMAND: error: message` with exit code 2, Ctrl-C exit code 130. `scarsynth`
(ScarSynthLib.cli) passes all commands; a Lib that runs one of its own commands in a background
process passes only its own modules, so it needs nothing above it.
"""

import argparse
import importlib
import sys

from .errors import ScarSynthError

PROG = "scarsynth"
DESCRIPTION = "Myocardial scar in LGE MRI: phantoms, segmentation, AHA bullseye, synthesis."


def build_parser(command_modules):
    """The parser with the subcommands of every module in `command_modules` (names or modules)."""
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module in command_modules:
        module = importlib.import_module(module) if isinstance(module, str) else module
        module.register(subparsers)
    return parser


def main(argv, command_modules):
    """Run one subcommand; returns the exit code."""
    args = build_parser(command_modules).parse_args(argv)
    try:
        return args.func(args) or 0
    except (ScarSynthError, OSError) as error:  # OSError: a folder that cannot be written, a full disk
        print(f"{PROG} {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted; no output was written.", file=sys.stderr)
        return 130
