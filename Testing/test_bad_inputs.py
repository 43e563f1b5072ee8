"""The bad-input corpus: every command, broken as a new user would break it.

Each case runs one `scarsynth` command line in this process and asserts what a user is owed: exit
code 2 (130 for Ctrl-C), a one-line message naming the problem, no traceback, every input byte
as it was, and no output (nor any half-written or staging file) left behind. The broken files are
made once by bad_input_files.build_inputs; "{in}" below is their folder, "{out}" an output path
that must not exist afterwards.
"""

import importlib
import os

import pytest

from bad_input_files import build_inputs, restore, snapshot

pytestmark = pytest.mark.usefixtures("one_torch_thread")

IMAGE_FILES = [  # (file in {in}, words the message must hold)
    ("nan.nii.gz", "NaN"), ("inf.nii.gz", "infinite"), ("constant.nii.gz", "constant"),
    ("2d.nii.gz", "2D"), ("4d.nii.gz", "4D"), ("rgb.nii.gz", "components"),
    ("truncated.nii", "truncated"), ("truncated.nii.gz", "truncated.nii.gz"), ("text.nii.gz", "text.nii.gz"),
    ("empty.nii.gz", "empty.nii.gz"), ("notes.txt", "notes.txt"), ("missing.nii.gz", "No such file"),
    ("a_folder.nii.gz", "a_folder.nii.gz"), ("spacing_30mm.nii.gz", "mm across"),
    ("spacing_1000mm.nii.gz", "implausible"), ("nan_slice_spacing.nrrd", "spacing"),
    ("huge_header.nii.gz", "the most ScarSynth reads"),
]
LABEL_FILES = [
    ("labels_7.nii.gz", "7"), ("labels_fraction.nii.gz", "whole"), ("labels_negative.nii.gz", "-1"),
    ("labels_off_grid.nii.gz", "not on the same grid"), ("labels_short.nii.gz", "shape"),
    ("nan.nii.gz", "NaN"), ("text.nii.gz", "text.nii.gz"),
]
WEIGHT_FILES = [
    ("pickle.safetensors", "pickle.safetensors"), ("text.safetensors", "text.safetensors"),
    ("weights.pt", ".safetensors"), ("nan_model/model.json", "not finite"), ("wrong_sha/model.json", "sha256"),
    ("pickle_model/model.json", "Could not read weights"), ("broken_entry", "registry entry"), ("no_such_model", "not found"),
]
SEGMENT = ["segment", "{in}/lge.nii.gz", "-o", "{out}"]
NSD = SEGMENT + ["--method", "nsd", "--myocardium", "{in}/labels.nii.gz"]
SYNTH = ["synth", "{in}/lge.nii.gz", "{in}/labels.nii.gz", "-o", "{out}"]
SYNTH_RANDOM = SYNTH + ["--random", "--mask-only"]
# A dataset whose labels are refused: an option checked only after the data is read shows up as this error.
TRAIN_SEG, TRAIN_SYNTH, TRAIN_JOINT = ([command, "{in}/dataset_bad_labels", "-o", "{out}"]
                                      for command in ("train-seg", "train-synth", "train-joint"))
TRAIN_WEAK = ["train-weak", "{in}/dataset_bad_labels", "-o", "{out}", "--level", "slice"]


def _image_cases():
    for name, words in IMAGE_FILES:
        yield f"segment-{name}", ["segment", f"{{in}}/{name}", "-o", "{out}"], words
        yield f"run-{name}", ["run", f"{{in}}/{name}", "-o", "{out}"], words
    for name, words in IMAGE_FILES[:6]:
        yield f"segment-nsd-{name}", ["segment", f"{{in}}/{name}", "-o", "{out}", "--method", "nsd"], words
        yield f"synth-image-{name}", ["synth", f"{{in}}/{name}", "{in}/labels.nii.gz", "-o", "{out}", "--random"], \
            words
        yield f"aha-image-{name}", ["aha", "{in}/labels.nii.gz", "--image", f"{{in}}/{name}", "-o", "{out}"], words


