"""How real the generators' synthetic scar looks, side by side per generator, on real EMIDEC cases.

    python benchmarks/synth_realism.py --weights shipped [[LABEL=]WEIGHTS ...] [--cases 12] [--seg-weights W]
        [--scars-per-case 1]
        [--montage FILE.png] [--json FILE] [--data DIR] [--steps 25] [--seed 0] [--threads 1] [--device cpu]

--weights: 'shipped' or what load_generator takes, LABEL= names a column; --data: default $SCARSYNTH_EMIDEC.

Cases. "held-out": the generators' held-out cases (diffusion_data.held_out_cases, every 10th by name:
3 normal N and 5 infarct P cases in EMIDEC); no generator trained on them. "all": those plus more
cases, up to --cases of each kind (first those the segmenter never trained on). The generators saw
the images of the extra cases in training (with their own labels, not the scar drawn here), so only
the held-out figures are clean. Each N case gets one new random scar (make_scar_labels with
random_scar_config, seeded by the case name; --scars-per-case K: K scars, each in its own copy, so that
the 3 held-out hearts give more than 3 samples), painted by every generator with the case's own labels
as reference_labels; real scar is the expert's scar and MVO of the P cases. Medians count scars.

(a) segmenter scar Dice: the segmenter (--seg-weights, default the shipped ScarSegment) segments the
    synthetic volumes: Dice of its scar with the requested scar, next to its Dice with the expert on
    the real P cases. It trained on all cases but its validation split, which flatters the real figure:
    the row "P the segmenter never saw" is the fair reference.
(b) intensity and texture inside scar, every pixel divided by the mean of healthy (remote) myocardium
    on its slice (slices with at least 10 pixels of both): "ratio", their mean, is the usual contrast;
    p10 and p90 their 10th and 90th percentile (how dim the dim part, how bright the bright part); CV,
    their standard deviation / mean (heterogeneity); local SD, the mean standard deviation in 3x3
    windows wholly in scar (fine grain and noise, which a blurred rendering lacks). Median over cases.
(c) real vs synthetic classifier: a tiny CNN sees 11x11 patches centred on scar pixels (up to 100 per
    case, normalised like (b), random 90-degree turns and flips in training), trained to tell real (P)
    from synthetic (N) scar on one half of the non-held-out cases (alternately by name) and tested on
    the other half and on the held-out cases: patch AUROC (0.5: cannot tell them apart, 1: always).
    Its AUROC on its own training cases comes too (near 0.5 there: it learnt nothing). Real scars sit
    in infarcted hearts, synthetic ones in normal hearts: wall thinning and scar shape are clues too.
(d) pixels that should not change, in grey levels of the input (EMIDEC: 0..255): the largest change of
    a pixel more than 3 pixels (in-plane) outside the myocardium, and of healthy myocardium more than 3
    pixels from the new scar (both 0 for a "scar" generator); and the median absolute change in the
    painted region (the new scar with its margin, or the whole heart region for a "heart" generator).
"""

import argparse
import json
import os
import sys
import time
import zlib
from pathlib import Path

import numpy as np
from scipy import ndimage

import synth  # benchmarks/synth.py; importing it also puts the project's packages on sys.path
from realism_classifier import PATCH, classifier_auroc, heart
from synth import REPO, dice, segment_labels

from LGECore import labels as L
from LGECore.io import read_emidec_dataset
from ScarSynthLib import diffusion
from ScarSynthLib.diffusion_data import held_out_cases, lv_extent
from ScarSynthLib.scar_masks import make_scar_labels, random_scar_config

MIN_PIXELS = 10  # of scar and of remote myocardium, for a slice to count in (b) and (c)
FAR_PIXELS = 3  # (d): beyond the 3-pixel paint margin of a "scar" generator nothing may change
PATCHES_PER_CASE = 100
SETS = ("held-out", "all")


def case_seed(seed, name):
    """A seed per case that does not depend on which other cases run."""
    return seed * 1_000_003 + zlib.crc32(name.encode()) % 1_000_003


def choose_cases(cases, count, seg_weights):
    """{"N": cases, "P": cases}: the held-out ones, then others up to `count` of each kind."""
    held_out = {c.name for c in held_out_cases(cases)}
    chosen = {}
    for kind, infarct in (("N", False), ("P", True)):
        group = sorted((c for c in cases if c.has_infarct == infarct), key=lambda c: c.name)
        others = synth.held_out_first([c for c in group if c.name not in held_out], seg_weights)
        mine = [c for c in group if c.name in held_out]
        chosen[kind] = mine + sorted(others[:max(0, count - len(mine))], key=lambda c: c.name)
    return chosen, held_out


