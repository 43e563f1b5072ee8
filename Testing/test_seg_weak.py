"""Weak supervision (`scarsynth train-weak`): the whole pipeline on phantoms with the tiny preset,
the labels file's checks and the weak settings' checks."""

import json
import subprocess
import sys

import numpy as np
import pytest

from LGECore.errors import InputError

pytestmark = pytest.mark.usefixtures("one_torch_thread")
KINDS = {"Case_N001": {}, "Case_N002": {}, "Case_P001": {"territory": "LAD"},
         "Case_P002": {"territory": "RCA", "transmurality": 0.8}}


@pytest.fixture(scope="module")
def phantom_dataset(tmp_path_factory):
    """Two normal and two scarred phantoms of five slices, in the EMIDEC layout."""
    from LGECore.io import write_volume
    from LGECore.phantom import make_phantom

    root = tmp_path_factory.mktemp("weak_phantoms")
    for seed, (name, scar) in enumerate(KINDS.items()):
        phantom = make_phantom(seed=seed, n_slices=5, matrix_size=64, pixel_spacing=2.0, **scar)
        write_volume(phantom.image, root / name / "Images" / f"{name}.nii.gz")
        write_volume(phantom.labels, root / name / "Contours" / f"{name}.nii.gz")
    return root


@pytest.fixture(scope="module")
def slice_model(phantom_dataset, tmp_path_factory):
    from ScarSegmentLib.weak_config import make_weak_config
    from ScarSegmentLib.weak_train import train_weak

    out = tmp_path_factory.mktemp("weak_slice") / "model"
    return train_weak(phantom_dataset, out, make_weak_config("slice", "tiny", threads=1), progress=False)


def _classifier_and_cases(model_dir, dataset, level):
    import torch

    from ScarSegmentLib.data import load_dataset
    from ScarSegmentLib.network import build_network
    from ScarSegmentLib.weak_config import make_weak_config

    config = make_weak_config(level, "tiny", threads=1)
    network = build_network(config.classifier.network)
    network.load_state_dict(torch.load(model_dir / "checkpoint_classifier.pt", weights_only=True)["network"])
    return network, load_dataset(dataset, config.anatomy.network, config.lost_spacing_mm, False), config


def test_slice_level_classifier_separates_and_pseudo_labels_find_the_scar(slice_model, phantom_dataset):
    import torch

    from ScarSegmentLib.metrics import dice
    from ScarSegmentLib.pseudo_labels import pseudo_labelled_cases
    from ScarSegmentLib.weak_labels import weak_labels
    from ScarSegmentLib.weak_pooling import auroc, case_maps

    network, cases, config = _classifier_and_cases(slice_model.parent, phantom_dataset, "slice")
    labels = weak_labels(cases, "slice")
    scores, answers = [], []
    for case in cases:
        _, masks, logits, _ = case_maps(network, case, config.classifier, config.pooling_sharpness, torch.device("cpu"))
        keep = masks.any(axis=(1, 2))
        scores += list(logits[keep])
        answers += list(labels[case.name][keep])
    assert auroc(scores, answers) >= 0.8
    pseudo, summary = pseudo_labelled_cases(network, cases, labels, config, torch.device("cpu"))
    for case, labelled in zip(cases, pseudo):
        assert not (labelled.labels[~labels[case.name]] == 3).any()  # none on slices labelled no
        assert set(np.unique(labelled.labels)) <= {0, 1, 2, 3}  # MVO is not learnt from yes/no
    # Better than calling the whole myocardium of every scarred slice scar.
    whole = [dice(np.isin(c.labels, (2, 3, 4)) & labels[c.name][:, None, None], c.labels >= 3)
             for c in cases if (c.labels >= 3).any()]
    assert summary["pseudo_label_dice"] > max(0.3, float(np.mean(whole)))


def test_the_weak_model_segments_like_a_cascade_and_records_its_supervision(slice_model, phantom_dataset):
    from LGECore.io import read_emidec_dataset
    from ScarSegmentLib.segment import segment

    entry = json.loads(slice_model.read_text())
    weak = entry["weak_supervision"]
    assert entry["kind"] == "cascade" and entry["name"] == "scar_weak_slice" and weak["level"] == "slice"
    assert weak["slices_with_scar"] > 0 and weak["slices_without_scar"] > 0 and "derived" in weak["labels"]
    assert "trained here" in weak["anatomy"]["source"] and 0 <= weak["pseudo_labels"]["pseudo_label_dice"] <= 1
    card = slice_model.with_suffix(".md").read_text()
    assert "## Weak supervision" in card and "scarsynth train-weak DATASET_DIR -o MODEL_DIR --level slice" in card
    image, _ = read_emidec_dataset(phantom_dataset)[2].load()
    presence = segment(image, weights=slice_model.parent, device="cpu").metrics["scar_presence"]
    assert len(presence["per_slice"]) == image.shape[0]
    assert presence["case"] == max(presence["per_slice"]) and all(0 <= p <= 1 for p in presence["per_slice"])


