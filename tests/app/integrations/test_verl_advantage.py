"""hgpo's advantages on real verl ``DataProto`` batches: equal to ``compute_advantages`` and the spec vectors.

Runs in the verl virtualenv (``make test-verl``); the main test run skips it, since verl cannot share that
virtualenv (it pins transformers <5.11).
"""

from __future__ import annotations

import importlib.util
import os
import random

import numpy as np
import pytest

from tests.extras import require

if os.environ.get("HGPO_TEST_VENV") != "verl" and importlib.util.find_spec("verl") is None:
    pytest.skip("verl runs in its own virtualenv: make test-verl", allow_module_level=True)

torch = require("torch", extra="verl")
verl = require("verl", extra="verl")

from omegaconf import OmegaConf  # after the gate: a dependency of verl
from verl import DataProto
from verl.trainer.ppo import core_algos, ray_trainer

from hgpo.integrations.verl import advantage as va
from hgpo.integrations.verl import trainer as vt
from hgpo_algo import compute_advantages
from tests.algo.vectors import TV1, TV1_RECORDS, TV3, TV3_RECORDS

RESPONSE_LENGTH = 7


def random_records(rng: random.Random, n_groups: int = 3, group_size: int = 4) -> list[dict]:
    """Groups of trajectories over a small state space (so states repeat within and across trajectories)."""
    records = []
    for g in range(n_groups):
        start = f"s{g}"
        for m in range(group_size):
            traj = f"g{g}-t{m}"
            length = rng.randint(1, 6)
            key = start
            for t in range(length):
                success = t == length - 1 and rng.random() < 0.5
                records.append({
                    "group_id": f"g{g}", "traj_id": traj, "step": t, "state_key": key,
                    "reward": 1.0 if success else (0.0 if rng.random() < 0.8 else 0.25),
                    "invalid": rng.random() < 0.15,
                })
                key = f"k{rng.randint(0, 3)}"
    rng.shuffle(records)  # verl batches are not in (trajectory, step) order after balancing
    return records


def to_dataproto(records: list[dict], names: str = "ours", seed: int = 0) -> DataProto:
    """A ``DataProto`` whose rows are the records: reward on the last response token, random lengths."""
    gen = torch.Generator().manual_seed(seed)
    n = len(records)
    lengths = torch.randint(1, RESPONSE_LENGTH + 1, (n,), generator=gen)
    mask = (torch.arange(RESPONSE_LENGTH).unsqueeze(0) < lengths.unsqueeze(1)).to(torch.int64)
    rewards = torch.zeros(n, RESPONSE_LENGTH, dtype=torch.float32)
    rewards[torch.arange(n), lengths - 1] = torch.tensor([r["reward"] for r in records], dtype=torch.float32)

    def col(values):
        arr = np.empty(n, dtype=object)
        arr[:] = values
        return arr

    if names == "ours":
        non_tensors = {
            "group_id": col([r["group_id"] for r in records]),
            "traj_id": col([r["traj_id"] for r in records]),
            "step": np.array([r["step"] for r in records], dtype=np.int64),
            "state_key": col([r["state_key"] for r in records]),
            "invalid": np.array([r.get("invalid", False) for r in records], dtype=bool),
        }
    else:  # verl-agent's names: no step column (rows in step order), per-step rewards in "rewards"
        non_tensors = {
            "uid": col([r["group_id"] for r in records]),
            "traj_uid": col([r["traj_id"] for r in records]),
            "anchor_obs": col([r["state_key"] for r in records]),
            "is_action_valid": np.array([not r.get("invalid", False) for r in records], dtype=bool),
            "rewards": np.array([r["reward"] for r in records], dtype=np.float32),
        }
    tensors = {"token_level_rewards": rewards, "response_mask": mask}
    return DataProto.from_dict(tensors=tensors, non_tensors=non_tensors)


def expected(records, estimator, mask, **options):
    res = compute_advantages(records, estimator, **options)
    m = mask.to(torch.float32)
    adv = torch.tensor(res.advantages, dtype=torch.float32).unsqueeze(-1) * m
    ret = torch.tensor(res.returns, dtype=torch.float32).unsqueeze(-1) * m
    return adv, ret


