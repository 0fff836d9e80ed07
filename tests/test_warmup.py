"""warm_up() compiles every kernel signature the split and the DP use, so partition's budget starts after it."""
from __future__ import annotations

import pytest
from numba.core.registry import CPUDispatcher

from mcmcore import Package, zoo
from mcmcore.search import dp, ideals, partition, warm_up


def _signatures() -> dict[str, int]:
    return {f"{mod.__name__}.{name}": len(obj.signatures)
            for mod in (dp, ideals) for name, obj in vars(mod).items() if isinstance(obj, CPUDispatcher)}


def test_warm_up_covers_the_kernels_real_problems_use():
    warm_up()
    assert warm_up() == 0.0  # once per process
    before = _signatures()
    assert before["mcmcore.search.ideals._dp"] >= 1 and before["mcmcore.search.dp._split_order"] >= 1
    cases = [("inception-v3", False, "port4", "dp"), ("bert-large", True, "ring8", "auto"),
             ("resnet50", True, "hetero3", "dp"), ("resnet50", False, "simba6x6", "anneal")]
    for name, training, preset, method in cases:
        partition(zoo.load(name, training=training), Package.preset(preset), method=method, max_evals=50,
                  progress=False)
    assert _signatures() == before  # nothing compiled after the warm-up


@pytest.mark.parametrize("method", ["dp", "auto"])
def test_partition_warms_the_kernels_except_for_random(method, monkeypatch):
    """partition warms the kernels (before its clock starts) for the methods that use them."""
    import mcmcore.search as search

    calls = []
    monkeypatch.setattr(search, "warm_up", lambda: calls.append(1) or 0.0)
    partition(zoo.load("resnet50"), Package.preset("port4"), method=method, max_evals=20, progress=False)
    partition(zoo.load("resnet50"), Package.preset("port4"), method="random", max_evals=20, progress=False)
    assert calls == [1]  # random needs no kernel
