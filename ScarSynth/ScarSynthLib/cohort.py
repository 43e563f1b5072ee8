"""`scarsynth run STUDIES_DIR -o OUT`: every study of a folder, one output folder each, one table.

A folder of studies holds image files (one study each) and/or DICOM study folders (one subfolder
each). Each study runs through the same pipeline as a single `run`, into a hidden staging folder
in OUT that is renamed to OUT/STUDY once complete: a study's folder is there whole or not at all,
which is what --resume relies on. A study that fails becomes a row with its reason and the others
go on. `--shard K/N` runs every N-th study, for the tasks of a job array; `cohort-merge` joins
their tables (cohort_table.py).
"""

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from LGECore.errors import InputError

from .cohort_table import TABLE, failed_row, shard_table_name, study_row, write_table

# In a study's folder, written last by the pipeline (report.html) and read by the table (metrics.json)
COMPLETE_MARKERS = ("metrics.json", "report.html")


@dataclass(frozen=True)
class Study:
    name: str  # its output folder: the image file's stem, or the subfolder's name
    path: Path
    index: int  # 1-based place in the sorted list of all the folder's studies


def parse_shard(text):
    """'K/N' -> (K - 1, N), refused as --fold K/N is; one shard of one is allowed."""
    from ScarSegmentLib.folds import parse_part

    return parse_part(text, option="--shard", part="shard", fewest=1)


def is_cohort(path):
    """Whether `path` is a folder of studies rather than one study (an image file, a DICOM folder).

    One study, as `run` has always read it: a folder that directly holds DICOM images, or one whose
    subfolders (and no image files) hold the series of a single DICOM study (an export with a
    folder per series). Anything else with image files or subfolders is a folder of studies."""
    path = Path(path)
    if not path.is_dir() or _holds_dicom_directly(path):
        return False
    files, folders = _entries(path)
    if files:
        return True
    studies = {_dicom_study(folder) for folder in folders} - {None}
    if not studies:
        raise InputError(f"The folder {path} holds no DICOM images, no image files ({', '.join(_suffixes())}) "
                         "and no subfolder with DICOM images; give an LGE image, a DICOM folder, or a "
                         "folder of studies (image files and/or one DICOM folder per study).")
    return len(studies) > 1


def _suffixes():
    from LGECore.io import IMAGE_SUFFIXES

    return IMAGE_SUFFIXES


def _holds_dicom_directly(folder):
    from LGECore.dicom import first_image

    try:
        return first_image(folder, recursive=False, skip_suffixes=_suffixes()) is not None
    except InputError:  # a damaged DICOM file: a DICOM folder, whose reading will name the file
        return True


def _dicom_study(folder):
    """The DICOM study UID of the first image under `folder`; None without DICOM images; a name of
    its own for a damaged file, so that the folder counts as a study apart."""
    from LGECore.dicom import first_image

    try:
        header = first_image(folder, skip_suffixes=_suffixes())
    except InputError:
        return f"damaged: {folder}"
    return None if header is None else header.study_uid


def _entries(folder):
    """(image files, subfolders) directly in `folder`; hidden entries and .seg.nrrd label maps left out."""
    from LGECore.io import SEG_NRRD_SUFFIX, image_stem

    files, folders = [], []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_dir():
            folders.append(path)
        elif image_stem(path.name) and not path.name.lower().endswith(SEG_NRRD_SUFFIX):
            files.append(path)
    return files, folders


def list_studies(folder):
    """The studies of a folder of studies, sorted by name, numbered from 1; InputError when two
    would share an output folder."""
    from LGECore.io import image_stem

    files, folders = _entries(Path(folder))
    named = {}
    for path in files + folders:
        name = path.name if path.is_dir() else image_stem(path.name)
        if name in named:
            raise InputError(f"{named[name].name} and {path.name} in {folder} would both be written to the "
                             f"study folder {name}; rename one of them.")
        if name == TABLE or name.startswith("cohort_shard_"):
            raise InputError(f"{path.name} in {folder}: a study named {name} would clash with the cohort "
                             "table; rename it.")
        named[name] = path
    return [Study(name, named[name], index) for index, name in enumerate(sorted(named), start=1)]