CASES = [
    ("grpo", {}),
    ("grpo", {"episode_stats": "per_trajectory"}),
    ("gigpo", {}),
    ("gigpo", {"mode": "mean_norm", "omega": 0.5}),
    ("hgpo", {}),
    ("hgpo", {"K": 4, "alpha": 2.0, "gamma": 0.9, "invalid_penalty": 0.2}),
    ("hgpo", {"K": 1, "base_group": True, "weight_offset": 1}),
]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("estimator", "options"), CASES, ids=[f"{e}-{i}" for i, (e, _) in enumerate(CASES)])
def test_dataproto_equals_compute_advantages(seed, estimator, options):
    records = random_records(random.Random(seed))
    data = to_dataproto(records, seed=seed)
    out = va.compute_advantage(data, estimator, **options)
    assert out is data
    adv, ret = expected(records, estimator, data.batch["response_mask"], **options)
    torch.testing.assert_close(data.batch["advantages"], adv, rtol=0, atol=1e-6)
    torch.testing.assert_close(data.batch["returns"], ret, rtol=0, atol=1e-6)
    assert data.batch["advantages"].dtype == torch.float32
    # nothing outside the response mask
    assert not data.batch["advantages"][data.batch["response_mask"] == 0].any()


@pytest.mark.parametrize("seed", range(4))
def test_verl_agent_field_names(seed):
    """uid / traj_uid / anchor_obs / is_action_valid / rewards, steps implied by row order."""
    rng = random.Random(seed)
    records = random_records(rng)
    records.sort(key=lambda r: (r["traj_id"], r["step"]))  # verl-agent emits each trajectory's steps in order
    data = to_dataproto(records, names="verl-agent", seed=seed)
    va.compute_advantage(data, "hgpo", K=2)
    adv, ret = expected(records, "hgpo", data.batch["response_mask"], K=2)
    torch.testing.assert_close(data.batch["advantages"], adv, rtol=0, atol=1e-6)
    torch.testing.assert_close(data.batch["returns"], ret, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("records", "estimator", "options", "values"),
    [
        (TV1_RECORDS, "gigpo", {}, TV1["gigpo"]),
        (TV1_RECORDS, "hgpo", {}, TV1["hgpo_offset2"]),
        (TV1_RECORDS, "hgpo", {"K": 1}, TV1["hgpo_K1"]),
        (TV1_RECORDS, "hgpo_grpo", {}, TV1["grpo_cross_steps"]),
        (TV3_RECORDS, "hgpo", {}, TV3["hgpo"]),
        (TV3_RECORDS, "hgpo", {"base_group": True}, TV3["hgpo_base_group"]),
    ],
    ids=["tv1-gigpo", "tv1-hgpo", "tv1-hgpo-K1", "tv1-grpo", "tv3-hgpo", "tv3-hgpo-base"],
)
def test_spec_vectors(records, estimator, options, values):
    data = to_dataproto(records)
    va.compute_advantage(data, estimator, **options)
    mask = data.batch["response_mask"].to(torch.float32)
    want = torch.tensor(values, dtype=torch.float32).unsqueeze(-1) * mask
    torch.testing.assert_close(data.batch["advantages"], want, rtol=0, atol=1e-4)
    returns = TV1["ghat"] if records is TV1_RECORDS else compute_advantages(records, "grpo").returns
    want = torch.tensor(returns, dtype=torch.float32).unsqueeze(-1) * mask
    torch.testing.assert_close(data.batch["returns"], want, rtol=0, atol=1e-4)


def test_active_masks_leave_rows_out():
    records = random_records(random.Random(11))
    data = to_dataproto(records)
    # drop every trajectory of group g1: those rows get zeros, the others are computed without them
    active = np.array([r["group_id"] != "g1" for r in records])
    data.non_tensor_batch["active_masks"] = active
    va.compute_advantage(data, "gigpo")
    kept = [r for r, a in zip(records, active, strict=True) if a]
    res = compute_advantages(kept, "gigpo")
    got = data.batch["advantages"][:, 0]
    torch.testing.assert_close(got[torch.tensor(active)], torch.tensor(res.advantages, dtype=torch.float32))
    assert not data.batch["advantages"][torch.tensor(~active)].any()