def segmenter_unseen(seg_weights):
    from ScarSegmentLib.segmenter import find_entry

    training = find_entry(seg_weights).get("training", {})
    return set(training.get("held_out_cases", training.get("validation_cases", [])))


def normalised_slices(image, labels):
    """(slice / its remote myocardium mean, scar mask) of slices with enough scar and remote."""
    for z in range(image.shape[0]):
        scar, remote = L.scar(labels[z]), labels[z] == L.MYOCARDIUM
        if scar.sum() >= MIN_PIXELS and remote.sum() >= MIN_PIXELS:
            yield image[z] / max(float(image[z][remote].mean()), 1e-6), scar


def scar_texture(image, labels):
    """(b): ratio, p10, p90, CV and local SD of the scar in one volume (NaN without scar)."""
    ratios, local = [], []
    for norm, scar in normalised_slices(image, labels):
        ratios.append(norm[scar])
        mean, square = ndimage.uniform_filter(norm, 3), ndimage.uniform_filter(norm * norm, 3)
        interior = ndimage.binary_erosion(scar, structure=np.ones((3, 3)))
        local.append(np.sqrt(np.maximum(square - mean * mean, 0.0))[interior])
    if not ratios:
        return dict.fromkeys(("ratio", "p10", "p90", "cv", "local_sd"), float("nan"))
    ratios, local = np.concatenate(ratios), np.concatenate(local)
    p10, p90 = np.percentile(ratios, [10, 90])
    return dict(ratio=float(ratios.mean()), p10=float(p10), p90=float(p90),
                cv=float(ratios.std() / ratios.mean()), local_sd=float(local.mean()) if local.size else float("nan"))


def scar_patches(image, labels, rng):
    """(c): up to PATCHES_PER_CASE normalised patches (n, PATCH, PATCH) centred on scar pixels."""
    half, patches = PATCH // 2, []
    for norm, scar in normalised_slices(image, labels):
        padded = np.pad(norm, half, mode="edge")
        patches += [padded[r:r + PATCH, c:c + PATCH] for r, c in np.argwhere(scar)]
    if not patches:
        return np.zeros((0, PATCH, PATCH), np.float32)
    keep = np.sort(rng.choice(len(patches), min(len(patches), PATCHES_PER_CASE), replace=False))
    return np.stack([patches[i] for i in keep]).astype(np.float32)


def _far_from(mask):
    if not mask.any():
        return np.ones(mask.shape, bool)
    return ndimage.distance_transform_edt(~mask) > FAR_PIXELS


def change_figures(image, synthetic, reference, target, kind):
    """(d) of one volume: largest change far outside the myocardium and in healthy myocardium far
    from the new scar, and the median change in the region the generator paints."""
    change = np.abs(synthetic.astype(np.float64) - image)
    extent = lv_extent(target)
    outside, healthy, painted = [0.0], [0.0], []
    for z in range(image.shape[0]):
        new_scar = L.scar(target[z]) & ~L.scar(reference[z])
        outside.append(change[z][_far_from(L.lv_myocardium(target[z]))].max(initial=0.0))
        healthy.append(change[z][(target[z] == L.MYOCARDIUM) & _far_from(new_scar)].max(initial=0.0))
        # The region exactly as synthesize_volume paints it.
        crop = diffusion.slice_crop(image[z].astype(np.float32), target[z], extent, kind, reference[z])
        if crop is not None:
            painted.append(change[z][crop.region_full])
    return dict(outside_max=float(max(outside)), healthy_max=float(max(healthy)),
                painted_median=float(np.median(np.concatenate(painted))) if painted else float("nan"))


def load_normal(cases, seed, scars_per_case=1):
    """{key: (image Volume, labels Volume, labels with a new random scar, seed)} of the N cases, one key
    per scar (heart(key) names its case); the first scar of a case is the same whatever the count."""
    loaded = {}
    for case in cases:
        image, labels = case.load()
        for key in [case.name] + [f"{case.name}+{j}" for j in range(1, scars_per_case)]:
            config = random_scar_config(case_seed(seed, key))
            loaded[key] = (image, labels, make_scar_labels(labels, **config)[0], config["seed"])
    return loaded


def real_rows(cases, args, held_out, unseen):
    """Per real P case: segmenter Dice with the expert, (b) figures; and its scar patches."""
    rows, patches = [], {}
    for case in cases:
        image, labels = case.load()
        predicted = segment_labels(image, args.seg_weights, args.device)
        rows.append(dict(case=case.name, held_out=case.name in held_out, segmenter_saw=case.name not in unseen,
                         dice=dice(L.scar(predicted), L.scar(labels.array)),
                         **scar_texture(image.array, labels.array)))
        rng = np.random.default_rng(case_seed(args.seed, case.name))
        patches[case.name] = scar_patches(image.array, labels.array, rng)
        print(f"  real {case.name}: scar Dice {rows[-1]['dice']:.3f}", file=sys.stderr, flush=True)
    return rows, patches