def test_resume_goes_on_with_the_step_that_stopped(slice_model, phantom_dataset):
    import shutil

    from ScarSegmentLib.weak_config import make_weak_config
    from ScarSegmentLib.weak_train import train_weak

    run = slice_model.parent.parent / "resumed"
    shutil.copytree(slice_model.parent, run)
    with pytest.raises(InputError, match="already holds a training run"):
        train_weak(phantom_dataset, run, make_weak_config("slice", "tiny", threads=1), progress=False)
    with pytest.raises(InputError, match="other settings"):
        train_weak(phantom_dataset, run, make_weak_config("slice", "tiny", threads=1, seed=3), resume=True,
                   progress=False)
    (run / "checkpoint_scar.pt").unlink()
    (run / "training_log_scar.csv").unlink()
    train_weak(phantom_dataset, run, make_weak_config("slice", "tiny", threads=1), resume=True, progress=False)
    for stage, rows in (("anatomy", 1), ("classifier", 3), ("scar", 1)):
        assert len((run / f"training_log_{stage}.csv").read_text().splitlines()) == rows + 1


def test_stack_level_from_a_labels_file_on_the_command_line(phantom_dataset, slice_model, tmp_path):
    """Stack labels from a slice-level file (a stack holds scar when a slice does); the anatomy
    network taken from another cascade as it is; the fold held out is scored."""
    labels = tmp_path / "site labels.csv"
    rows = ["case,slice,scar"] + [f"{name},{z},{'yes' if scar and z else 'no'}"
                                  for name, scar in KINDS.items() for z in range(5)]
    labels.write_text("\n".join(rows) + "\n")
    out = tmp_path / "stack"
    command = [sys.executable, "-m", "ScarSynthLib.cli", "train-weak", str(phantom_dataset), "-o", str(out),
               "--level", "stack", "--labels", str(labels), "--anatomy-weights", str(slice_model.parent),
               "--preset", "tiny", "--threads", "1", "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    entry = json.loads((out / "scar_weak_stack.json").read_text())
    weak = entry["weak_supervision"]
    assert weak["labels"] == "site labels.csv" and len(weak["labels_sha256"]) == 64
    assert (weak["stacks_with_scar"], weak["stacks_without_scar"]) == (2, 2)
    assert weak["anatomy"]["name"] == "scar_weak_slice" and entry["training"]["seconds"]["anatomy"] == 0
    parent = json.loads(slice_model.read_text())
    assert entry["sha256"] != "" and weak["anatomy"]["sha256"] == parent["sha256"]
    assert "--labels site labels.csv" in (out / "scar_weak_stack.md").read_text()


def _write(tmp_path, text, name="labels.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, words", [
    ("case,scar\nCase_P001,maybe\n", "line 2: scar must be yes or no"),
    ("case,slice,scar\nCase_P001,-1,yes\n", "line 2: slice must be a whole number"),
    ("case,slice,scar\nCase_P001,0,yes\nCase_P001,0,no\n", "line 3: Case_P001 slice 0 is given twice"),
    ("case,slice,scar\nCase_P001,,yes\nCase_P001,1,no\n", "both as a whole stack and slice by slice"),
    ("name,scar\nCase_P001,yes\n", "case and scar"),
    ("case,scar\n", "holds no rows"),
    ("case,scar\n,yes\n", "the case is empty"),
])
def test_a_bad_row_is_named_with_its_line(tmp_path, text, words):
    from ScarSegmentLib.weak_labels import read_labels_file

    with pytest.raises(InputError, match="--labels labels.csv") as raised:
        read_labels_file(_write(tmp_path, text))
    assert words in str(raised.value)


def test_labels_are_checked_against_the_cases(phantom_dataset, tmp_path):
    from ScarSegmentLib.data import load_dataset
    from ScarSegmentLib.network import NetworkSettings
    from ScarSegmentLib.weak_labels import check_case_names, read_labels_file, weak_labels

    cases = load_dataset(phantom_dataset, NetworkSettings(), 1.35, False)
    stack = read_labels_file(_write(tmp_path, "case,scar\nCase_P001,yes\nCase_N001,no\n"))
    assert weak_labels(cases, "stack", stack, "labels.csv") == {"Case_P001": True, "Case_N001": False}
    with pytest.raises(InputError, match="needs a slice column"):
        weak_labels(cases, "slice", stack, "labels.csv")
    with pytest.raises(InputError, match="Case_X009"):
        check_case_names(read_labels_file(_write(tmp_path, "case,scar\nCase_X009,no\n")), [c.name for c in cases], "l")
    for text, words in (("case,slice,scar\nCase_P001,5,yes\n", "has 5 slices (0 to 4); got slice 5"),
                        ("case,slice,scar\nCase_P001,0,yes\nCase_N001,0,no\n", "lists 1 of its 5 slices"),
                        ("case,scar\nCase_P001,yes\nCase_P002,yes\n", "gives no stack without scar")):
        with pytest.raises(InputError, match="labels.csv") as raised:
            weak_labels(cases, "slice" if "slice" in text else "stack", read_labels_file(_write(tmp_path, text)),
                        "labels.csv")
        assert words in str(raised.value)
    derived = weak_labels(cases, "slice")
    assert all((derived[c.name] == (c.labels >= 3).any(axis=(1, 2))).all() for c in cases)
    renamed = [cases[0]]
    renamed[0].name = "patient_7"
    with pytest.raises(InputError, match="give the yes/no labels with --labels"):
        weak_labels(renamed, "stack")


def test_weak_settings_are_checked(tmp_path):
    from ScarSegmentLib.weak_config import make_weak_config
    from ScarSegmentLib.weak_train import _cascade_entry

    with pytest.raises(InputError, match="--level must be one of slice, stack"):
        make_weak_config("voxel")
    with pytest.raises(InputError, match="is a folder"):
        make_weak_config("slice", labels_file=tmp_path)
    with pytest.raises(InputError, match="file not found"):
        make_weak_config("slice", labels_file=tmp_path / "none.csv")
    with pytest.raises(InputError, match="pooling sharpness"):
        make_weak_config("slice", pooling_sharpness=0.0)
    config = make_weak_config("stack", "tiny", init_weights="shipped")
    assert config.init_weights == "scar_weak_stack" and config.classifier.network == config.scar.network
    assert _cascade_entry(config.init_weights, "--init-weights")["weak_supervision"]["level"] == "stack"
    with pytest.raises(InputError, match="not a cascade"):
        _cascade_entry("scar_segmenter_2d", "--anatomy-weights")


def test_the_rebuild_command_starts_with_the_cascade_the_anatomy_came_from():
    from ScarSegmentLib.weak_card import rebuild_command

    weak = {"level": "slice", "labels": "derived", "anatomy": {"source": "trained here"}}
    entry = {"training": {"config": {"preset": "cpu"}}, "weak_supervision": weak}
    assert rebuild_command(entry) == "scarsynth train-weak DATASET_DIR -o MODEL_DIR --level slice --preset cpu"
    weak["anatomy"] = {"name": "scar_cascade", "sha256": "ab" * 32}
    first, then = rebuild_command(entry).split(" && ")
    assert first == "scarsynth train-seg DATASET_DIR -o ANATOMY_DIR --preset cpu"
    assert then.endswith("--anatomy-weights ANATOMY_DIR") and then.startswith("scarsynth train-weak")


@pytest.mark.parametrize("level", ["slice", "stack"])
def test_the_shipped_weak_models_segment_a_real_case_by_name(emidec_dir, level):
    """scar_weak_slice and scar_weak_stack, learnt from scar yes/no per slice or per stack, are
    found by name and draw scar where the expert did on a real infarct (a case they trained on: a
    check that they work, not a score)."""
    from LGECore import labels as L
    from LGECore.io import read_emidec_dataset
    from LGECore.volume import Volume
    from ScarSegmentLib.metrics import dice
    from ScarSegmentLib.segment import segment
    from ScarSegmentLib.segmenter import find_entry

    name = f"scar_weak_{level}"
    entry = find_entry(name)
    assert entry["weak_supervision"]["level"] == level and entry["cross_validation"]["folds"]
    case = next(c for c in read_emidec_dataset(emidec_dir) if c.name == "Case_P072")
    image, truth = case.load()
    spacing = entry["training"]["config"]["lost_spacing_mm"]
    result = segment(Volume(image.array, (spacing, spacing, 10.0)), "dl", weights=name)
    assert dice(L.lv_myocardium(result.labels.array), L.lv_myocardium(truth.array)) > 0.7
    assert dice(L.scar(result.labels.array), L.scar(truth.array)) > 0.4
    assert not (result.labels.array == L.MVO).any()  # yes/no labels cannot teach MVO
    assert result.metrics["scar_presence"]["case"] > 0.5