def _label_cases():
    for name, words in LABEL_FILES:
        yield f"myocardium-{name}", SEGMENT + ["--method", "fwhm", "--myocardium", f"{{in}}/{name}"], words
        yield f"aha-{name}", ["aha", f"{{in}}/{name}", "--image", "{in}/lge.nii.gz", "-o", "{out}"], words
        yield f"evaluate-{name}", ["evaluate", f"{{in}}/{name}", "{in}/labels.nii.gz"], words
        yield f"synth-labels-{name}", ["synth", "{in}/lge.nii.gz", f"{{in}}/{name}", "-o", "{out}", "--random"], words
    yield "remote-off-grid", NSD + ["--remote", "{in}/labels_off_grid.nii.gz"], "not on the same grid"
    yield "remote-text", NSD + ["--remote", "{in}/text.nii.gz"], "text.nii.gz"
    yield "aha-no-myocardium", ["aha", "{in}/labels_empty.nii.gz", "-o", "{out}"], "myocardium"
    yield "synth-no-myocardium", ["synth", "{in}/lge.nii.gz", "{in}/labels_empty.nii.gz", "-o", "{out}", "--random"], "myocardium"


def _weight_cases():
    for name, words in WEIGHT_FILES:
        yield f"segment-weights-{name}", SEGMENT + ["--weights", f"{{in}}/{name}"], words
        yield f"synth-weights-{name}", SYNTH + ["--random", "--weights", f"{{in}}/{name}"], words
    yield "train-seg-init-pickle", TRAIN_SEG + ["--init-weights", "{in}/pickle.safetensors"], "pickle.safetensors"
    yield "train-seg-init-single-network", TRAIN_SEG + ["--init-weights", "{in}/wrong_sha/model.json"], "not a cascade"
    yield "train-synth-init-text", TRAIN_SYNTH + ["--init-weights", "{in}/text.safetensors"], "text.safetensors"
    yield "train-joint-generator-sha", TRAIN_JOINT + ["--generator-weights", "{in}/wrong_sha/model.json"], "sha256"


def _option_cases():
    yield from [
        ("segment-method", SEGMENT + ["--method", "otsu"], "invalid choice"),
        ("segment-device", SEGMENT + ["--device", "tpu"], "invalid choice"),
        ("segment-sd-negative", NSD + ["--sd", "-2"], "--sd"),
        ("segment-sd-nan", NSD + ["--sd", "nan"], "--sd"),
        ("segment-sd-word", NSD + ["--sd", "five"], "--sd"),
        ("segment-spacing-zero", NSD + ["--spacing", "0", "1", "1"], "spacing"),
        ("segment-spacing-nan", NSD + ["--spacing", "nan", "1", "1"], "spacing"),
        ("segment-spacing-huge", NSD + ["--spacing", "1.5", "1.5", "1e308"], "implausible"),
        ("segment-spacing-two", NSD + ["--spacing", "1.5", "1.5"], "--spacing"),
        ("segment-dicom-from-nifti", NSD + ["--dicom"], "give a DICOM folder"),
        ("run-dicom-phantom", ["run", "-o", "{out}", "--dicom"], "the phantom has none"),
        ("run-seed", ["run", "-o", "{out}", "--seed", "-1"], "seed"),
        ("run-look", ["run", "-o", "{out}", "--look", "psir"], "invalid choice"),
        ("run-apex", ["run", "-o", "{out}", "--apex", "middle"], "invalid choice"),
        ("run-shard", ["run", "{in}/dataset_bad_labels", "-o", "{out}", "--shard", "3/2"], "--shard"),
        ("run-shard-one-study", ["run", "{in}/lge.nii.gz", "-o", "{out}", "--shard", "1/2"], "--shard"),
        ("run-rv-nan", ["run", "{in}/lge.nii.gz", "-o", "{out}", "--method", "nsd", "--myocardium",
                        "{in}/labels.nii.gz", "--rv-insertion", "nan", "0", "0"], "insertion"),
        ("aha-rv-two-numbers", ["aha", "{in}/labels.nii.gz", "-o", "{out}", "--rv-insertion", "1,2"], "X,Y,Z"),
        ("aha-rv-inf", ["aha", "{in}/labels.nii.gz", "-o", "{out}", "--rv-insertion", "inf,0,0"], "X,Y,Z"),
        ("aha-direction", ["aha", "{in}/labels.nii.gz", "-o", "{out}", "--direction", "up"], "invalid choice"),
        ("evaluate-spacing", ["evaluate", "{in}/labels.nii.gz", "{in}/labels.nii.gz", "--spacing", "-1", "1", "1"], "spacing"),
        ("evaluate-xlsx", ["evaluate", "{in}/labels.nii.gz", "{in}/labels.nii.gz", "-o", "{out}.xlsx"], ".json or .csv"),
        ("evaluate-file-and-folder", ["evaluate", "{in}/labels.nii.gz", "{in}/dataset_empty"], "dataset_empty is a folder"),
        ("synth-segment-18", SYNTH + ["--segments", "18"], "18"),
        ("synth-segment-word", SYNTH + ["--segments", "apex"], "apex"),
        ("synth-territory", SYNTH + ["--territory", "LMCA"], "LMCA"),
        ("synth-transmurality", SYNTH_RANDOM + ["--transmurality", "1.5"], "transmurality"),
        ("synth-extent", SYNTH_RANDOM + ["--extent", "-1"], "extent"),
        ("synth-steps-zero", SYNTH + ["--random", "--steps", "0"], "steps"),
        ("synth-steps-many", SYNTH + ["--random", "--steps", "100000"], "steps"),
        ("synth-device", SYNTH + ["--random", "--device", "tpu"], "tpu"),
        ("synth-seed", SYNTH_RANDOM + ["--seed", "-1"], "seed"),
        ("synth-rv", SYNTH_RANDOM + ["--rv-insertion", "1,2,x"], "X,Y,Z"),
        ("phantom-slices", ["phantom", "-o", "{out}.nii.gz", "--slices", "0"], "slices"),
        ("phantom-matrix", ["phantom", "-o", "{out}.nii.gz", "--matrix", "8"], "matrix"),
        ("phantom-pixel-nan", ["phantom", "-o", "{out}.nii.gz", "--pixel-spacing", "nan"], "spacing"),
        ("phantom-slice-zero", ["phantom", "-o", "{out}.nii.gz", "--slice-spacing", "0"], "spacing"),
        ("phantom-segments", ["phantom", "-o", "{out}.nii.gz", "--segments", "0,1"], "segment"),
        ("phantom-transmurality", ["phantom", "-o", "{out}.nii.gz", "--transmurality", "2"], "transmurality"),
        ("phantom-look", ["phantom", "-o", "{out}.nii.gz", "--look", "ct"], "invalid choice"),
        ("phantom-suffix", ["phantom", "-o", "{out}.txt"], ".nii.gz"),
        ("phantom-seed", ["phantom", "-o", "{out}.nii.gz", "--seed", "x"], "seed"),
    ]