def check_folders(studies_dir, outdir):
    """InputError when the output folder is, or lies inside, the studies folder, or holds it."""
    studies, out = Path(studies_dir).resolve(), Path(outdir).resolve()
    if out == studies or studies in out.parents or out in studies.parents:
        raise InputError(f"The output folder {outdir} and the folder of studies {studies_dir} must lie apart "
                         "(neither inside the other): the inputs are never written to.")


def check_network(weights):
    """Load the deep model once, before any study (the studies then share it), so that weights that
    are missing or broken are one error up front, not one failure per study."""
    try:
        from ScarSegmentLib.segmenter import load_scar_stage, load_segmenter, scar_calibration
    except ImportError as error:
        raise InputError(f"The deep segmentation model is not available here ({error}).") from None
    load_segmenter(weights)
    load_scar_stage(weights)
    scar_calibration(weights)


def run_cohort(studies, outdir, run_one, resume=False, shard=None):
    """Run `studies` (all, or those of `shard` (K - 1, N)) into OUT/STUDY each and write the table.

    `run_one(path, folder)` runs one study into `folder` (which it creates). Returns the exit
    code: 0 when every study has its folder, 2 when some failed, 130 on Ctrl-C."""
    from tqdm import tqdm

    outdir = Path(outdir)
    chosen = studies if shard is None else [s for s in studies if (s.index - 1) % shard[1] == shard[0]]
    outdir.mkdir(parents=True, exist_ok=True)
    rows, resumed = [], 0
    bar = tqdm(chosen, desc="studies", unit="study", file=sys.stderr, dynamic_ncols=True)
    try:
        for study in bar:
            bar.set_postfix_str(study.name)
            row, was_resumed = _study_result(study, len(studies), outdir, run_one, resume)
            resumed += was_resumed
            if row["status"] == "failed":
                tqdm.write(f"scarsynth run: study {study.name} failed: {row['reason']}", file=sys.stderr)
            rows.append(row)
    except KeyboardInterrupt:
        bar.close()
        print(f"scarsynth run: interrupted after {len(rows)} of {len(chosen)} studies; their folders are "
              "complete, and `--resume` goes on from there (no table was written).", file=sys.stderr)
        return 130
    bar.close()
    table = write_table(rows, outdir / shard_table_name(shard))
    return _summary(rows, resumed, table)


def _summary(rows, resumed, table):
    failed = sum(row["status"] == "failed" for row in rows)
    earlier = f" ({resumed} done earlier, skipped)" if resumed else ""
    print(f"{len(rows)} studies: {len(rows) - failed} ok{earlier}, {failed} failed; table: {table}")
    if failed:
        print(f"scarsynth run: {failed} of {len(rows)} studies failed; their reasons are in {table}.",
              file=sys.stderr)
        return 2
    return 0


def _study_result(study, count, outdir, run_one, resume):
    """(table row, whether --resume skipped it) of one study, which never raises but for Ctrl-C."""
    target = outdir / study.name
    if resume:
        row = _finished_row(study, count, target)
        if row is not None:
            return row, True
    try:
        _write_study(study, target, run_one)
        return study_row(study, count, target), False
    except Exception as error:  # noqa: BLE001 - one study's failure, whatever it is, must not end the cohort
        return failed_row(study, count, _reason(error)), False


def _reason(error):
    from LGECore.errors import ScarSynthError

    if isinstance(error, (ScarSynthError, OSError)):
        return str(error)
    return f"{type(error).__name__}: {error}"  # unforeseen: its type helps whoever reads the table


def _finished_row(study, count, folder):
    """The row of a study whose folder is complete (its markers there and readable), else None."""
    if not all((folder / name).is_file() for name in COMPLETE_MARKERS):
        return None
    try:
        return study_row(study, count, folder)
    except (OSError, ValueError, KeyError, TypeError):  # damaged: the study runs again
        return None


def _write_study(study, target, run_one):
    """Run one study into a staging folder beside `target` and rename it into place, so that
    `target` is absent or complete. An earlier folder of the study is replaced whole."""
    staging = Path(tempfile.mkdtemp(prefix=f".{study.name}.", dir=target.parent))
    try:
        run_one(study.path, staging / study.name)
        earlier = staging / "earlier"
        if target.is_dir() and not target.is_symlink():
            os.replace(target, earlier)
        try:
            os.replace(staging / study.name, target)
        except OSError:
            if earlier.exists():
                os.replace(earlier, target)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
