"""Weak labels: whether scar is present, per slice or per stack, from a CSV file or the dataset.

The file (`--labels`) has a header and one row per slice or per case:

    case,slice,scar          case,scar
    Case_P001,0,yes          Case_P001,yes
    Case_P001,1,no           Case_N001,no

`scar` is yes/no (also 1/0, true/false); `slice` counts from 0 along the stack as the image file
stores it (Slicer's K index). A slice-level file serves a stack-level run too: a stack holds
scar when any of its slices does. Cases the file does not name are left out of the weak steps.
Without a file the labels come from the dataset: for stacks the EMIDEC names (Case_P*
pathological, Case_N* normal), for slices the label maps, read only as yes/no per slice.
"""

import csv
import re

import numpy as np

from LGECore import labels as L
from LGECore.errors import InputError

ANSWERS = {"yes": True, "no": False, "1": True, "0": False, "true": True, "false": False}
EMIDEC_NAME = re.compile(r"Case_([NP])\d+")


def _scar_answer(text, where):
    answer = ANSWERS.get(str(text).strip().lower())
    if answer is None:
        raise InputError(f"{where}: scar must be yes or no (or 1/0, true/false); got {text!r}.")
    return answer


def _slice_number(text, where):
    text = str(text or "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise InputError(f"{where}: slice must be a whole number from 0; got {text!r}.")
    return int(text)


def _rows(path):
    """The file's rows as dicts, with the line numbers to name in messages."""
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip().lower() for name in (reader.fieldnames or [])]
            missing = [name for name in ("case", "scar") if name not in header]
            if missing:
                raise InputError(f"--labels {path.name}: the header must name the columns case and scar "
                                 f"(and slice for slices); {', '.join(missing)} missing.")
            reader.fieldnames = header
            return [(reader.line_num, row) for row in reader], "slice" in header
    except (UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"--labels {path.name} is not a readable CSV file ({error}).") from None


def read_labels_file(path):
    """{case: {slice or None: scar yes/no}} from a labels file; InputError naming the file and
    line of the first bad row."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise InputError(f"--labels: file not found: {path}")
    rows, has_slices = _rows(path)
    found = {}
    for line, row in rows:
        where = f"--labels {path.name}, line {line}"
        case = str(row.get("case") or "").strip()
        if not case:
            raise InputError(f"{where}: the case is empty.")
        number = _slice_number(row.get("slice"), where) if has_slices else None
        slices = found.setdefault(case, {})
        if number in slices:
            raise InputError(f"{where}: {case}{'' if number is None else f' slice {number}'} is given twice.")
        if slices and (number is None) != (None in slices):
            raise InputError(f"{where}: {case} is given both as a whole stack and slice by slice.")
        slices[number] = _scar_answer(row.get("scar"), where)
    if not found:
        raise InputError(f"--labels {path.name} holds no rows.")
    return found


def check_case_names(found, names, path_name):
    """InputError for a case the labels file names that the dataset does not hold."""
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise InputError(f"--labels {path_name} names cases the dataset does not hold: {', '.join(unknown[:5])}.")


def _case_labels(case, given, level, path_name):
    """yes/no per slice (slice level) or one yes/no (stack level) of one case from its rows."""
    if None in given:
        if level == "slice":
            raise InputError(f"--labels {path_name}: a slice-level run needs a slice column; {case.name} has none.")
        return given[None]
    count = case.image.shape[0]
    outside = sorted(number for number in given if number >= count)
    if outside:
        raise InputError(f"--labels {path_name}: {case.name} has {count} slices (0 to {count - 1}); "
                         f"got slice {outside[0]}.")
    if level == "stack":
        return any(given.values())
    if len(given) != count:
        raise InputError(f"--labels {path_name}: {case.name} lists {len(given)} of its {count} slices; "
                         "give every slice of a case it names.")
    return np.array([given[z] for z in range(count)], dtype=bool)


def derived_labels(case, level):
    """A case's yes/no from the dataset itself: its name (stacks; phantoms by their label maps),
    or its label map read as scar / no scar per slice."""
    if level == "slice":
        return np.isin(case.labels, L.SCAR_LABELS).any(axis=(1, 2))
    if case.name.startswith("Phantom_"):
        return bool(np.isin(case.labels, L.SCAR_LABELS).any())
    match = EMIDEC_NAME.fullmatch(case.name)
    if not match:
        raise InputError(f"Cannot tell from the name {case.name} whether it holds scar (EMIDEC: Case_P* "
                         "pathological, Case_N* normal); give the yes/no labels with --labels.")
    return match.group(1) == "P"


def weak_labels(cases, level, found=None, path_name=""):
    """{case name: yes/no per slice (bool array) or per stack (bool)} of the cases that have
    labels: those `found` in a labels file (phantoms always from their own label maps), or all."""
    labels = {}
    for case in cases:
        if found is not None and not case.name.startswith("Phantom_"):
            if case.name in found:
                labels[case.name] = _case_labels(case, found[case.name], level, path_name)
        else:
            labels[case.name] = derived_labels(case, level)
    answers = np.concatenate([np.atleast_1d(value) for value in labels.values()]) if labels else np.array([])
    if not (answers.any() and not answers.all()):
        source = f"--labels {path_name}" if found is not None else "The dataset"
        raise InputError(f"{source} gives no {level} {'with' if not answers.any() else 'without'} scar; the "
                         f"classifier needs {level}s of both kinds.")
    return labels