def test_missing_columns_are_named():
    records = random_records(random.Random(1))
    data = to_dataproto(records)
    del data.non_tensor_batch["state_key"]
    with pytest.raises(ValueError, match=r"no state_key column.*'state_key' or 'anchor_obs'"):
        va.compute_advantage(data, "hgpo")
    va.compute_advantage(data, "grpo")  # GRPO reads no state keys
    del data.non_tensor_batch["traj_id"]
    with pytest.raises(ValueError, match="no traj_id column"):
        va.compute_advantage(data, "grpo")
    with pytest.raises(ValueError, match="unknown hgpo estimator 'gae'"):
        va.compute_advantage(to_dataproto(records), "gae")
    with pytest.raises(ValueError, match="option"):
        va.compute_advantage(to_dataproto(records), "hgpo", K=-1)


def test_registered_in_verls_registry():
    fns = va.register_estimators()
    assert va.register_estimators() == fns  # idempotent
    records = random_records(random.Random(2))
    data = to_dataproto(records)
    for verl_name, ours in va.VERL_NAMES.items():
        fn = core_algos.get_adv_estimator_fn(verl_name)
        assert fn is fns[verl_name]
        config = OmegaConf.create({"gamma": 0.95, verl_name: {"invalid_penalty": 0.2}})
        adv, ret = fn(token_level_rewards=data.batch["token_level_rewards"],
                      response_mask=data.batch["response_mask"], index=data.non_tensor_batch["group_id"],
                      config=config, non_tensor_batch=data.non_tensor_batch)
        want_adv, want_ret = expected(records, ours, data.batch["response_mask"], gamma=0.95, invalid_penalty=0.2)
        torch.testing.assert_close(adv, want_adv, rtol=0, atol=1e-6)
        torch.testing.assert_close(ret, want_ret, rtol=0, atol=1e-6)
        with pytest.raises(ValueError, match="passed no non_tensor_batch"):
            fn(token_level_rewards=data.batch["token_level_rewards"], response_mask=data.batch["response_mask"],
               index=data.non_tensor_batch["group_id"], config=config)


def test_trainer_hook_routes_hgpo_and_leaves_verls_estimators():
    records = random_records(random.Random(3))
    original = ray_trainer.compute_advantage
    vt.install_hook()
    try:
        assert ray_trainer.compute_advantage is vt.compute_advantage
        vt.install_hook()
        assert vt.verl_compute_advantage() is original
        config = OmegaConf.create({"gamma": 0.9, "adv_estimator": "hgpo", "hgpo": {"K": 1, "alpha": 0.5}})
        data = ray_trainer.compute_advantage(to_dataproto(records), adv_estimator="hgpo", gamma=0.9,
                                             num_repeat=4, config=config)
        adv, ret = expected(records, "hgpo", data.batch["response_mask"], gamma=0.9, K=1, alpha=0.5)
        torch.testing.assert_close(data.batch["advantages"], adv, rtol=0, atol=1e-6)
        torch.testing.assert_close(data.batch["returns"], ret, rtol=0, atol=1e-6)

        # verl's own GRPO is untouched: same result as verl's function without the hook
        grpo_config = OmegaConf.create({"gamma": 1.0, "adv_estimator": "grpo"})
        batches = [to_dataproto(records) for _ in range(2)]
        for b in batches:
            b.non_tensor_batch["uid"] = b.non_tensor_batch["group_id"]
        hooked = ray_trainer.compute_advantage(batches[0], adv_estimator="grpo", config=grpo_config)
        plain = original(batches[1], adv_estimator="grpo", config=grpo_config)
        assert hooked.batch["advantages"].abs().sum() > 0
        torch.testing.assert_close(hooked.batch["advantages"], plain.batch["advantages"])
    finally:
        vt.uninstall_hook()
    assert ray_trainer.compute_advantage is original
