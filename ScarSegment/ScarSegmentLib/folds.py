"""Cross-validation folds by case, stratified over normal, infarct and MVO hearts."""

import numpy as np

from LGECore.errors import InputError


def stratified_folds(cases_by_kind, folds=5, seed=0):
    """`folds` lists of case names that together hold every case once; each kind (normal,
    infarct, MVO) is dealt round the folds in a shuffled order, so every fold has its share."""
    if folds < 2:
        raise InputError(f"Cross-validation needs at least 2 folds; got {folds}.")
    rng = np.random.default_rng(seed)
    dealt = [[] for _ in range(folds)]
    turn = 0
    for kind in sorted(cases_by_kind):
        for name in rng.permutation(sorted(cases_by_kind[kind])):
            dealt[turn % folds].append(str(name))
            turn += 1
    return [sorted(names) for names in dealt]


def parse_fold(text):
    """'K/N' (fold K of N, counted from 1) -> (K - 1, N)."""
    return parse_part(text)


def parse_part(text, option="--fold", part="fold", fewest=2):
    """'K/N' (`part` K of N, counted from 1, N at least `fewest`) -> (K - 1, N); InputError naming
    `option` otherwise. Folds and `run --shard` share it, so both read and refuse alike."""
    try:
        index, count = (int(piece) for piece in str(text).split("/"))
    except ValueError:
        raise InputError(f"{option} must look like K/N ({part} K of N, e.g. 2/5); got '{text}'.") from None
    if count < fewest or not 1 <= index <= count:
        raise InputError(f"{option} K/N needs N >= {fewest} and 1 <= K <= N; got '{text}'.")
    return index - 1, count