def _dataset_cases():
    for command in ("train-seg", "train-synth", "train-joint", "synth-dataset", "evaluate-synth"):
        output = [] if command == "evaluate-synth" else ["-o", "{out}"]
        yield f"{command}-empty", [command, "{in}/dataset_empty", *output], "No cases"
        yield f"{command}-a-file", [command, "{in}/notes.txt", *output], "notes.txt"
        yield f"{command}-missing", [command, "{in}/no_dataset", *output], "no_dataset"
        if command != "evaluate-synth":
            yield f"{command}-nan-image", [command, "{in}/dataset_nan_image", *output], "NaN"
    train, generator, joint = TRAIN_SEG, TRAIN_SYNTH, TRAIN_JOINT
    yield from [
        ("train-seg-bad-labels", ["train-seg", "{in}/dataset_bad_labels", "-o", "{out}", "--preset", "tiny"], "7"),
        ("train-seg-epochs", train + ["--epochs", "0"], "epochs"),
        ("train-seg-batch", train + ["--batch-size", "0"], "batch"),
        ("train-seg-lr-nan", train + ["--learning-rate", "nan"], "learning rate"),
        ("train-seg-lr-negative", train + ["--learning-rate", "-0.1"], "learning rate"),
        ("train-seg-threads", train + ["--threads", "0"], "threads"),
        ("train-seg-fold-6", train + ["--fold", "6/5"], "fold"),
        ("train-seg-fold-word", train + ["--fold", "one"], "fold"),
        ("train-seg-phantoms", train + ["--phantoms", "-1"], "phantoms"),
        ("train-seg-name", train + ["--name", "../elsewhere"], "name"),
        ("train-seg-resume-nothing", train + ["--resume"], "Nothing to resume"),
        ("train-seg-output-file", ["train-seg", "{in}/dataset_bad_labels", "-o", "{in}/notes.txt"], "is a file"),
        ("train-synth-steps", generator + ["--steps", "0"], "steps"),
        ("train-synth-batch", generator + ["--batch-size", "-4"], "batch"),
        ("train-synth-lr", generator + ["--learning-rate", "inf"], "--learning-rate"),
        ("train-synth-cases", generator + ["--max-cases", "0"], "--max-cases"),
        ("train-synth-every", generator + ["--checkpoint-every", "0"], "checkpoint"),
        ("train-synth-device", generator + ["--device", "tpu"], "tpu"),
        ("train-synth-resume", generator + ["--resume"], "resume"),
        ("train-joint-consistency", joint + ["--consistency-weight", "nan"], "consistency"),
        ("train-joint-warmup", joint + ["--segmenter-warmup", "-1"], "warmup"),
        ("synth-dataset-count", ["synth-dataset", "{in}/dataset_bad_labels", "-o", "{out}", "-n", "0"], "-n"),
        ("synth-dataset-share", ["synth-dataset", "{in}/dataset_bad_labels", "-o", "{out}", "--non-ischaemic", "2"], "non-ischaemic"),
        *_weak_cases(),
        ("evaluate-synth-steps", ["evaluate-synth", "{in}/dataset_bad_labels", "--steps", "0"], "steps"),
        ("evaluate-synth-strength", ["evaluate-synth", "{in}/dataset_bad_labels", "--strength", "2"], "strength"),
        ("evaluate-synth-json-over-input", ["evaluate-synth", "{in}/dataset_bad_labels", "--json", "{in}/labels.nii.gz"], ".json"),
        ("evaluate-synth-montage-over-input", ["evaluate-synth", "{in}/dataset_bad_labels", "--montage", "{in}/lge.nii.gz"], ".png"),
    ]


