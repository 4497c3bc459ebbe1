"""verl's v1 trainer hook end to end on TransferQueue: samples stored as verl's agent-loop worker stores them,
``StepAdvantageMixin._compute_advantage`` of the registered ``hgpo_sync`` trainer, advantages read back.

A local Ray instance and TransferQueue's in-memory storage run on the CPU; the trainer object is
``HGPOTrainerSync`` without its GPU workers (only ``config`` is set: ``_compute_advantage`` reads nothing
else). verl's own ``_compute_advantage`` serves ``grpo`` through the same object. Runs in the verl
virtualenv (``make test-verl``).
"""

from __future__ import annotations

import importlib.util
import os
import random

import pytest

from tests.extras import require

if os.environ.get("HGPO_TEST_VENV") != "verl" and importlib.util.find_spec("verl") is None:
    pytest.skip("verl runs in its own virtualenv: make test-verl", allow_module_level=True)

torch = require("torch", extra="verl")
require("verl", extra="verl")
tq = require("transfer_queue", extra="verl")
ray = require("ray", extra="verl")

from omegaconf import OmegaConf  # after the gate: dependencies of verl
from verl.experimental.agent_loop.agent_loop import AgentLoopOutput
from verl.utils.tensordict_utils import list_of_dict_to_tensordict

from hgpo.integrations.verl.v1 import HGPOTrainerSync
from hgpo_algo import compute_advantages
from tests.app.integrations.test_verl_advantage import random_records


@pytest.fixture(scope="module")
def transfer_queue():
    # TransferQueue's controller and storage units are Ray actors of one CPU each: logical CPUs, not cores
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False)
    tq.init()
    yield tq
    tq.close()
    ray.shutdown()


def store(records, partition="train"):
    """Put one sample per step record, as AgentLoopWorkerTQ does: ``as_dict()`` plus the row's fields,
    keys ``{uid}_{session}_{index}``; the last step's score is every step's ``rm_scores`` score."""
    rng = random.Random(0)
    by_traj: dict = {}
    for r in records:
        by_traj.setdefault(r["traj_id"], []).append(r)
    keys, fields = [], []
    for session, (traj, steps) in enumerate(sorted(by_traj.items())):
        steps.sort(key=lambda r: r["step"])
        for r in steps:
            n = rng.randint(1, 5)
            out = AgentLoopOutput(
                prompt_ids=[1, 2, 3], response_ids=list(range(4, 4 + n)), response_mask=[1] * n,
                reward_score=steps[-1]["reward"], metrics={}, num_turns=2,
                extra_fields={"group_id": r["group_id"], "traj_id": traj, "step": r["step"],
                              "state_key": r["state_key"], "reward": r["reward"], "invalid": r["invalid"],
                              "reward_extra_info": {}},
            )
            field = out.as_dict()
            field["uid"] = r["group_id"]
            fields.append(field)
            keys.append(f"{r['group_id']}_{session}_{r['step']}")
    batch = tq.kv_batch_put(keys=keys, fields=list_of_dict_to_tensordict(fields),
                            tags=[{"status": "success"}] * len(keys), partition_id=partition)
    return batch, keys, fields


def trainer(estimator, **algorithm):
    t = object.__new__(HGPOTrainerSync)
    t.config = OmegaConf.create({
        "algorithm": {"adv_estimator": estimator, "gamma": 0.9, "lam": 1.0, "use_kl_in_reward": False,
                      "norm_adv_by_std_in_grpo": True, **algorithm},
        "actor_rollout_ref": {"rollout": {"n": 4}},
        "hgpo": {"estimator_options": {"K": 2, "alpha": 1.0}},
    })
    return t


def read(batch, name):
    data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=[name, "response_mask"])
    return [row for row in data[name].unbind()]


def test_hgpo_sync_writes_per_step_advantages(transfer_queue):
    records = random_records(random.Random(4))
    batch, keys, fields = store(records)
    metrics: dict = {}
    out = trainer("hgpo")._compute_advantage(batch, metrics)
    assert out.keys == batch.keys
    advantages = read(batch, "advantages")
    returns = read(batch, "returns")
    by_key = {(r["traj_id"], r["step"]): r for r in records}
    ordered = [by_key[(f["extra_fields"]["traj_id"], f["extra_fields"]["step"])] for f in fields]
    want = compute_advantages(ordered, "hgpo", gamma=0.9, K=2, alpha=1.0)
    for adv, ret, field, a, g in zip(advantages, returns, fields, want.advantages, want.returns, strict=True):
        assert adv.shape == field["response_mask"].shape
        torch.testing.assert_close(adv, torch.full_like(adv, float(a)), rtol=0, atol=1e-6)
        torch.testing.assert_close(ret, torch.full_like(ret, float(g)), rtol=0, atol=1e-6)


def test_other_estimators_go_to_verls_own_method(transfer_queue):
    records = random_records(random.Random(5))
    batch, keys, fields = store(records, partition="val")
    trainer("grpo")._compute_advantage(batch, {})
    advantages = read(batch, "advantages")
    # verl's GRPO over the final sessions, broadcast to the session's steps: one value per trajectory
    per_traj: dict = {}
    for adv, f in zip(advantages, fields, strict=True):
        per_traj.setdefault(f["extra_fields"]["traj_id"], set()).add(round(float(adv[0]), 6))
    assert all(len(v) == 1 for v in per_traj.values())
    assert any(abs(next(iter(v))) > 0 for v in per_traj.values())


def test_kl_in_reward_is_refused(transfer_queue):
    records = random_records(random.Random(6))
    batch, _, _ = store(records, partition="train")
    with pytest.raises(ValueError, match="use_kl_in_reward"):
        trainer("hgpo", use_kl_in_reward=True)._compute_advantage(batch, {})
