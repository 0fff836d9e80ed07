"""The Ray backend gives the same trial records as the local process pool (timings aside), on a local Ray
instance with 2 CPUs whose temp dir lies inside the test's directory."""
from __future__ import annotations

import pytest

from mcmcore.generate import layered_dag
from mcmcore.io.native import save_graph
from mcmcore.sweep import read_results, sweep

from test_sweep import without_timings

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    temp = tmp_path_factory.mktemp("ray")
    # Ray puts AF_UNIX sockets under its temp dir (at most 107 bytes with "session_<date>_<pid>/sockets/...").
    if len(str(temp)) > 60:
        pytest.skip(f"the test directory {temp} is too deep for Ray's socket paths")
    mp = pytest.MonkeyPatch()
    mp.setenv("RAY_AUTH_MODE", "disabled")  # no token written to ~/.ray for a throw-away local instance
    ray.init(num_cpus=2, _temp_dir=str(temp), include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
        mp.undo()




def test_ray_and_local_give_identical_results(tmp_path, local_ray):
    graph_file = tmp_path / "g.json"
    save_graph(layered_dag(40, seed=2), graph_file)
    spec = {"graphs": ["resnet50", str(graph_file)], "packages": ["ring4", "mesh4x4"],
            "methods": [{"name": "anneal", "max_evals": 200},
                        {"name": "random", "max_evals": 200, "options": {"no_such_option": 1}}],
            "seeds": [0, 1]}
    local = sweep(spec, out=tmp_path / "local.jsonl", backend="local", n_workers=2, progress=False)
    remote = sweep(spec, out=tmp_path / "ray.jsonl", backend="ray", progress=False)
    assert remote.n_run == local.n_run == 16
    assert remote.n_failed == local.n_failed == 8  # the failing trials fail the same way
    assert without_timings(read_results(tmp_path / "ray.jsonl")) == \
        without_timings(read_results(tmp_path / "local.jsonl"))
    # resume works the same with the Ray backend
    again = sweep(spec, out=tmp_path / "ray.jsonl", backend="ray", progress=False)
    assert again.n_run == 0 and again.n_skipped == 16