def _weak_cases():
    """train-weak: its options and its yes/no label files, refused before any image is read (the
    dataset's own labels are refused when it is, as "7")."""
    weak = TRAIN_WEAK
    return [
        ("train-weak-level", weak[:4] + ["--level", "voxel"], "invalid choice"),
        ("train-weak-no-level", weak[:4], "--level"),
        ("train-weak-bad-labels", weak + ["--preset", "tiny"], "7"),
        ("train-weak-empty", ["train-weak", "{in}/dataset_empty", "-o", "{out}", "--level", "stack"], "No cases"),
        ("train-weak-missing", ["train-weak", "{in}/no_dataset", "-o", "{out}", "--level", "stack"], "no_dataset"),
        ("train-weak-labels-missing", weak + ["--labels", "{in}/no_labels.csv"], "file not found"),
        ("train-weak-labels-folder", weak + ["--labels", "{in}/dataset_empty"], "is a folder"),
        ("train-weak-labels-image", weak + ["--labels", "{in}/lge.nii.gz"], "not a readable CSV"),
        ("train-weak-labels-value", weak + ["--labels", "{in}/weak_labels_bad_value.csv"], "line 2: scar must be yes"),
        ("train-weak-labels-slice", weak + ["--labels", "{in}/weak_labels_bad_slice.csv"], "line 2: slice must be"),
        ("train-weak-labels-case", weak + ["--labels", "{in}/weak_labels_unknown_case.csv"], "Case_X009"),
        ("train-weak-labels-twice", weak + ["--labels", "{in}/weak_labels_twice.csv"], "line 3: Case_P001 is given twice"),
        ("train-weak-labels-columns", weak + ["--labels", "{in}/weak_labels_no_columns.csv"], "case and scar"),
        ("train-weak-pooling", weak + ["--pooling-sharpness", "0"], "--pooling-sharpness"),
        ("train-weak-epochs", weak + ["--epochs", "0"], "epochs"),
        ("train-weak-fold", weak + ["--fold", "6/5"], "fold"),
        ("train-weak-resume-nothing", weak + ["--resume"], "Nothing to resume"),
        ("train-weak-init-single-network", weak + ["--init-weights", "scar_segmenter_2d"], "not a cascade"),
        ("train-weak-anatomy-single-network", weak + ["--anatomy-weights", "{in}/wrong_sha/model.json"], "not a cascade"),
        ("train-weak-anatomy-pickle", weak + ["--anatomy-weights", "{in}/pickle.safetensors"], "pickle.safetensors"),
    ]


