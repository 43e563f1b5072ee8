"""Request objects: one dataclass per command whose fields are its options.

A field made with `option(...)` carries its command-line flag, help and argparse settings, so one
definition gives the defaults, the command-line arguments (`add_arguments`) and the object back
from parsed arguments (`from_args`); the class's `check()` holds the checks that a panel, the CLI
and Python all pass through.
"""

import argparse
import math
from dataclasses import MISSING, field, fields


def option(default, flag, help, **argparse_settings):
    """A request field with default `default`, given on the command line as `flag`."""
    return field(default=default, metadata={"flag": flag, "help": help, **argparse_settings})


def add_arguments(parser, request_class, only=None, **changes):
    """One argparse option per `option` field (or per field named in `only`); `changes` maps a
    field name to argparse settings that replace its own here (another default, other choices)."""
    for item in fields(request_class):
        if "flag" not in item.metadata or (only is not None and item.name not in only):
            continue
        settings = {**item.metadata, **changes.get(item.name, {})}
        flag = settings.pop("flag")
        settings.setdefault("default", None if item.default is MISSING else item.default)
        parser.add_argument(flag, dest=item.name, **settings)


def from_args(request_class, args):
    """The request whose fields are the parsed arguments of the same names."""
    values = {item.name: getattr(args, item.name) for item in fields(request_class) if hasattr(args, item.name)}
    return request_class(**values)


def seed(text):
    """argparse type of a random seed: a whole number of at least 0 (numpy refuses negative ones),
    so a bad seed is a one-line usage error before any work."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"a seed is a whole number of at least 0; got {text!r}")
    return value


def number_in(kind, low, high=math.inf, above=False):
    """argparse type of a finite `kind` (int or float) from `low` (excluded when `above`) to `high`,
    so that an option out of range is a one-line usage error before any work."""
    least = (f"of at least {low + 1 if above else low}" if kind is int
             else f"{'above' if above else 'of at least'} {low:g}")
    wanted = f"{'a whole' if kind is int else 'a finite'} number {least}"
    wanted += f" and at most {high:g}" if high < math.inf else ""

    def convert(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value < low or (above and value == low) or value > high:
            raise argparse.ArgumentTypeError(f"expected {wanted}; got {text!r}")
        return value

    return convert
