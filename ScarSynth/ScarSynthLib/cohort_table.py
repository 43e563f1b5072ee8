"""The cohort table of `scarsynth run STUDIES_DIR`: one row per study, its key figures and its
AHA per-segment figures; the tables of shards (`--shard K/N`) merged into one.

A row is read back from the files a study's folder holds (metrics.json, aha.json), both for a study
just run and for one that --resume skips, so the table always says what the folders say.
"""

import csv
import io
import json
import re
from pathlib import Path

from LGECore.errors import InputError
from LGECore.outputs import write_text_atomic

TABLE = "cohort.csv"
SHARD_TABLE = re.compile(r"^cohort_shard_(\d+)_of_(\d+)\.csv$")

KEY_FIGURES = ("myocardium_volume_ml", "myocardium_mass_g", "scar_volume_ml", "scar_mass_g",
               "scar_burden_percent", "mvo_volume_ml", "mvo_percent_of_myocardium",
               *(f"{zone}_{definition}_{unit}" for definition in ("sd", "max")
                 for zone in ("infarct_core", "grey_zone") for unit in ("volume_ml", "percent")))
TERRITORIES = ("LAD", "LCX", "RCA")
# per-segment figure in aha.json -> its name in the table (seg01_scar_percent, ...)
SEGMENT_FIGURES = {"scar_percent": "scar_percent", "transmurality_mean_percent": "transmurality_percent",
                   "mvo_ml": "mvo_ml", "grey_zone_sd_percent": "grey_zone_sd_percent"}
SEGMENTS = range(1, 18)

COLUMNS = (
    "study_index", "study_count", "study", "input", "status", "reason", "method", "model",
    *KEY_FIGURES,
    *(f"{territory.lower()}_scar_percent" for territory in TERRITORIES),
    *(f"seg{segment:02d}_{name}" for name in SEGMENT_FIGURES.values() for segment in SEGMENTS),
    "warnings",
)


def shard_table_name(shard):
    """The table of shard (K - 1, N): cohort_shard_K_of_N.csv; cohort.csv without a shard."""
    if shard is None:
        return TABLE
    return f"cohort_shard_{shard[0] + 1}_of_{shard[1]}.csv"


def _row(study, count, status, reason=""):
    return {"study_index": study.index, "study_count": count, "study": study.name,
            "input": study.path.name, "status": status, "reason": reason}


def failed_row(study, count, reason):
    """The row of a study that could not be run, with why (one line)."""
    return _row(study, count, "failed", " ".join(str(reason).split()))


