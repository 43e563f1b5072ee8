"""benchmarks/cascade_recipe.py: each variant trains with its own recipe change on the fold train-seg
holds out, and reports held-out and training-case Dice beside the base recipe's."""

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import cascade_recipe  # noqa: E402


@pytest.fixture(scope="module")
def small_dataset(linked_cases):
    """Two normal hearts and two infarct hearts, linked into an EMIDEC-layout folder."""
    return linked_cases("Case_N006", "Case_N012", "Case_P007", "Case_P010")


def test_unknown_variants_and_folds_are_refused(tmp_path):
    with pytest.raises(SystemExit):
        cascade_recipe.parse_args([str(tmp_path), "--variants", "base,strongest"])
    with pytest.raises(SystemExit):
        cascade_recipe.parse_args([str(tmp_path), "--folds", "6"])


def test_each_variant_changes_only_its_own_settings(tmp_path):
    args = cascade_recipe.parse_args([str(tmp_path), "--preset", "tiny", "--epochs", "3"])
    base = cascade_recipe.variant_config(args, "base", 2)
    heavy = cascade_recipe.variant_config(args, "heavy", 2)
    light = cascade_recipe.variant_config(args, "light", 2)
    assert base.fold == heavy.fold == (1, 5) and base.anatomy.epochs == heavy.anatomy.epochs == 3
    assert (heavy.anatomy.kl_weight, heavy.anatomy.intensity, heavy.anatomy.rotation, heavy.anatomy.scale) == \
        (0.5, 1.0, True, 0.15)
    assert (light.anatomy.kl_weight, light.anatomy.intensity, light.anatomy.rotation, light.anatomy.scale) == \
        (0.0, 0.5, False, 0.0)
    assert heavy.scar == base.scar  # only the network asked for changes
    assert cascade_recipe.variant_config(args, "nophantom", 2).phantoms == 0
    lightrot = cascade_recipe.variant_config(args, "lightrot", 2).anatomy
    assert (lightrot.kl_weight, lightrot.intensity, lightrot.rotation, lightrot.scale) == (0.0, 0.5, True, 0.15)
    assert cascade_recipe.variant_config(args, "blur", 2).anatomy.blur == 1.0
    assert cascade_recipe.variant_config(args, "base", 2).anatomy.blur == 0.0
    edge = cascade_recipe.variant_config(args, "edge", 2)
    assert edge.anatomy.edge_cuts == 0.25 and base.anatomy.edge_cuts == 0.0 and edge.scar == base.scar
    infw2 = cascade_recipe.variant_config(args, "infw2", 2)
    assert infw2.anatomy.class_weights == (1.0, 1.0, 1.0, 2.0) and base.anatomy.class_weights == (1.0, 1.0, 1.0, 1.0)
    ctx2 = cascade_recipe.variant_config(args, "ctx2", 2)
    assert ctx2.anatomy.network.in_channels == 5 and base.anatomy.network.in_channels == 3
    assert replace(ctx2.anatomy, network=base.anatomy.network) == base.anatomy and ctx2.scar == base.scar
    narrow = cascade_recipe.variant_config(args, "narrow", 2)
    assert narrow.anatomy.network.channels == (16, 32, 64, 128, 256) and narrow.scar == base.scar
    assert replace(narrow.anatomy.network, channels=base.anatomy.network.channels) == base.anatomy.network
    batch8 = cascade_recipe.variant_config(args, "batch8", 2)
    assert (batch8.anatomy.batch_size, batch8.anatomy.iterations_per_epoch) == (8, 200) and batch8.scar == base.scar
    patch96 = cascade_recipe.variant_config(args, "patch96", 2)
    assert patch96.anatomy.network.patch_size == 96 and patch96.scar == base.scar
    assert replace(patch96.anatomy.network, patch_size=base.anatomy.network.patch_size) == base.anatomy.network
    scar_args = cascade_recipe.parse_args([str(tmp_path), "--preset", "tiny", "--network", "scar"])
    scar_light = cascade_recipe.variant_config(scar_args, "light", 2)
    assert scar_light.anatomy == cascade_recipe.variant_config(scar_args, "base", 2).anatomy
    assert (scar_light.scar.kl_weight, scar_light.scar.rotation) == (0.0, False)
    misses = cascade_recipe.variant_config(scar_args, "misses", 2)
    assert (misses.scar.anatomy_misses, misses.scar.network.claims_border_px) == (0.5, 3)
    scar_base = cascade_recipe.variant_config(scar_args, "base", 2).scar
    assert (scar_base.anatomy_misses, scar_base.network.claims_border_px) == (0.0, 0)
    assert replace(misses.scar, anatomy_misses=0.0, network=scar_base.network) == scar_base