def _overwrite_cases():
    """Outputs named like inputs, or put where a file is."""
    yield from [
        ("segment-into-inputs", ["segment", "{in}/lge.nii.gz", "-o", "{in}", "--method", "nsd", "--myocardium",
                                 "{in}/labels.nii.gz"], "Refusing to overwrite"),
        ("run-into-inputs", ["run", "{in}/lge.nii.gz", "-o", "{in}", "--method", "nsd", "--myocardium",
                             "{in}/labels.nii.gz"], "Refusing to overwrite"),
        ("aha-into-inputs", ["aha", "{in}/aha_segments.nii.gz", "-o", "{in}"], "Refusing to overwrite"),
        ("synth-into-inputs", ["synth", "{in}/lge.nii.gz", "{in}/labels.nii.gz", "-o", "{in}", "--random",
                               "--mask-only"], "overwrite"),
        ("evaluate-over-input", ["evaluate", "{in}/dataset_bad_labels", "{in}/dataset_nan_image", "-o",
                                 "{in}/dataset_bad_labels/cases.csv"], "overwrite"),
        ("evaluate-synth-over-input", ["evaluate-synth", "{in}/dataset_bad_labels", "--montage",
                                       "{in}/dataset_bad_labels/figures.png"], "overwrite"),
        ("segment-output-is-a-file", ["segment", "{in}/lge.nii.gz", "-o", "{in}/notes.txt"], "is a file"),
        ("aha-output-under-a-file", ["aha", "{in}/labels.nii.gz", "-o", "{in}/notes.txt/out"], "is a file"),
        *_under_a_file_cases(),
        ("synth-dataset-into-itself", ["synth-dataset", "{in}/dataset_bad_labels", "-o", "{in}/dataset_bad_labels"], "dataset"),
    ]


def _under_a_file_cases():
    """An output path below a file (notes.txt/...): refused before any work, for every command."""
    under = "{in}/notes.txt/out"
    commands = {
        "segment": ["segment", "{in}/lge.nii.gz", "-o", under],
        "run": ["run", "-o", under],
        "synth": SYNTH_RANDOM[:4] + [under] + SYNTH_RANDOM[5:],
        "synth-dataset": ["synth-dataset", "{in}/dataset_nan_image", "-o", under],
        "train-seg": ["train-seg", "{in}/dataset_bad_labels", "-o", under],
        "train-synth": ["train-synth", "{in}/dataset_bad_labels", "-o", under],
        "train-joint": ["train-joint", "{in}/dataset_bad_labels", "-o", under],
        "train-weak": TRAIN_WEAK[:3] + [under, "--level", "slice"],
        "phantom": ["phantom", "-o", under + "/case.nii.gz"],
        "evaluate": ["evaluate", "{in}/labels.nii.gz", "{in}/labels.nii.gz", "-o", under + "/m.csv"],
        "evaluate-synth": ["evaluate-synth", "{in}/dataset_bad_labels", "--json", under + "/f.json"],
        "cohort-merge": ["cohort-merge", under],
    }
    return [(f"{name}-output-under-a-file", argv, "notes.txt") for name, argv in commands.items()]


CASES = [*_image_cases(), *_label_cases(), *_weight_cases(), *_option_cases(), *_dataset_cases(), *_overwrite_cases()]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = build_inputs(tmp_path_factory.mktemp("inputs"))
    (folder / "aha_segments.nii.gz").write_bytes((folder / "labels.nii.gz").read_bytes())
    return folder, snapshot(folder)


def scarsynth_here(capsys, argv):
    """(exit code, stderr) of one command line run in this process; any other exception escapes."""
    from ScarSynthLib.cli import main

    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's usage errors
        code = exit.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_broken_input_is_refused_cleanly(inputs, tmp_path, capsys, argv, words):
    folder, before = inputs
    out = tmp_path / "out"
    argv = [part.replace("{in}", str(folder)).replace("{out}", str(out)) for part in argv]
    code, stderr = scarsynth_here(capsys, argv + (["--no-progress"] if argv[0].startswith("train") else []))
    assert code == 2, stderr
    message = [line for line in stderr.splitlines() if "error:" in line]
    assert len(message) == 1 and words in message[0], stderr
    assert "Traceback" not in stderr
    changed = restore(folder, before)  # put back, so that one failure does not spoil the next cases
    assert not changed, f"inputs changed, added or removed: {changed}"
    assert not os.listdir(tmp_path), f"left behind: {os.listdir(tmp_path)}"


def _api(path):
    """The function at 'module:name', imported when called, so that collecting the tests imports nothing heavy."""
    module, name = path.split(":")
    return lambda *args, **kwargs: getattr(importlib.import_module(module), name)(*args, **kwargs)