def study_row(study, count, folder):
    """The row of a finished study, from its folder's metrics.json and aha.json. OSError or
    ValueError (KeyError, JSON errors) when the folder lacks them or they are damaged."""
    folder = Path(folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    row = _row(study, count, "ok")
    row.update(method=metrics["method"], model=metrics.get("weights", ""))
    row.update({key: _rounded(metrics[key]) for key in KEY_FIGURES})
    warnings = list(metrics.get("warnings", []))
    aha_file = folder / "aha.json"
    if aha_file.exists():
        aha = json.loads(aha_file.read_text())
        row.update(_aha_figures(aha))
        warnings += aha.get("aha", {}).get("warnings", [])
    else:
        warnings.append("No AHA quantification (the report says why).")
    row["warnings"] = " | ".join(" ".join(str(w).split()) for w in warnings)
    return row


def _aha_figures(aha):
    figures = {}
    for territory in aha["territories"]:
        if territory["segment"] in TERRITORIES:
            figures[f"{territory['segment'].lower()}_scar_percent"] = territory["scar_percent"]
    for segment in aha["segments"]:
        for key, name in SEGMENT_FIGURES.items():
            figures[f"seg{int(segment['segment']):02d}_{name}"] = segment[key]
    return figures


def _rounded(value):
    return round(value, 4) if isinstance(value, float) else value


def write_table(rows, path):
    """The table, whole or not at all, rows in study order."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda row: int(row["study_index"])))
    return write_text_atomic(text.getvalue(), path)


def read_table(path):
    """The rows of a cohort table (values as text); InputError for a file that is not one."""
    try:
        with open(path, newline="") as stream:
            reader = csv.DictReader(stream)
            rows = list(reader)
            columns = tuple(reader.fieldnames or ())
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"Could not read the table {Path(path).name}: {error}") from None
    if columns != COLUMNS:
        raise InputError(f"{Path(path).name} is not a cohort table as `scarsynth run` writes it "
                         "(its columns differ); run that shard again.")
    return rows


def merge_shards(outdir):
    """Merge OUT/cohort_shard_K_of_N.csv (all N of them) into OUT/cohort.csv; returns (path, rows).

    InputError before anything is written when the tables do not make one cohort: shards of
    different N, a shard missing, a study in two shards or in none."""
    outdir = Path(outdir)
    shards = _shard_tables(outdir)
    rows, seen = [], {}
    for (index, count), path in sorted(shards.items()):
        for row in read_table(path):
            _check_row_in_shard(row, index, count, path)
            if row["study"] in seen:
                raise InputError(f"The study {row['study']} is in both {seen[row['study']]} and {path.name}; "
                                 "each study belongs in one shard (were they run on different folders?).")
            seen[row["study"]] = path.name
            rows.append(row)
    _check_every_study_once(rows)
    return write_table(rows, outdir / TABLE), rows


def _shard_tables(outdir):
    """{(K, N): path} of the shard tables in `outdir`, all of one N and none missing."""
    if not outdir.is_dir():
        raise InputError(f"{outdir} is not a folder; give the output folder of the `run --shard K/N` tasks.")
    found = {}
    for path in outdir.iterdir():
        match = SHARD_TABLE.match(path.name)
        if match:
            found[(int(match.group(1)), int(match.group(2)))] = path
    if not found:
        raise InputError(f"{outdir} holds no shard tables (cohort_shard_K_of_N.csv, written by "
                         "`scarsynth run STUDIES_DIR -o OUT --shard K/N`).")
    counts = sorted({count for _, count in found})
    if len(counts) > 1:
        names = ", ".join(sorted(path.name for path in found.values()))
        raise InputError(f"The shard tables in {outdir} come from different shard counts N ({names}); "
                         "merge the tables of one --shard K/N run only (remove the others).")
    count = counts[0]
    stray = sorted(path.name for (k, _), path in found.items() if not 1 <= k <= count)
    if stray:
        raise InputError(f"{', '.join(stray)} in {outdir}: no shard K of {count} has that K; remove it.")
    missing = [str(k) for k in range(1, count + 1) if (k, count) not in found]
    if missing:
        raise InputError(f"Shard(s) {', '.join(missing)} of {count} have no table in {outdir} "
                         f"(cohort_shard_K_of_{count}.csv); run them (--shard K/{count}) before merging.")
    return found


def _check_row_in_shard(row, index, count, path):
    """Shard K of N holds the studies whose (study_index - 1) % N == K - 1."""
    try:
        study_index = int(row["study_index"])
    except ValueError:
        raise InputError(f"{path.name}: '{row['study_index']}' is not a study index.") from None
    if (study_index - 1) % count != index - 1:
        raise InputError(f"{path.name} holds study {row['study']} (number {study_index}), which belongs in "
                         f"shard {(study_index - 1) % count + 1} of {count}; were the shards run on "
                         "different folders?")


def _check_every_study_once(rows):
    """Every study 1..study_count once, all tables counting the same studies."""
    counts = {row["study_count"] for row in rows}
    if len(counts) > 1:
        raise InputError(f"The shard tables count different numbers of studies ({', '.join(sorted(counts))}): "
                         "they were run on different folders; run every shard on one folder.")
    if not rows:
        return
    total = int(counts.pop())
    indices = [int(row["study_index"]) for row in rows]
    if len(set(indices)) != len(indices):
        raise InputError("Two rows of the shard tables share a study number; run the shards again on one folder.")
    missing = sorted(set(range(1, total + 1)) - set(indices))
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise InputError(f"Studies number {shown} of {total} are in no shard table; run their shards again.")
