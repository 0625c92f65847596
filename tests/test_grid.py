"""The grid runner (common/grid.py): finished runs are reused and never started, a failed run is
retried once and then listed with its error, local processes and a Ray cluster give the same
numbers as this process, and the run folders the claim factorial and the eembed comparison wrote
before the runner existed are recognised as finished by it."""
from __future__ import annotations

import json
import shutil
from functools import partial
from pathlib import Path

import pytest
from grid_jobs import TRUE_BIAS, TRUE_WEIGHTS, fail_always, fail_first, fit_line, kill_own_process, saved_fit

from common.grid import ClusterUnavailable, GridError, GridRun, check_grid_arguments, run_grid, same_settings

BEFORE = Path(__file__).parent / "fixtures" / "runs_before_grid"  # written by the code at 3a0f911, before the runner


def fits(seeds=(0, 1)) -> list[GridRun]:
    return [GridRun(f"fit/seed{s}", fit_line, (f"runs/fit/seed{s}", s), finished=partial(saved_fit, f"runs/fit/seed{s}"))
            for s in seeds]


def test_same_settings_compares_every_key_but_the_ignored_ones():
    wanted = {"steps": 10, "lr": 0.002, "out": "a", "split_seeds": {"train": 1}}
    assert same_settings(dict(wanted), wanted)
    assert same_settings({**wanted, "out": "b"}, wanted, ignore=("out",))
    assert not same_settings({**wanted, "out": "b"}, wanted)
    assert not same_settings({**wanted, "steps": 11}, wanted, ignore=("out",))
    assert not same_settings({**wanted, "split_seeds": {"train": 2}}, wanted)
    assert not same_settings({**wanted, "extra": 1}, wanted)  # a setting this code does not know is a difference


