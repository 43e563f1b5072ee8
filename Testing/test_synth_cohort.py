"""`scarsynth run STUDIES_DIR`: a folder of studies, one output folder per study, one cohort table;
a failing study, --resume, --shard K/N with `cohort-merge`, and what is refused before any work."""

import csv
import io
import json
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from LGECore.io import write_volume
from LGECore.phantom import make_phantom
from LGECore.volume import Volume
from test_dicom import write_dicom

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STUDIES = ["case_a", "case_b", "case_c", "x"]  # sorted: shard 1/2 holds case_a and case_c


def run_here(*args):
    """(exit code, stdout, stderr) of one `scarsynth` command line run in this process."""
    from ScarSynthLib.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exit:  # argparse's usage errors
            code = exit.code
    return code, out.getvalue(), err.getvalue()


def read_rows(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def snapshot(folder):
    return {path: path.read_bytes() for path in sorted(Path(folder).rglob("*")) if path.is_file()}


def small_phantom(seed, **scar):
    return make_phantom(seed=seed, n_slices=6, matrix_size=96, pixel_spacing=2.0, look="scanner", **scar)


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """A NIfTI study, an NRRD study, a DICOM study folder, a broken file and a file that is no study."""
    folder = tmp_path_factory.mktemp("studies")
    write_volume(small_phantom(1, territory="LAD", transmurality=0.6).image, folder / "case_a.nii.gz")
    write_volume(small_phantom(2).image, folder / "case_b.nrrd")
    image = small_phantom(3, territory="RCA").image
    write_dicom(image.with_array(np.round(image.array)), folder / "case_c")
    (folder / "x.nii.gz").write_text("not an image\n")
    (folder / "notes.txt").write_text("not a study\n")
    return folder


@pytest.fixture(scope="module")
def cohort(studies, tmp_path_factory, one_torch_thread):
    """The whole folder run once: (OUT, exit code, stdout, stderr)."""
    from ScarSegmentLib.cli import network_available

    if not network_available():
        pytest.skip("a folder of studies needs the deep model, which is not installed")
    before = snapshot(studies)
    out = tmp_path_factory.mktemp("cohort") / "out"
    code, stdout, stderr = run_here("run", studies, "-o", out)
    assert snapshot(studies) == before, "the inputs changed"
    return out, code, stdout, stderr


def test_every_study_gets_its_folder_and_row_and_a_broken_one_fails_alone(cohort):
    out, code, stdout, stderr = cohort
    assert code == 2 and "Traceback" not in stderr
    failures = [line for line in stderr.splitlines() if "failed:" in line]
    assert len(failures) == 1 and failures[0].startswith("scarsynth run: study x failed:") and "x.nii.gz" in failures[0]
    assert stderr.splitlines()[-1] == f"scarsynth run: 1 of 4 studies failed; their reasons are in {out / 'cohort.csv'}."
    assert "4 studies: 3 ok, 1 failed" in stdout
    assert sorted(path.name for path in out.iterdir()) == ["case_a", "case_b", "case_c", "cohort.csv"]  # no staging left
    rows = {row["study"]: row for row in read_rows(out / "cohort.csv")}
    assert list(rows) == STUDIES and [rows[s]["study_index"] for s in STUDIES] == ["1", "2", "3", "4"]
    assert rows["x"]["status"] == "failed" and "x.nii.gz" in rows["x"]["reason"]
    assert rows["x"]["scar_volume_ml"] == rows["x"]["seg01_scar_percent"] == ""
    for name in STUDIES[:3]:
        row, folder = rows[name], out / name
        metrics, aha = (json.loads((folder / f).read_text()) for f in ("metrics.json", "aha.json"))
        assert row["status"] == "ok" and row["reason"] == "" and row["method"] == "dl"
        assert float(row["myocardium_volume_ml"]) == pytest.approx(metrics["myocardium_volume_ml"], abs=1e-4)
        assert metrics["myocardium_volume_ml"] > 10
        assert float(row["scar_burden_percent"]) == pytest.approx(metrics["scar_burden_percent"], abs=1e-4)
        assert float(row["grey_zone_max_volume_ml"]) == pytest.approx(metrics["grey_zone_max_volume_ml"], abs=1e-4)
        for segment in aha["segments"]:
            for key, column in (("scar_percent", "scar_percent"), ("mvo_ml", "mvo_ml"),
                                ("transmurality_mean_percent", "transmurality_percent"),
                                ("grey_zone_sd_percent", "grey_zone_sd_percent")):
                value = segment[key]
                assert row[f"seg{segment['segment']:02d}_{column}"] == ("" if value is None else str(value))
    assert rows["case_c"]["input"] == "case_c"
    assert json.loads((out / "case_c" / "metrics.json").read_text())["input"] == "case_c: series 10 'LGE SAX' (6 slices)"


def test_the_table_has_the_key_figures_and_the_17_aha_segments(cohort):
    with open(cohort[0] / "cohort.csv", newline="") as stream:
        header = next(csv.reader(stream))
    assert {"study", "status", "reason", "method", "myocardium_volume_ml", "myocardium_mass_g", "scar_volume_ml",
            "scar_mass_g", "scar_burden_percent", "mvo_volume_ml"} <= set(header)
    for figure in ("scar_percent", "transmurality_percent", "mvo_ml"):
        assert [c for c in header if c.startswith("seg") and c.endswith(figure)] == [
            f"seg{n:02d}_{figure}" for n in range(1, 18)]


def test_resume_skips_complete_studies_and_still_lists_them(cohort, studies, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(cohort[0], out)
    done = {path.name: (path.stat().st_mtime_ns, path.read_bytes()) for path in (out / "case_a").iterdir()}
    shutil.rmtree(out / "case_b")  # never renamed into place: a run stopped while on it
    (out / "case_c" / "report.html").unlink()  # not complete
    code, stdout, stderr = run_here("run", studies, "-o", out, "--resume")
    assert code == 2 and "Traceback" not in stderr
    assert {path.name: (path.stat().st_mtime_ns, path.read_bytes()) for path in (out / "case_a").iterdir()} == done
    assert (out / "case_b" / "report.html").is_file() and (out / "case_c" / "report.html").is_file()
    assert "3 ok (1 done earlier, skipped), 1 failed" in stdout
    assert read_rows(out / "cohort.csv") == read_rows(cohort[0] / "cohort.csv")


def test_two_shards_and_their_merge_make_the_unsharded_table(cohort, studies, tmp_path):
    out = tmp_path / "out"
    code, _, stderr = run_here("run", studies, "-o", out, "--shard", "1/2")
    assert code == 0, stderr
    assert sorted(path.name for path in out.iterdir()) == ["case_a", "case_c", "cohort_shard_1_of_2.csv"]
    code, _, stderr = run_here("run", studies, "-o", out, "--shard", "2/2")
    assert code == 2 and "study x failed" in stderr
    assert [row["study"] for row in read_rows(out / "cohort_shard_2_of_2.csv")] == ["case_b", "x"]
    code, stdout, stderr = run_here("cohort-merge", out)
    assert code == 0, stderr
    assert "4 studies (1 failed)" in stdout
    assert read_rows(out / "cohort.csv") == read_rows(cohort[0] / "cohort.csv")


def write_shard(folder, shard, count, names, leave_out=()):
    """The table --shard SHARD/COUNT writes for a folder of studies `names` (all failed: no figures needed)."""
    from ScarSynthLib.cohort import Study
    from ScarSynthLib.cohort_table import failed_row, shard_table_name, write_table

    rows = [failed_row(Study(name, Path(f"{name}.nii.gz"), index), len(names), "unreadable")
            for index, name in enumerate(names, start=1)
            if (index - 1) % count == shard - 1 and name not in leave_out]
    write_table(rows, folder / shard_table_name((shard - 1, count)))


@pytest.mark.parametrize("tables, words", [
    ([], "holds no shard tables"),
    ([(1, 2, "abc"), (2, 2, "abc"), (1, 3, "abc")], "different shard counts"),
    ([(1, 2, "abc")], "Shard(s) 2 of 2 have no table"),
    ([(1, 2, "abc"), (2, 2, "acd")], "The study c is in both"),  # the folder changed between the shards
    ([(1, 2, "abc"), (2, 2, "abcd")], "count different numbers of studies"),
    ([(1, 2, "abc"), (2, 2, "abc", "b")], "Studies number 2 of 3 are in no shard table"),
], ids=["none", "different-n", "missing-shard", "duplicate", "other-folder", "missing-study"])
def test_merge_refuses_tables_that_do_not_make_one_cohort(tmp_path, tables, words):
    for shard, count, names, *leave_out in tables:
        write_shard(tmp_path, shard, count, list(names), leave_out)
    code, _, stderr = run_here("cohort-merge", tmp_path)
    errors = [line for line in stderr.splitlines() if "error:" in line]
    assert code == 2 and len(errors) == 1 and words in errors[0], stderr
    assert not (tmp_path / "cohort.csv").exists()


@pytest.mark.parametrize("argv, words", [
    (["{studies}", "-o", "{out}", "--shard", "0/3"], "--shard K/N needs"),
    (["{studies}", "-o", "{out}", "--shard", "4/3"], "--shard K/N needs"),
    (["{studies}", "-o", "{out}", "--shard", "x"], "--shard must look like K/N"),
    (["{studies}/case_a.nii.gz", "-o", "{out}", "--shard", "1/2"], "--shard splits a folder of studies"),
    (["{studies}", "-o", "{out}", "--method", "nsd", "--myocardium", "{studies}/case_a.nii.gz"],
     "a folder of studies takes none"),
    (["{studies}", "-o", "{studies}"], "must lie apart"),
    (["{studies}", "-o", "{studies}/out"], "must lie apart"),
    (["{tmp}/empty", "-o", "{out}"], "holds no DICOM images, no image files"),
    (["{tmp}/no_images", "-o", "{out}"], "no subfolder with DICOM images"),
    (["{tmp}/clash", "-o", "{out}"], "would both be written to the study folder a"),
], ids=["shard-0", "shard-4-of-3", "shard-x", "shard-one-study", "myocardium", "out-is-studies",
        "out-in-studies", "empty", "no-images", "name-clash"])
def test_bad_cohort_input_is_refused_before_any_work(studies, tmp_path, argv, words):
    (tmp_path / "empty").mkdir()
    (tmp_path / "no_images" / "sub").mkdir(parents=True)
    (tmp_path / "no_images" / "sub" / "notes.txt").write_text("no image\n")
    (tmp_path / "clash").mkdir()
    for name in ("a.nii.gz", "a.nrrd"):
        shutil.copy(studies / "case_a.nii.gz", tmp_path / "clash" / name)
    before = snapshot(studies)
    argv = [a.format(studies=studies, out=tmp_path / "out", tmp=tmp_path) for a in argv]
    code, _, stderr = run_here("run", *argv)
    errors = [line for line in stderr.splitlines() if "error:" in line]
    assert code == 2 and len(errors) == 1 and words in errors[0], stderr
    assert not (tmp_path / "out").exists() and snapshot(studies) == before


def test_a_folder_is_one_dicom_study_or_a_folder_of_studies_by_what_it_holds(tmp_path):
    from ScarSynthLib.cohort import is_cohort

    stack = Volume(np.random.default_rng(0).uniform(0, 500, (4, 16, 16)).astype(np.float32), spacing=(1.5, 1.5, 8.0))
    write_dicom(stack, tmp_path / "series")
    assert not is_cohort(tmp_path / "series")  # DICOM images directly inside: one study, as always
    write_dicom(stack, tmp_path / "export" / "mag", series_number=5)
    write_dicom(stack, tmp_path / "export" / "psir", series_number=6, description="LGE SAX PSIR")
    assert not is_cohort(tmp_path / "export")  # the series of one DICOM study, a subfolder each
    write_dicom(stack, tmp_path / "patients" / "p1", study_uid="1.2.826.0.1.3680043.2.1125.1.1")
    write_dicom(stack, tmp_path / "patients" / "p2", study_uid="1.2.826.0.1.3680043.2.1125.1.2")
    assert is_cohort(tmp_path / "patients")  # two DICOM studies
    write_volume(stack, tmp_path / "export" / "other.nii.gz")
    assert is_cohort(tmp_path / "export")  # an image file beside the folders: each is a study
    assert not is_cohort(tmp_path / "export" / "other.nii.gz")


def test_a_dicom_series_folder_still_runs_as_one_study(tmp_path):
    phantom = small_phantom(3, territory="RCA")
    write_dicom(phantom.image.with_array(np.round(phantom.image.array)), tmp_path / "dicom")
    myocardium = write_volume(phantom.labels, tmp_path / "myocardium.nii.gz")
    code, _, stderr = run_here("run", tmp_path / "dicom", "-o", tmp_path / "out", "--method", "nsd",
                               "--myocardium", myocardium)
    assert code == 0, stderr
    assert (tmp_path / "out" / "report.html").is_file() and not (tmp_path / "out" / "cohort.csv").exists()


def test_a_folder_of_real_studies(emidec_dir, tmp_path, one_torch_thread):
    """Two shared real cases as a folder of studies: both rows ok, their figures those of their
    folders (the export lost the spacing: 1 mm voxels, so a few mL of myocardium)."""
    from ScarSegmentLib.cli import network_available

    if not network_available():
        pytest.skip("a folder of studies needs the deep model, which is not installed")
    studies = tmp_path / "studies"
    studies.mkdir()
    for name in ("Case_N006", "Case_P002"):
        shutil.copy(emidec_dir / name / "Images" / f"{name}.nii.gz", studies / f"{name}.nii.gz")
    code, _, stderr = run_here("run", studies, "-o", tmp_path / "out")
    assert code == 0, stderr
    rows = read_rows(tmp_path / "out" / "cohort.csv")
    assert [row["study"] for row in rows] == ["Case_N006", "Case_P002"]
    for row in rows:
        metrics = json.loads((tmp_path / "out" / row["study"] / "metrics.json").read_text())
        assert row["status"] == "ok" and metrics["myocardium_volume_ml"] > 1
        assert float(row["scar_volume_ml"]) == pytest.approx(metrics["scar_volume_ml"], abs=1e-4)