def _python_cases():
    """(id, call(folder, out), error type name, words): the Python entry points, given what a script might pass."""
    from LGECore.io import read_image, read_labels

    segment, run_pipeline = _api("ScarSegmentLib.segment:segment"), _api("ScarSegmentLib.pipeline:run_pipeline")
    make_scar_labels = _api("ScarSynthLib.scar_masks:make_scar_labels")
    synthesize_volume = _api("ScarSynthLib.diffusion:synthesize_volume")
    train_cascade, load_segmenter = _api("ScarSegmentLib.cascade_train:train_cascade"), _api(
        "ScarSegmentLib.segmenter:load_segmenter")
    make_phantom = _api("LGECore.phantom:make_phantom")

    def image(folder, name="lge.nii.gz"):
        return read_image(folder / name)

    def labels(folder):
        return read_labels(folder / "labels.nii.gz")

    def with_nan(volume):
        array = volume.array.copy()
        array[1, 10, 10] = float("nan")
        return volume.with_array(array)

    return [
        ("read-text", lambda f, o: image(f, "text.nii.gz"), "InputError", "text.nii.gz"),
        ("segment-nan-volume", lambda f, o: segment(with_nan(image(f))), "InputError", "NaN"),
        ("segment-sd-nan", lambda f, o: segment(image(f), "nsd", float("nan"), labels(f)), "InputError", "SD"),
        ("segment-method", lambda f, o: segment(image(f), "otsu"), "InputError", "otsu"),
        ("segment-nan-weights", lambda f, o: segment(image(f), weights=str(f / "nan_model")), "WeightsError",
         "not finite"),
        ("load-nan-weights", lambda f, o: load_segmenter(str(f / "nan_model" / "model.json")), "WeightsError",
         "not finite"),
        ("pipeline-nan", lambda f, o: run_pipeline(with_nan(image(f)), o, "x"), "InputError", "NaN"),
        ("scar-segment-18", lambda f, o: make_scar_labels(labels(f), segments=[18]), "InputError", "18"),
        ("scar-transmurality", lambda f, o: make_scar_labels(labels(f), segments=[1], transmurality=2.0),
         "InputError", "transmurality"),
        ("synth-steps", lambda f, o: synthesize_volume(image(f), labels(f), num_inference_steps=0), "InputError",
         "steps"),
        ("train-empty", lambda f, o: train_cascade(f / "dataset_empty", o), "InputError", "No cases"),
        ("phantom-seed", lambda f, o: make_phantom(seed=-1), "InputError", "seed"),
        ("phantom-matrix", lambda f, o: make_phantom(matrix_size=4), "InputError", "matrix"),
    ]


PYTHON_CASES = _python_cases()


@pytest.mark.parametrize("call, error, words", [case[1:] for case in PYTHON_CASES],
                         ids=[case[0] for case in PYTHON_CASES])
def test_the_python_entry_points_refuse_the_same_inputs(inputs, tmp_path, call, error, words):
    folder, before = inputs
    with pytest.raises(Exception) as raised:
        call(folder, tmp_path / "out")
    assert type(raised.value).__name__ == error and words in str(raised.value), repr(raised.value)
    assert snapshot(folder) == before
    assert not os.listdir(tmp_path)


def test_ctrl_c_exits_130_and_leaves_no_output(inputs, tmp_path, capsys, monkeypatch):
    """An interrupt in the middle of the work (here: while the labels are written) leaves nothing."""
    import LGECore.io

    folder, before = inputs

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(LGECore.io, "_write_seg_nrrd", interrupted)
    monkeypatch.setattr("SimpleITK.WriteImage", interrupted)
    code, stderr = scarsynth_here(capsys, ["segment", str(folder / "lge.nii.gz"), "-o", str(tmp_path / "out"),
                                           "--method", "nsd", "--myocardium", str(folder / "labels.nii.gz")])
    assert code == 130 and "interrupted; no output was written" in stderr and "Traceback" not in stderr
    assert snapshot(folder) == before
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("method", ["dl", "nsd"])
def test_work_past_the_memory_limit_is_refused_before_it_starts(inputs, tmp_path, capsys, monkeypatch, method):
    """With a limit of 5 MB, segmenting the small phantom (about 17 MB by the estimate) is refused,
    whether the network segments the image (dl) or draws the myocardium for the n-SD threshold."""
    folder, before = inputs
    monkeypatch.setenv("SCARSYNTH_MEMORY_LIMIT_GB", "0.005")
    code, stderr = scarsynth_here(capsys, ["segment", str(folder / "lge.nii.gz"), "-o", str(tmp_path / "out"),
                                           "--method", method])
    assert code == 2 and "GB of memory, more than the limit of 0.005 GB" in stderr, stderr
    assert "SCARSYNTH_MEMORY_LIMIT_GB" in stderr and snapshot(folder) == before and not os.listdir(tmp_path)