def test_a_finished_run_is_reused_and_an_unfinished_one_trained(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = run_grid(fits(), progress=False)
    assert first.trained == ["fit/seed0", "fit/seed1"] and first.reused == [] and first.failed == {}
    for result in first.results.values():  # a real fit: it finds the line
        assert result["weights"] == pytest.approx(TRUE_WEIGHTS, abs=0.02) and result["bias"] == pytest.approx(TRUE_BIAS, abs=0.02)
    assert first.results["fit/seed0"] != first.results["fit/seed1"]  # the seed matters
    stamp = (tmp_path / "runs/fit/seed0/result.json").stat().st_mtime_ns
    shutil.rmtree(tmp_path / "runs/fit/seed1")
    again = run_grid(fits(), progress=False)
    assert again.reused == ["fit/seed0"] and again.trained == ["fit/seed1"]
    assert (tmp_path / "runs/fit/seed0/result.json").stat().st_mtime_ns == stamp  # not started again
    assert again.results == first.results  # the retrained run gives the same numbers
    with pytest.raises(ValueError, match="repeat"):
        run_grid(fits((0, 0)), progress=False)


def test_a_failing_run_is_retried_once_then_listed_as_failed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = [GridRun("always", fail_always, ("always.txt",)), *fits((0,)), GridRun("once", fail_first, ("once.txt",))]
    summary = run_grid(runs, progress=False)
    assert summary.failed == {"always": "RuntimeError: failed on purpose"}
    assert summary.attempts == {"always": 2, "fit/seed0": 1, "once": 2}
    assert len((tmp_path / "always.txt").read_text().splitlines()) == 2  # started twice, not more
    assert summary.results["once"] == "done on a later attempt" and list(summary.results) == ["fit/seed0", "once"]
    assert "1 failed" in summary.describe() and "always: RuntimeError: failed on purpose" in summary.describe()
    with pytest.raises(GridError, match=r"1 of 3 runs failed after 2 attempts each:\n  always: RuntimeError") as raised:
        summary.raise_for_failures()
    assert raised.value.failed == summary.failed


def test_local_processes_give_this_process_numbers_and_a_killed_run_fails_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    here = run_grid(fits((1,)), progress=False)
    shutil.rmtree(tmp_path / "runs")
    spawned = run_grid([GridRun("killed", kill_own_process, ("killed.txt",)), *fits((1,))], jobs=2, progress=False)
    assert spawned.where == "in 2 local processes" and spawned.trained == ["fit/seed1"]
    assert spawned.results == here.results  # exactly: same seed, same thread count
    assert list(spawned.failed) == ["killed"] and spawned.failed["killed"].startswith("its process ended without a result")
    assert spawned.attempts == {"killed": 2, "fit/seed1": 1} and len((tmp_path / "killed.txt").read_text().splitlines()) == 2


def test_a_run_whose_output_the_driver_cannot_read_fails(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # The run writes to runs/fit/seed0 but the driver looks in another folder: as on a cluster
    # whose workers write to their own disks.
    run = GridRun("fit/seed0", fit_line, ("runs/fit/seed0", 0), finished=partial(saved_fit, "elsewhere"))
    summary = run_grid([run], progress=False)
    assert "not where this machine reads it" in summary.failed["fit/seed0"] and summary.attempts["fit/seed0"] == 2


def test_grid_arguments_are_checked_before_any_work():
    with pytest.raises(ValueError, match="--jobs must be at least 1"):
        check_grid_arguments(0, None)
    with pytest.raises(ValueError, match="--cluster needs an address"):
        check_grid_arguments(1, " ")


def test_without_ray_a_cluster_is_refused_with_the_extra_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # as on a machine without the extra: import ray fails
    with pytest.raises(ClusterUnavailable, match=r"pip install '\.\[cluster\]'"):
        check_grid_arguments(1, "auto")


# ------------------------------------------------------------------ runs made before the runner

def test_a_claim_run_folder_from_before_the_runner_is_finished_for_it(tmp_path):
    from mirror_model.claim import ARM_BY_SLUG, Recipe, collect, run_factorial

    runs = tmp_path / "runs"
    shutil.copytree(BEFORE / "factorial", runs)
    saved = runs / "pretrained-image.none-text" / "seed0" / "result.json"
    before = saved.read_bytes()
    recipe = Recipe(clip="world-vit/procedural-world", mirror_tokens=8, train_count=2, val_count=1, test_count=1, steps=2,
                    val_every=2)  # the fixture's recipe
    done = run_factorial(recipe, tmp_path / "data", runs, [0], [ARM_BY_SLUG["pretrained-image.none-text"]], progress=False)
    assert done["reused"] == ["pretrained-image.none-text/seed0"] and done["trained"] == [] and done["failed"] == {}
    assert done["caches_built"] == [] and not (tmp_path / "data").exists()  # nothing rendered, cached or trained
    assert saved.read_bytes() == before
    assert collect(runs, recipe, [0])["pretrained-image.none-text"] == [json.loads(before)]
    recipe.steps = 3  # another recipe: refused, as before
    with pytest.raises(ValueError, match="another recipe"):
        run_factorial(recipe, tmp_path / "data", runs, [0], [ARM_BY_SLUG["pretrained-image.none-text"]], progress=False)


def test_compare_run_folders_from_before_the_runner_are_finished_for_it(tmp_path, monkeypatch):
    from eembed_model.compare import train_grids
    from eembed_model.train import TrainConfig

    monkeypatch.chdir(tmp_path)
    shutil.copytree(BEFORE / "cmp", tmp_path / "runs" / "cmp")
    card = tmp_path / "runs/cmp/elementwise/seed0/card.json"
    before = card.read_bytes()
    # The settings of the command that wrote the fixture (its card's "command"). The data folder
    # is absent: a run that was not recognised would fail to train and be listed as failed.
    base = TrainConfig(batch_size=16, v=8, c=8, layers=1, max_len=16, vocab_size=300, threads=1, data="data/debtags-tiny",
                       out="runs/cmp", curve_every=100)
    pretraining, fine_tuning = train_grids("data/debtags-tiny", "runs/cmp", {"elementwise": [0]}, 2, 2, base, base.lr,
                                           "python -m eembed_model.compare", progress=False)
    assert pretraining.reused == ["pretrain-elementwise"] and fine_tuning.reused == ["elementwise/seed0"]
    assert pretraining.trained == fine_tuning.trained == [] and pretraining.failed == fine_tuning.failed == {}
    assert card.read_bytes() == before
    _, longer = train_grids("data/debtags-tiny", "runs/cmp", {"elementwise": [0]}, 2, 3, base, base.lr, "", progress=False)
    assert longer.reused == [] and list(longer.failed) == ["elementwise/seed0"]  # other settings: trained (and, here, failing)


# ------------------------------------------------------------------ Ray

@pytest.fixture(scope="module")
def ray_head():
    """A one-CPU Ray head on the loopback address, owned by this test process and stopped after."""
    import os

    # Ray puts a head on the machine's network address unless told it is a one-machine cluster
    # (the variable's name is historical: off, every node address is 127.0.0.1). Read at import.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install '.[cluster]' (requirements-dev.txt has it)")
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        os.environ.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")


def test_a_ray_cluster_gives_the_local_runners_numbers_and_lists_a_failed_run(ray_head, tmp_path, monkeypatch):
    assert ray_head.startswith("127.0.0.1:")
    monkeypatch.chdir(tmp_path)
    here = run_grid(fits(), progress=False)
    shutil.rmtree(tmp_path / "runs")
    summary = run_grid([*fits(), GridRun("always", fail_always, ("always.txt",))], cluster=ray_head, progress=False)
    assert summary.where == f"on the Ray cluster at {ray_head}" and summary.trained == ["fit/seed0", "fit/seed1"]
    for name, result in here.results.items():
        remote = summary.results[name]
        assert remote["threads"] == result["threads"] == 1
        assert remote["loss"] == pytest.approx(result["loss"], abs=1e-6)
        assert remote["weights"] == pytest.approx(result["weights"], abs=1e-6)
        assert remote["bias"] == pytest.approx(result["bias"], abs=1e-6)
        assert saved_fit(f"runs/{name}") == remote  # written where the driver reads it
    assert summary.failed == {"always": "RuntimeError: failed on purpose"} and summary.attempts["always"] == 2
    assert len((tmp_path / "always.txt").read_text().splitlines()) == 2
    with pytest.raises(ClusterUnavailable, match="connected to the Ray cluster at"):
        run_grid(fits((2,)), cluster="127.0.0.1:1", progress=False)
    with pytest.raises(ClusterUnavailable, match="no Ray cluster answers at '127.0.0.1:1'"):
        check_grid_arguments(1, "127.0.0.1:1")  # a command refuses an address nothing listens at, before any work


def test_the_claim_command_lists_runs_that_failed_twice_and_exits_1(tmp_path, capsys):
    from mirror_model.claim import main

    for seed in (0, 1):  # a file where the run's folder goes: every attempt to train there fails
        blocked = tmp_path / "runs" / "pretrained-image.none-text" / f"seed{seed}"
        blocked.parent.mkdir(parents=True, exist_ok=True)
        blocked.write_text("not a run folder\n")
    arguments = ["--runs", str(tmp_path / "runs"), "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "out"),
                 "--clip", "world-vit-256/procedural-world", "--mirror-tokens", "8", "--train-count", "2", "--val-count", "1",
                 "--test-count", "1", "--steps", "2", "--val-every", "2", "--seeds", "0,1", "--threads", "1",
                 "--arms", "pretrained-image.none-text", "--no-report"]
    assert main(arguments) == 1
    error = capsys.readouterr().err
    assert "error: 2 of 2 runs failed after 2 attempts each:" in error
    assert "pretrained-image.none-text/seed0: NotADirectoryError" in error and "pretrained-image.none-text/seed1: " in error
    assert "feature caches: 1 run in this process: 0 reused, 1 trained, 0 failed" in error  # the cache stage went through
    assert main([*arguments, "--jobs", "0"]) == 2 and "--jobs must be at least 1" in capsys.readouterr().err
