"""Per-step advantages on SkyRL's own step-wise ``TrainingInputBatch``: equal to ``compute_advantages``.

The episodes are played through ``skyrl_gym.make`` of our environments, laid out as SkyRL's step-wise
generator and trainer lay them out (one row per turn, trajectory after trajectory, ``uids`` = the prompt,
``is_last_step``), padded by SkyRL's ``pad_training_input_batch``. The ``skyrl`` package (0.3) imports
only on Python 3.12 (its ``skyrl.backends`` package builds pydantic models that need 3.12's TypedDict), so
its batch module, which needs torch and jaxtyping only, is loaded from its file. Runs in the verl
virtualenv (``make test-verl``), where ``skyrl`` is installed beside verl.
"""

from __future__ import annotations

import importlib.util
import os
import random
from pathlib import Path

import pytest

from tests.extras import require
from tests.wrappers.textgame import ENV_ID

if os.environ.get("HGPO_TEST_VENV") != "verl" and importlib.util.find_spec("skyrl") is None:
    pytest.skip("the skyrl trainer package lives in the verl virtualenv: make test-verl", allow_module_level=True)

torch = require("torch", extra="verl")
skyrl_gym = require("skyrl_gym", extra="skyrl")
require("jaxtyping", extra="verl", reason="SkyRL's batch module needs jaxtyping (make test-verl installs it)")

from hgpo.integrations.skyrl import env as skyrl_env  # noqa: F401  (registers hgpo-text)
from hgpo.integrations.skyrl.advantage import StepWiseAdvantages, stepwise_advantages, stepwise_metadata
from hgpo_algo import compute_advantages


def skyrl_batch_module():
    spec = importlib.util.find_spec("skyrl")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("the skyrl package is not installed in the verl virtualenv (make test-verl installs it)")
    path = Path(next(iter(spec.submodule_search_locations))) / "backends" / "skyrl_train" / "training_batch.py"
    loader_spec = importlib.util.spec_from_file_location("skyrl_training_batch", path)
    module = importlib.util.module_from_spec(loader_spec)
    loader_spec.loader.exec_module(module)
    return module


TB = skyrl_batch_module()
SEQ = 6


def play_groups(seed: int, n_groups: int = 3, group_size: int = 4):
    """Episodes of the text game through skyrl-gym; random valid, looping and unparsable turns."""
    rng = random.Random(seed)
    steps = []  # (uid, record, env_metrics, is_last)
    for g in range(n_groups):
        for m in range(group_size):
            env = skyrl_gym.make("hgpo-text", env_config={"env_id": ENV_ID},
                                 extras={"seed": g, "options": {"treasure": 1 + g % 3}, "group_id": f"p{g}",
                                         "traj_id": f"{g}-{m}", "max_turns": rng.randint(2, 7)})
            env.init([])
            done = False
            while not done:
                choice = rng.random()
                text = "no tags" if choice < 0.15 else f"<action>{rng.choice(['go east', 'go west', 'look'])}</action>"
                out = env.step(text)
                done = out["done"]
                steps.append((f"p{g}", out["metadata"]["record"], env.get_metrics() if done else {}, done))
            env.close()
    return steps


def training_batch(steps, pad: int):
    """SkyRL's step-wise TrainingInputBatch: the turn's reward on its last response token, then padded."""
    n = len(steps)
    gen = torch.Generator().manual_seed(n)
    lengths = torch.randint(1, SEQ + 1, (n,), generator=gen)
    mask = (torch.arange(SEQ).unsqueeze(0) < lengths.unsqueeze(1)).long()
    rewards = torch.zeros(n, SEQ)
    rewards[torch.arange(n), lengths - 1] = torch.tensor([rec["reward"] for _, rec, _, _ in steps])
    batch = TB.TrainingInputBatch({"rewards": rewards, "response_mask": mask, "loss_mask": mask.clone()})
    batch.metadata = {"uids": [u for u, _, _, _ in steps], "is_last_step": [last for *_, last in steps]}
    batch.metadata.update(stepwise_metadata([m for _, _, m, _ in steps], batch.metadata["is_last_step"]))
    return TB.pad_training_input_batch(batch, pad)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("estimator", "options"), [
    ("hgpo", {}), ("hgpo", {"alpha": 2.0, "gamma": 0.9, "base_group": True}), ("gigpo", {"mode": "mean_norm"}),
    ("hgpo_grpo", {}),
])
def test_stepwise_batch_equals_compute_advantages(seed, estimator, options):
    steps = play_groups(seed)
    pad = seed % 3
    batch = training_batch(steps, pad)
    assert batch.metadata["pad_size"] == pad and len(batch["rewards"]) == len(steps) + pad
    adv, ret = stepwise_advantages(batch, estimator, **options)
    records = [rec for _, rec, _, _ in steps]
    res = compute_advantages(records, {"hgpo_grpo": "grpo"}.get(estimator, estimator), **options)
    mask = batch["response_mask"][: len(steps)].float()
    torch.testing.assert_close(adv[: len(steps)], torch.tensor(res.advantages).float().unsqueeze(-1) * mask)
    torch.testing.assert_close(ret[: len(steps)], torch.tensor(res.returns).float().unsqueeze(-1) * mask)
    assert not adv[len(steps):].any() and not ret[len(steps):].any()
    # every step has its own advantage: not one value per trajectory, as SkyRL's step-wise mode gives
    per_traj = {}
    for (_, rec, _, _), a in zip(steps, res.advantages, strict=True):
        per_traj.setdefault(rec["traj_id"], set()).add(round(float(a), 9))
    assert any(len(v) > 1 for v in per_traj.values())


