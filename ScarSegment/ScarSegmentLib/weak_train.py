"""Weakly supervised training (`scarsynth train-weak`): a scar segmenter from "scar yes / no" per
slice or per stack.

Steps, each checkpointed per epoch in the model folder (resume=True continues):
1. the anatomy network: taken as it is from a trained cascade (`anatomy_weights`, else
   `init_weights`), or trained here on the contours' blood pool and myocardium (scar counted as
   myocardium: only scar labels are what weak supervision lacks);
2. the scar classifier on the yes/no labels (weak_classifier, weak_pooling);
3. scar pseudo-labels from its scar maps inside the myocardium (pseudo_labels);
4. the scar network, train-seg's own stage, on the pseudo-labels, starting from the classifier.
The result is a cascade like train-seg's (same files and registry format), its entry and card
recording `weak_supervision`; held-out folds are scored against their true labels.
"""

import os
from pathlib import Path
from types import SimpleNamespace

from LGECore.errors import InputError
from LGECore.io import read_emidec_dataset

from .cascade_config import ANATOMY, SCAR
from .cascade_output import write_cascade
from .cascade_train import (check_resumed_config, check_run_folder, initial_state_of, load_training_cases,
                            parent_lineage, steps_per_epoch, train_stage)
from .cascade_validate import validate_stage
from .pseudo_labels import RULE_TEXT_BY_LEVEL, pseudo_labelled_cases
from .weak_classifier import anatomy_only, train_classifier
from .weak_labels import check_case_names, read_labels_file, weak_labels

DERIVED = ("derived from the dataset: for stacks the EMIDEC names (Case_P* yes, Case_N* no), for slices the label "
           "maps read as yes/no")


def _cascade_entry(weights, option):
    """The registry entry of the cascade `option` names; InputError when it is not a cascade."""
    from .segmenter import find_entry

    entry = find_entry(weights)
    if "scar_stage" not in entry:
        raise InputError(f"{option}: {entry['name']} is not a cascade (no scar network); give a model that "
                         "`scarsynth train-seg` or `scarsynth train-weak` wrote.")
    return entry


def _anatomy_source(config):
    """(state dict, {name, sha256}) of the anatomy network taken from another model, or None."""
    option = "--anatomy-weights" if config.anatomy_weights else "--init-weights"
    weights = config.anatomy_weights or config.init_weights
    if not weights:
        return None
    entry = _cascade_entry(weights, option)
    return initial_state_of(weights, ANATOMY, config.anatomy), {"name": entry["name"], "sha256": entry["sha256"]}


def _anatomy(run, source, train, held_out):
    """(network, held-out scores, seconds) of the anatomy network: the given one, or trained here."""
    from .network import build_network

    if source is None:
        return train_stage(run, ANATOMY, [anatomy_only(case) for case in train], held_out)
    network = build_network(run.config.anatomy.network).to(run.dist.device)
    network.load_state_dict(source[0])
    scores = validate_stage(network, held_out, run.config.anatomy, ANATOMY, run.dist.device) if held_out else {}
    return network, scores, 0.0


def _read_labels(dataset_dir, config):
    """The labels file's rows, checked against the dataset's case names, before any image is read."""
    if not config.labels_file:
        return None
    found = read_labels_file(config.labels_file)
    check_case_names(found, [case.name for case in read_emidec_dataset(dataset_dir)], Path(config.labels_file).name)
    return found


def _record(config, labels, anatomy_lineage, classifier, pseudo_summary):
    """The registry entry's `weak_supervision`: what the model learnt from, and how."""
    import numpy as np

    answers = np.concatenate([np.atleast_1d(value) for value in labels.values()])
    anatomy = ({"source": "taken from a trained cascade", **anatomy_lineage} if anatomy_lineage else
               {"source": "trained here on the contours' blood pool and myocardium (scar counted as myocardium)"})
    return {
        "level": config.level,
        "labels": Path(config.labels_file).name if config.labels_file else DERIVED,
        **({"labels_sha256": config.labels_sha256} if config.labels_sha256 else {}),
        "labelled_cases": len(labels), f"{config.level}s_with_scar": int(answers.sum()),
        f"{config.level}s_without_scar": int((~answers).sum()),
        "anatomy": anatomy,
        "classifier": {"pooling_sharpness": config.pooling_sharpness, "seconds": round(classifier[2], 1),
                       **({"held_out_auroc": round(classifier[1]["auroc"], 4)} if "auroc" in classifier[1] else {})},
        "pseudo_labels": {"rule": RULE_TEXT_BY_LEVEL[config.level], **pseudo_summary},
    }


def _total_steps(config, anatomy_trained):
    stages = [config.classifier, config.scar] + ([config.anatomy] if anatomy_trained else [])
    return sum(stage.epochs * steps_per_epoch(stage, 1) for stage in stages)


def _train_all(run, dataset_dir, found, source, progress):
    """Every step after the checks; returns the registry entry's path."""
    from tqdm import tqdm

    config = run.config
    train, held_out = load_training_cases(dataset_dir, config, progress)
    label_name = Path(config.labels_file).name
    labels = weak_labels(train + held_out, config.level, found, label_name)
    run.out_dir.mkdir(parents=True, exist_ok=True)
    run.bar = tqdm(total=_total_steps(config, source is None), desc="training", unit="it", disable=not progress)
    anatomy = _anatomy(run, source, train, held_out)
    classifier = train_classifier(run, train, labels, held_out)
    run.bar.write("pseudo-labels from the classifier's scar maps")
    pseudo, summary = pseudo_labelled_cases(classifier[0], train, labels, config, run.dist.device)
    scar = train_stage(run, SCAR, pseudo, held_out, initial_state=classifier[0].state_dict())
    run.bar.close()
    record = _record(config, labels, source and source[1], classifier, summary)
    return write_cascade({ANATOMY: anatomy, SCAR: scar}, config, run.out_dir, train, held_out, 1,
                         run.dist.device.type, parent_lineage(config.init_weights), {"weak_supervision": record})


def train_weak(dataset_dir, out_dir, config, resume=False, progress=True):
    """Train the weakly supervised cascade (a WeakConfig: make_weak_config); returns the registry
    entry's path."""
    import torch

    from .train_distributed import Distributed

    out_dir = Path(out_dir)
    check_run_folder(out_dir, resume)
    if resume:
        check_resumed_config(out_dir, config)
    found = _read_labels(dataset_dir, config)
    source = _anatomy_source(config)
    if config.init_weights:
        _cascade_entry(config.init_weights, "--init-weights")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise InputError("train-weak runs as one process (one GPU or the CPU); start it without torchrun.")
    dist = Distributed(config.device)
    try:
        if dist.device.type == "cpu":
            torch.set_num_threads(config.threads or max(1, os.cpu_count() or 1))
        torch.manual_seed(config.seed)
        run = SimpleNamespace(config=config, dist=dist, out_dir=out_dir, bar=None, model_parts=None)
        return _train_all(run, dataset_dir, found, source, progress)
    finally:
        dist.close()
