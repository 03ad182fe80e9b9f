"""Scale-aware region selection (paper §4.4, Algorithm 2; contract §4) and its ablation.

Each scale's candidates are sorted by score, descending and stable (ties keep generation
order). The scales are visited round-robin in their configured order, popping each
scale's best; the popped region is annotated and the objects it *newly* labels are added
to the spent budget; selection stops as soon as ``spent >= budget`` or every list is
empty. An object already labelled (by an earlier region of this or an earlier cycle)
costs nothing again. A region whose objects were all labelled already is still taken
(Algorithm 2 annotates every popped region); it costs nothing.

The ablation without scale awareness sorts the union of all scales by score (ties: scale
order, then generation order) and takes from the top under the same budget rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Selection", "select_lazy", "select_scale_aware", "select_union"]

Annotate = Callable[[int, int], Iterable[Hashable]]


@dataclass
class Selection:
    """What a selection took.

    Attributes:
        picks: ``(scale_index, candidate_index)`` in the order taken.
        new_objects: per pick, the objects it newly labelled.
        spent: total newly labelled objects (the budget spent).
    """

    picks: list[tuple[int, int]] = field(default_factory=list)
    new_objects: list[list[Hashable]] = field(default_factory=list)
    spent: int = 0


def _check_budget(budget: Any) -> float:
    try:
        b = float(budget)
    except (TypeError, ValueError):
        raise ValueError(f"budget must be a number, got {budget!r}") from None
    if math.isnan(b) or b < 0:
        raise ValueError(f"budget must be non-negative, got {budget!r}")
    return b


def _check_scores(scores: Any, s: int) -> NDArray[np.float64]:
    arr = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not np.isfinite(arr).all():
        raise ValueError(f"scores of scale {s} must be finite (got NaN or inf)")
    return arr


def select_lazy(
    scores: Sequence[Any],
    annotate: Annotate,
    budget: float,
    *,
    scale_aware: bool = True,
    labelled: Iterable[Hashable] = (),
) -> Selection:
    """Algorithm 2 (or the union ablation), annotating only the regions it pops.

    Args:
        scores: per scale, a ``(K_s,)`` array of candidate scores.
        annotate: ``annotate(s, k)`` returns the objects region ``k`` of scale ``s`` labels
            (hashable ids); it is called once per popped region, in pick order.
        budget: ``B``, in objects; selection stops once ``spent >= B``.
        scale_aware: round-robin over scales (Algorithm 2) or the union ablation.
        labelled: objects labelled before this selection (they cost nothing).

    Returns:
        A :class:`Selection`.
    """
    b = _check_budget(budget)
    per = [_check_scores(sc, s) for s, sc in enumerate(scores)]
    seen = set(labelled)
    out = Selection()
    if b <= 0:
        return out

    def take(s: int, k: int) -> bool:
        new = []
        for obj in annotate(s, k):
            if obj not in seen:
                seen.add(obj)
                new.append(obj)
        out.picks.append((s, k))
        out.new_objects.append(new)
        out.spent += len(new)
        return out.spent >= b

    if scale_aware:
        orders = [np.argsort(-sc, kind="stable") for sc in per]
        pos = [0] * len(per)
        while True:
            progressed = False
            for s, order in enumerate(orders):
                if pos[s] >= order.shape[0]:
                    continue
                k = int(order[pos[s]])
                pos[s] += 1
                progressed = True
                if take(s, k):
                    return out
            if not progressed:
                return out
    if not per:
        return out
    flat = np.concatenate(per) if per else np.zeros(0)
    scale_of = np.concatenate([np.full(sc.shape[0], s, dtype=np.int64) for s, sc in enumerate(per)])
    index_of = np.concatenate([np.arange(sc.shape[0], dtype=np.int64) for sc in per])
    for j in np.argsort(-flat, kind="stable"):
        if take(int(scale_of[j]), int(index_of[j])):
            break
    return out


def _split(
    per_scale: Sequence[Sequence[tuple[float, Iterable[Hashable]]]],
) -> tuple[list[NDArray[np.float64]], list[list[tuple[Hashable, ...]]]]:
    scores, objects = [], []
    for s, cands in enumerate(per_scale):
        sc, ob = [], []
        for j, item in enumerate(cands):
            try:
                score, ids = item
            except (TypeError, ValueError):
                raise ValueError(
                    f"per_scale[{s}][{j}] must be a (score, object_ids) pair, got {item!r}"
                ) from None
            sc.append(score)
            ob.append(tuple(ids))
        scores.append(_check_scores(np.asarray(sc, dtype=np.float64), s))
        objects.append(ob)
    return scores, objects


def select_scale_aware(
    per_scale: Sequence[Sequence[tuple[float, Iterable[Hashable]]]], budget: float
) -> list[tuple[int, int]]:
    """Scale-aware region selection (Algorithm 2; contract §4, §9).

    Args:
        per_scale: ``per_scale[s]`` lists ``(score, object_ids)`` for the candidates of
            scale ``s``; ``object_ids`` are the hashable ground-truth objects annotating
            that candidate would label. An object in several candidates costs once.
        budget: ``B``, in objects.

    Returns:
        ``(scale_index, candidate_index)`` pairs in the order taken.

    >>> select_scale_aware([[(0.9, ["a", "b"]), (0.1, ["c"])], [(0.5, ["b", "d"])]], 3)
    [(0, 0), (1, 0)]
    """
    scores, objects = _split(per_scale)
    return select_lazy(scores, lambda s, k: objects[s][k], budget, scale_aware=True).picks


def select_union(
    per_scale: Sequence[Sequence[tuple[float, Iterable[Hashable]]]], budget: float
) -> list[tuple[int, int]]:
    """The ablation without scale awareness: the union of all scales sorted by score."""
    scores, objects = _split(per_scale)
    return select_lazy(scores, lambda s, k: objects[s][k], budget, scale_aware=False).picks