def test_short_runs_report_fit_and_held_out_side_by_side(small_dataset, tmp_path, one_torch_thread, capsys):
    argv = [str(tmp_path), "--data", str(small_dataset), "--preset", "tiny", "--epochs", "1", "--fold-count", "2",
            "--folds", "1", "--variants", "base,light", "--json", str(tmp_path / "all.json")]
    results = cascade_recipe.main(argv)
    assert [r["variant"] for r in results] == ["base", "light"]
    saved = json.loads((tmp_path / "light_f1" / "result.json").read_text())
    assert saved["recipe"]["kl_weight"] == 0.0 and results[0]["recipe"]["kl_weight"] == 0.5
    for result in results:
        assert 0.0 <= result["held_out"]["dice_myocardium"] <= 1.0
        assert 0.0 <= result["training_cases"]["dice_myocardium"] <= 1.0
        assert 0.0 <= result["held_out_moved"]["dice_myocardium"] <= 1.0
        assert result["training_cases_scored"] == 1  # every fourth of the 2 training cases
    assert "light against base over 1 folds" in capsys.readouterr().out
    assert cascade_recipe.main(argv) == results  # a finished run is read back, not trained again


def test_the_scar_network_is_scored_on_scar(small_dataset, tmp_path, one_torch_thread):
    argv = [str(tmp_path), "--data", str(small_dataset), "--preset", "tiny", "--epochs", "1", "--fold-count", "2",
            "--folds", "2", "--variants", "base", "--network", "scar"]
    (result,) = cascade_recipe.main(argv)
    assert (tmp_path / "scar_base_f2" / "result.json").exists()
    assert set(result["held_out"]) <= {"dice_scar", "dice_mvo"} and "dice_scar" in result["training_cases"]
    assert result["training_cases_scored"] == 1  # the training fold's one infarct heart