def synthetic_rows(normal, weights, args, held_out):
    """Per N case painted by one generator: (a), (b), (d) figures; its scar patches; montage slices."""
    kind = diffusion.paint_region_kind(weights)
    rows, patches, examples = [], {}, {}
    for name, (image, labels, target, seed) in normal.items():
        start = time.perf_counter()
        synthetic = diffusion.synthesize_volume(image, target, seed=seed, num_inference_steps=args.steps,
                                                weights=weights, device=args.device, progress=False,
                                                reference_labels=labels)
        predicted = segment_labels(synthetic, args.seg_weights, args.device)
        rows.append(dict(case=name, held_out=heart(name) in held_out,
                         dice=dice(L.scar(predicted), L.scar(target.array)),
                         **scar_texture(synthetic.array, target.array),
                         **change_figures(image.array, synthetic.array, labels.array, target.array, kind)))
        rng = np.random.default_rng(case_seed(args.seed, name))  # the same pixels for every generator
        patches[name] = scar_patches(synthetic.array, target.array, rng)
        z = int(np.argmax(L.scar(target.array).sum(axis=(1, 2))))
        examples[name] = (z, synthetic.array[z])
        print(f"  {name}: scar Dice {rows[-1]['dice']:.3f}, {time.perf_counter() - start:.0f} s",
              file=sys.stderr, flush=True)
    return rows, patches, examples, kind


def classifier_split(chosen, held_out):
    """(train case names, {test set: case names}): the non-held-out cases of each kind alternately."""
    train, test = [], []
    for cases in chosen.values():
        others = [c.name for c in cases if c.name not in held_out]
        train += others[0::2]
        test += others[1::2]
    held = [c.name for cases in chosen.values() for c in cases if c.name in held_out]
    return train, {"held-out": held, "other half": test, "train": train}


def _median(rows, key, subset):
    values = [r[key] for r in rows if subset(r) and np.isfinite(r[key])]
    return (float(np.median(values)), len(values)) if values else (float("nan"), 0)


def _maximum(rows, key, subset):
    values = [r[key] for r in rows if subset(r)]
    return (float(max(values)), len(values)) if values else (float("nan"), 0)


ROWS = (  # label, key, aggregate over cases, in the real column too
    ("(a) segmenter scar Dice", "dice", _median, True),
    ("(b) scar / remote ratio, mean", "ratio", _median, True),
    ("    scar / remote ratio, p10", "p10", _median, True),
    ("    scar / remote ratio, p90", "p90", _median, True),
    ("    CV of scar ratio", "cv", _median, True),
    ("    local SD (3x3) / remote mean", "local_sd", _median, True),
    ("(d) max change >3 px outside myocardium", "outside_max", _maximum, False),
    ("    max change, healthy myo >3 px from scar", "healthy_max", _maximum, False),
    ("    median change in painted region", "painted_median", _median, False),
)


def summarise(real, generators):
    """{set: {row label: {column: [value, n cases]}}} of the figures, real column first."""
    summary = {}
    for set_name in SETS:
        subset = (lambda r: r["held_out"]) if set_name == "held-out" else (lambda r: True)
        test = "held-out" if set_name == "held-out" else "other half"
        table = {}
        for label, key, aggregate, in_real in ROWS:
            table[label] = {"real": list(aggregate(real, key, subset)) if in_real else None,
                            **{g: list(aggregate(result["cases"], key, subset)) for g, result in generators.items()}}
            if key == "dice":  # the fair reference: real infarcts the segmenter never trained on
                table["    real, P the segmenter never saw"] = {
                    "real": list(_median(real, "dice", lambda r: subset(r) and not r["segmenter_saw"]))}
            if key == "local_sd":
                table["(c) real-vs-synthetic patch AUROC"] = {
                    g: [result["classifier"][test]["auroc"], None] for g, result in generators.items()}
                if set_name == "all":  # near 0.5 here too: the classifier learnt nothing
                    table["    same, on its own training cases"] = {
                        g: [result["classifier"]["train"]["auroc"], None] for g, result in generators.items()}
        summary[set_name] = table
    return summary


def print_summary(summary, generators, counts):
    columns = ["real"] + list(generators)
    print(f"{'':44}" + "".join(f"{c[:18]:>20}" for c in columns))
    print(f"{'paint region':44}{'':>20}" + "".join(f"{g['paint_region']:>20}" for g in generators.values()))
    for set_name, table in summary.items():
        print(f"{set_name} cases ({counts[set_name]}); median (n cases); (c) on "
              + ("the held-out cases" if set_name == "held-out" else "the other half of the non-held-out cases"))
        for label, cells in table.items():
            text = ["-" if cells.get(c) is None or not np.isfinite(cells[c][0]) else
                    f"{cells[c][0]:.3f}" + (f" ({cells[c][1]})" if cells[c][1] is not None else "")
                    for c in columns]
            print(f"{label:44}" + "".join(f"{t:>20}" for t in text))


