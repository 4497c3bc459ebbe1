"""collect_groups: grouping, determinism across backends, agreement with the estimators, crash recovery."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from hgpo_algo import compute_advantages, load_batch
from tests.algo import reference
from tests.conftest import REPO_ROOT
from tests.extras import require
from tests.wrappers.textgame import ENV_ID
from wrappers import Decision, collect_groups, task_seeds
from wrappers.backends import WorkerCrashed
from wrappers.policies import Expert, RandomAdmissible


def rollout(backend="sync", seed=3, **kw):
    kw.setdefault("env_kwargs", {"n_rooms": 6})
    return collect_groups(ENV_ID, RandomAdmissible(seed), 4, 3, backend=backend, seed=seed, progress=False, **kw)


def test_groups_share_their_initial_state():
    records = rollout()
    first = {}
    for r in records:
        if r["step"] == 0:
            first.setdefault(r["group_id"], set()).add(r["observation"])
    assert sorted(first) == [0, 1, 2, 3] and all(len(v) == 1 for v in first.values())
    assert {r["traj_id"] for r in records} == {f"{g}-{m}" for g in range(4) for m in range(3)}
    # every episode ends (won or cut by the 12-step limit) and records are in (group, member, step) order
    assert [(r["group_id"], r["traj_id"], r["step"]) for r in records] == sorted(
        (r["group_id"], r["traj_id"], r["step"]) for r in records
    )
    last = [r for r in records if r["done"]]
    assert len(last) == 12 and all(r["won"] or r["truncated"] for r in last)


def test_context_keys_agree_with_trajectories():
    records = rollout(history_length=3)
    load_batch(records)  # raises if any context_keys disagree with the trajectory
    by_traj = {}
    for r in records:
        by_traj.setdefault(r["traj_id"], []).append(r)
    for steps in by_traj.values():
        keys = [r["state_key"] for r in steps]
        for t, r in enumerate(steps):
            assert r["context_keys"] == keys[max(0, t - 3) : t]


def test_hgpo_on_recorded_rollouts_matches_the_loop_reference():
    records = rollout(seed=5)
    got = compute_advantages(records, "hgpo", K=2).advantages
    np.testing.assert_allclose(got, reference.hgpo(records, K=2), rtol=0, atol=1e-9)
    got = compute_advantages(records, "gigpo").advantages
    np.testing.assert_allclose(got, reference.gigpo(records), rtol=0, atol=1e-9)


def test_same_seed_same_records_and_task_seeds_are_stable():
    assert rollout(seed=9) == rollout(seed=9)
    assert rollout(seed=9) != rollout(seed=10)
    assert task_seeds(0, 3) == task_seeds(0, 5)[:3]


def east(prompts, infos):
    return ["go east"] * len(prompts)


def lengths(records):
    out = {}
    for r in records:
        out[r["traj_id"]] = max(out.get(r["traj_id"], 0), r["step"] + 1)
    return out


def test_task_options_take_effect():
    records = collect_groups(
        ENV_ID, east, 2, 2, task_options=[{"treasure": 2}, {"treasure": 4}], env_kwargs={"n_rooms": 6}, progress=False
    )
    # walking east finds treasure 2 after 2 steps and treasure 4 after 4, in every member of the group
    assert lengths(records) == {"0-0": 2, "0-1": 2, "1-0": 4, "1-1": 4}
    assert all(r["won"] for r in records if r["done"])


def test_task_options_and_expert_policy():
    records = collect_groups(
        ENV_ID, Expert(epsilon=0.0), 2, 2, task_options=[{"treasure": 2}, {"treasure": 4}],
        env_kwargs={"n_rooms": 6}, progress=False,
    )
    # the Corridor has no expert plan: the Expert falls back to random admissible actions
    assert {r["traj_id"] for r in records} == {"0-0", "0-1", "1-0", "1-1"}
    with pytest.raises(ValueError, match="task_options has 1 entries for 2 groups"):
        collect_groups(ENV_ID, Expert(), 2, 2, task_options=[{}], progress=False)


def test_parse_actions_marks_invalid_steps():
    def sloppy(prompts, infos):
        return ["go east" if info["episode"] == "0-1" else "<action>go east</action>" for info in infos]

    records = collect_groups(ENV_ID, sloppy, 1, 2, parse_actions=True, progress=False, include=("action", "response"))
    member0 = [r for r in records if r["traj_id"] == "0-0"]
    member1 = [r for r in records if r["traj_id"] == "0-1"]
    assert not any(r["invalid"] for r in member0) and all(r["invalid"] for r in member1)
    assert member1[0]["response"] == "go east" and member1[0]["action"] == ""


def test_decision_payloads_land_on_their_records():
    def with_payload(prompts, infos):
        return [Decision("go east", {"episode": info["episode"], "step": info["step_count"]}) for info in infos]

    records = collect_groups(ENV_ID, with_payload, 2, 2, env_kwargs={"n_rooms": 6}, progress=False)
    assert all(r["payload"] == {"episode": r["traj_id"], "step": r["step"]} for r in records)
    with pytest.raises(TypeError, match="payload must be a mapping"):
        Decision("look", [1, 2])


def state_policy(prompts, infos):
    """Deterministic in what the agent sees (not in call order), so any batching gives the same actions."""
    return [info["admissible_commands"][len(prompt) % len(info["admissible_commands"])] for prompt, info in
            zip(prompts, infos, strict=True)]


@pytest.mark.parametrize("max_envs", [1, 2, 5])
def test_fewer_environments_than_episodes(max_envs):
    full = collect_groups(ENV_ID, state_policy, 3, 4, seed=1, env_kwargs={"n_rooms": 6}, progress=False)
    pooled = collect_groups(ENV_ID, state_policy, 3, 4, seed=1, env_kwargs={"n_rooms": 6}, progress=False,
                            max_envs=max_envs)
    assert pooled == full and len({r["traj_id"] for r in pooled}) == 12
    with pytest.raises(ValueError, match="max_envs must be >= 1"):
        collect_groups(ENV_ID, state_policy, 1, 1, max_envs=0, progress=False)


@pytest.mark.parametrize("limit", [5, 20])
def test_step_limit_replaces_the_registered_one(limit):
    """Corridor registers 12 steps; max_steps sets the limit below or above it (never stacks a second one)."""
    records = collect_groups(ENV_ID, lambda p, i: ["look"] * len(p), 1, 2, max_steps=limit, progress=False)
    assert lengths(records) == {"0-0": limit, "0-1": limit}
    assert all(r["truncated"] for r in records if r["done"])


def test_unguarded_script_gets_one_clear_error(tmp_path):
    """backend='process' from a script without a main guard: one clear error, no worker restarts."""
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent("""
        from tests.wrappers.textgame import ENV_ID
        from wrappers import collect_groups
        collect_groups(ENV_ID, lambda p, i: ["look"] * len(p), 1, 2, backend="process", n_workers=1,
                       progress=False)
        print("finished")
    """))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode != 0 and "finished" not in done.stdout
    assert "MainModuleNotGuarded" in done.stderr and 'if __name__ == "__main__":' in done.stderr
    assert "replacing it" not in done.stderr and "crashed" not in done.stderr


def test_policy_answer_count_is_checked():
    with pytest.raises(ValueError, match="policy returned 1 actions for 6 prompts"):
        collect_groups(ENV_ID, lambda p, i: ["look"], 2, 3, progress=False)


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'threads'"):
        rollout(backend="threads")


def test_process_backend_gives_identical_records():
    assert rollout(backend="process", n_workers=2) == rollout(backend="sync")


def test_crashed_process_worker_is_replaced(tmp_path, caplog):
    marker = tmp_path / "crash-once"
    marker.write_text("x")
    kwargs = {"n_rooms": 6, "crash_file": str(marker)}
    with caplog.at_level(logging.WARNING, logger="wrappers.rollout"):
        got = rollout(backend="process", n_workers=2, env_kwargs=kwargs)
    assert not marker.exists()  # the crash happened
    assert "rollout worker" in caplog.text and "crashed" in caplog.text and "replaying" in caplog.text
    assert got == rollout(backend="sync", env_kwargs={"n_rooms": 6})


def test_repeated_crashes_give_up_clearly(tmp_path):
    marker = tmp_path / "crash-always"
    marker.write_text("x")
    with pytest.raises(WorkerCrashed, match=r"exited with code 3; giving up after 1 replacements"):
        collect_groups(
            ENV_ID, lambda prompts, infos: ["go east"] * len(prompts), 1, 2, backend="process", n_workers=1,
            max_restarts=1, env_kwargs={"n_rooms": 6, "crash_file": str(marker), "crash_once": False},
            task_options=[{"treasure": 5}], progress=False,
        )


@pytest.fixture(scope="module")
def local_ray():
    ray = require("ray", extra="ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}},
    )
    yield ray
    ray.shutdown()


def test_ray_backend_gives_identical_records(local_ray):
    assert rollout(backend="ray", n_workers=2) == rollout(backend="sync")


def test_crashed_ray_actor_is_replaced(local_ray, tmp_path, caplog):
    marker = tmp_path / "crash-once"
    marker.write_text("x")
    with caplog.at_level(logging.WARNING, logger="wrappers.rollout"):
        got = rollout(backend="ray", n_workers=2, env_kwargs={"n_rooms": 6, "crash_file": str(marker)})
    assert not marker.exists() and "actor died" in caplog.text
    assert got == rollout(backend="sync", env_kwargs={"n_rooms": 6})