def test_anatomy_runs_export_as_cascades_sharing_the_folds_scar_network(small_dataset, tmp_path, one_torch_thread):
    common = [str(tmp_path), "--data", str(small_dataset), "--preset", "tiny", "--epochs", "1", "--fold-count", "2",
              "--folds", "1"]
    export = ["--export", str(tmp_path / "cascades")]
    with pytest.raises(SystemExit, match="No scar network for fold 1"):
        cascade_recipe.main(common + ["--variants", "base"] + export)
    cascade_recipe.main(common + ["--variants", "base", "--network", "scar"])
    cascade_recipe.main(common + ["--variants", "base,edge"] + export)
    entries, files = {}, {}
    for variant in ("base", "edge"):
        folder = tmp_path / "cascades" / variant / "fold_1"
        entries[variant] = json.loads((folder / "scar_cascade.json").read_text())
        files[variant] = {role: (folder / f"scar_cascade_{role}.safetensors").read_bytes() for role in ("anatomy", "scar")}
    config = entries["edge"]["training"]["config"]
    assert config["anatomy"]["edge_cuts"] == 0.25 and entries["base"]["training"]["config"]["anatomy"]["edge_cuts"] == 0
    assert entries["edge"]["training"]["held_out_cases"] == entries["base"]["training"]["held_out_cases"]
    assert files["edge"]["scar"] == files["base"]["scar"] and files["edge"]["anatomy"] != files["base"]["anatomy"]
    # A scar variant pairs with the fold's base anatomy network; its entry carries the claim for inference.
    with pytest.raises(SystemExit, match="No anatomy network for fold 1"):
        cascade_recipe.export_cascade(cascade_recipe.parse_args(
            [str(tmp_path / "none")] + common[1:] + ["--network", "scar"] + export), "misses", 1)
    cascade_recipe.main(common + ["--variants", "misses", "--network", "scar"] + export)
    folder = tmp_path / "cascades" / "scar_misses" / "fold_1"
    misses = json.loads((folder / "scar_cascade.json").read_text())
    assert misses["scar_stage"]["settings"]["claims_border_px"] == 3
    assert misses["training"]["config"]["scar"]["anatomy_misses"] == 0.5
    card = (folder / "scar_cascade.md").read_text()
    assert "anatomy input missing part of the scar in 50 %" in card and "within 3 pixels of the anatomy's" in card
    assert (folder / "scar_cascade_anatomy.safetensors").read_bytes() == files["base"]["anatomy"]
    assert (folder / "scar_cascade_scar.safetensors").read_bytes() != files["base"]["scar"]
    # The same networks under another inference rule: the claim set, the weights those of the source.
    import border_claim
    from ScarSegmentLib.segmenter import load_scar_stage

    claimed = tmp_path / "claimed"
    border_claim.main([str(tmp_path / "cascades" / "base"), str(claimed), "--px", "2"])
    _, settings = load_scar_stage(str(claimed / "fold_1" / "scar_cascade.json"))
    assert settings.claims_border_px == 2 and (claimed / "fold_1" / "scar_cascade_scar.safetensors").read_bytes() == \
        files["base"]["scar"]
    assert load_scar_stage(str(tmp_path / "cascades" / "base" / "fold_1" / "scar_cascade.json"))[1].claims_border_px == 0
    with pytest.raises(SystemExit):
        border_claim.parse_args([str(tmp_path / "cascades" / "base"), str(claimed), "--px", "2"])  # exists
    with pytest.raises(SystemExit, match="trained 1 epochs, not --epochs 2"):
        cascade_recipe.export_cascade(cascade_recipe.parse_args(
            common[:5] + ["--epochs", "2", "--fold-count", "2", "--folds", "1", "--export", str(tmp_path / "other")]), "base", 1)
    # A longer anatomy run pairs with the fold's shorter scar network when --partner-epochs says its length.
    longer = tmp_path / "longer"
    longer.mkdir()
    (longer / "scar_base_f1").symlink_to(tmp_path / "scar_base_f1")
    argv = [str(longer)] + common[1:5] + ["--epochs", "2", "--fold-count", "2", "--folds", "1", "--variants", "base"]
    with pytest.raises(SystemExit, match="trained 1 epochs, not --partner-epochs 2"):
        cascade_recipe.main(argv + ["--export", str(longer / "cascades")])
    assert not (longer / "cascades").exists()  # nothing written for a pair that does not match
    cascade_recipe.main(argv + ["--partner-epochs", "1", "--export", str(longer / "cascades")])
    paired = json.loads((longer / "cascades" / "base" / "fold_1" / "scar_cascade.json").read_text())["training"]["config"]
    assert (paired["anatomy"]["epochs"], paired["scar"]["epochs"]) == (2, 1)


def test_a_moved_case_keeps_its_labels_on_its_image(linked_cases):
    """Turned, flipped and blurred, the LV's labels still sit where its blood pool is brightest."""
    import numpy as np

    from ScarSegmentLib.cascade_config import make_cascade_config
    from ScarSegmentLib.cascade_train import load_training_cases

    folder = linked_cases("Case_N006", "Case_P007")
    cases, _ = load_training_cases(folder, make_cascade_config("tiny", phantoms=0), show_progress=False)
    case = cases[0]
    moved = cascade_recipe.moved_case(case, np.random.default_rng(3))
    assert moved.image.shape == case.image.shape and moved is not case
    assert not np.array_equal(moved.labels, case.labels)  # turned
    assert set(np.unique(moved.labels)) <= set(np.unique(case.labels))  # nearest neighbour: no new labels
    blood = moved.labels == 1
    assert moved.image[blood].mean() > moved.image[moved.labels == 0].mean()  # still the bright blood pool
    assert abs(int(blood.sum()) - int((case.labels == 1).sum())) < 0.1 * (case.labels == 1).sum()