def save_montage(normal, examples, path):
    """PNG, one row per case: real | real with the new scar outlined (red; MVO yellow) | one column per
    generator (shared window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, columns = list(next(iter(examples.values()))), 2 + len(examples)
    figure, axes = plt.subplots(len(names), columns, figsize=(2.5 * columns, 2.5 * len(names)), squeeze=False)
    for row, name in zip(axes, names):
        image, _, target, _ = normal[name]
        z = examples[next(iter(examples))][name][0]
        rows, cols = np.nonzero(L.lv_myocardium(target.array[z]))
        half = int(0.75 * max(np.ptp(rows), np.ptp(cols))) + 6
        window = tuple(slice(max(0, int(c) - half), int(c) + half) for c in (rows.mean(), cols.mean()))
        low, high = np.percentile(image.array[z][window], (1, 99.5))
        pictures = [image.array[z], target.array[z]] + [shown[name][1] for shown in examples.values()]
        for axis, picture, title in zip(row, pictures, ["real", "new scar"] + list(examples)):
            axis.imshow((image.array[z] if title == "new scar" else picture)[window], cmap="gray", vmin=low, vmax=high)
            if title == "new scar":
                axis.contour(L.scar(picture[window]), levels=[0.5], colors="red", linewidths=0.8)
                if (picture[window] == L.MVO).any():
                    axis.contour(picture[window] == L.MVO, levels=[0.5], colors="yellow", linewidths=0.8)
            axis.set_title(title[:24], fontsize=8)
            axis.set_xticks([]), axis.set_yticks([])
        row[0].set_ylabel(f"{name} z={z}", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", nargs="+", default=["shipped"],
                        help="generators: shipped, a name or a .safetensors path; LABEL=WEIGHTS names its column")
    parser.add_argument("--data", default=os.environ.get("SCARSYNTH_EMIDEC", str(REPO / "data" / "emidec")))
    parser.add_argument("--cases", type=int, default=12, help="N and P cases each, held-out ones included")
    parser.add_argument("--seg-weights", help="segmenter weights (default: the shipped ScarSegment model)")
    parser.add_argument("--scars-per-case", type=int, default=1, choices=range(1, 11), metavar="K",
                        help="new random scars painted into each normal heart, each in its own copy (1-10)")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--montage", help="PNG of real | new scar outlined | each generator's rendering")
    parser.add_argument("--json", help="save every figure here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    chosen, held_out = choose_cases(read_emidec_dataset(args.data), args.cases, args.seg_weights)
    normal = load_normal(chosen["N"], args.seed, args.scars_per_case)
    real, real_patches = real_rows(chosen["P"], args, held_out, segmenter_unseen(args.seg_weights))
    train, tests = classifier_split(chosen, held_out)
    generators, examples = {}, {}
    for weights in args.weights:
        column, _, weights = weights.rpartition("=")  # LABEL=WEIGHTS names the column
        path = None if weights == "shipped" else weights
        column = column or (weights if path is None or not Path(path).suffix else Path(path).stem)
        print(f"generator {column}", file=sys.stderr, flush=True)
        rows, patches, examples[column], kind = synthetic_rows(normal, path, args, held_out)
        generators[column] = dict(weights=weights, paint_region=kind, cases=rows,
                                  classifier=classifier_auroc(real_patches, patches, train, tests, args.seed))
    summary = summarise(real, generators)
    scars = f" x {args.scars_per_case} scars" if args.scars_per_case > 1 else ""
    counts = {"held-out": f"{len(held_out & set(map(heart, normal)))} N{scars}, {sum(r['held_out'] for r in real)} P",
              "all": f"{len(chosen['N'])} N{scars}, {len(real)} P"}
    print(f"synthetic-scar realism: {args.steps} steps, seed {args.seed}; classifier trained on "
          f"{len(train)} cases ({', '.join(train)})")
    print_summary(summary, generators, counts)
    print(f"time: {time.perf_counter() - start:.0f} s")
    if args.montage:
        save_montage(normal, {c: {n: e for n, e in shown.items() if n in held_out} for c, shown in examples.items()},
                     args.montage)
    if args.json:
        Path(args.json).write_text(json.dumps(dict(settings=vars(args), train_cases=train, tests=tests, real=real,
                                                   generators=generators, summary=summary), indent=1))


if __name__ == "__main__":
    main()