def test_missing_state_keys_and_bad_flags():
    steps = play_groups(0, n_groups=1, group_size=2)
    batch = training_batch(steps, 0)
    del batch.metadata["state_keys"]
    with pytest.raises(ValueError, match="needs metadata\\['state_keys'\\]"):
        stepwise_advantages(batch, "hgpo")
    stepwise_advantages(batch, "hgpo_grpo")  # GRPO reads no state keys
    with pytest.raises(ValueError, match="no 'state_keys'"):
        stepwise_metadata([{}] * len(steps), [last for *_, last in steps])
    with pytest.raises(ValueError, match="close the last trajectory"):
        stepwise_metadata([{}], [False])


class SkyRLTrainerContract:
    """The two methods of SkyRL's ``RayPPOTrainer`` the mixin overrides, with their contract (SkyRL's
    trainer module itself imports only on Python 3.12): build the batch from the generator output;
    compute advantages (here: SkyRL's step-wise rule, the last step's outcome copied to every step)."""

    def __init__(self, cfg):
        self.cfg = cfg

    def convert_to_training_input(self, generator_output, uids):
        b = TB.TrainingInputBatch({"rewards": generator_output["rewards"], "response_mask": generator_output["mask"]})
        b.metadata = {"uids": list(uids), "is_last_step": generator_output["is_last_step"]}
        return TB.pad_training_input_batch(b, 1)

    def compute_advantages_and_returns(self, data):
        data["advantages"] = data["returns"] = torch.full_like(data["rewards"], 7.0)
        return data


class Trainer(StepWiseAdvantages, SkyRLTrainerContract):
    hgpo_options = {"K": 2, "alpha": 2.0}


def test_trainer_mixin_routes_hgpo_names_only():
    from omegaconf import OmegaConf

    steps = play_groups(5)
    ref = training_batch(steps, 1)
    output = {"rewards": ref["rewards"][:-1], "mask": ref["response_mask"][:-1],
              "is_last_step": ref.metadata["is_last_step"][:-1], "env_metrics": [m for _, _, m, _ in steps]}
    uids = ref.metadata["uids"][:-1]
    cfg = OmegaConf.create({"trainer": {"algorithm": {"advantage_estimator": "hgpo", "gamma": 0.95,
                                                      "hgpo_options": {"alpha": 0.5}}}})
    trainer = Trainer(cfg)
    data = trainer.compute_advantages_and_returns(trainer.convert_to_training_input(output, uids))
    want, _ = stepwise_advantages(ref, "hgpo", K=2, alpha=0.5, gamma=0.95)  # the config's alpha wins
    torch.testing.assert_close(data["advantages"], want)
    del cfg.trainer.algorithm.hgpo_options  # a dataclass config has none: the class attribute's options
    data = trainer.compute_advantages_and_returns(trainer.convert_to_training_input(output, uids))
    torch.testing.assert_close(data["advantages"], stepwise_advantages(ref, "hgpo", K=2, alpha=2.0, gamma=0.95)[0])
    cfg.trainer.algorithm.advantage_estimator = "grpo"
    data = trainer.compute_advantages_and_returns(trainer.convert_to_training_input(output, uids))
    assert "state_keys" not in data.metadata and bool((data["advantages"] == 7.0).all())
