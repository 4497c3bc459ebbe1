"""The reference trainer on a tiny model made from a config: a full iteration, checkpoints, the PPO update."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.extras import require

torch = require("torch", extra="train")
require("transformers", extra="train")
require("gymnasium", extra="envs")

from hgpo.cli import main as hgpo_main
from hgpo.trainer.config import TrainConfig
from hgpo.trainer.tiny import make_tiny_model
from hgpo.trainer.trainer import StepBatch, Trainer
from hgpo_algo import compute_advantages
from tests.wrappers.textgame import ENV_ID


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return str(make_tiny_model(tmp_path_factory.mktemp("tiny"), seed=0))


def small_config(tmp_path, model, **overrides):
    settings = dict(
        model=model,
        output_dir=str(tmp_path / "run"),
        env_id=ENV_ID,
        group_size=2,
        tasks_per_batch=2,
        max_steps=3,
        max_new_tokens=8,
        max_prompt_tokens=128,
        mini_batch_size=8,
        micro_batch_size=4,
        lr=1e-3,
        entropy_coef=0.01,
        eval_tasks=2,
        eval_every=1,
        save_every=1,
        iterations=1,
        progress=False,
    )
    settings.update(overrides)
    return TrainConfig.from_dict(settings)


def test_one_full_iteration_then_resume(tmp_path, tiny_model):
    trainer = Trainer(small_config(tmp_path, tiny_model))
    before = [p.detach().clone() for p in trainer.model.parameters()]
    history = trainer.train()
    (metrics,) = history
    assert math.isfinite(metrics["loss"]) and math.isfinite(metrics["pg_loss"])
    assert metrics["steps_per_episode"] == 3.0 and "eval_success_rate" in metrics
    changed = sum(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters(), strict=True))
    assert changed > 0
    run = tmp_path / "run"
    for name in ("metrics.jsonl", "metrics.csv", "config.yaml", "checkpoints/latest"):
        assert (run / name).is_file()
    resumed = Trainer(small_config(tmp_path, tiny_model))
    assert resumed.resume() and resumed.iteration == 1
    for a, b in zip(trainer.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)


def test_ppo_update_raises_logprob_of_positive_advantage_actions(tmp_path, tiny_model):
    trainer = Trainer(small_config(tmp_path, tiny_model, lr=3e-3, kl_coef=0.0, entropy_coef=0.0, ppo_epochs=1))
    tok = trainer.tokenizer
    prompts = [tok("You see a mug.\n")["input_ids"], tok("You see a pan.\n")["input_ids"]]
    good = tok("<action>take mug</action>")["input_ids"]
    bad = tok("<action>go west</action>")["input_ids"]
    prompt_ids = [prompts[0], prompts[0], prompts[1], prompts[1]]
    response_ids = [good, bad, good, bad]
    advantages = torch.tensor([1.0, -1.0, 1.0, -1.0])

    def logprobs():
        with torch.no_grad():
            lp, mask, _ = trainer.policy.token_logprobs(prompt_ids, response_ids)
        return (lp * mask).sum(1)

    start = logprobs()
    for _ in range(5):
        old, mask, _ = trainer.policy.token_logprobs(prompt_ids, response_ids)
        batch = StepBatch(prompt_ids, response_ids, advantages, old.detach(), None, mask)
        stats = trainer.update(batch)
        assert math.isfinite(stats["loss"])
    end = logprobs()
    assert (end[[0, 2]] > start[[0, 2]]).all(), (start, end)
    assert (end[[1, 3]] < start[[1, 3]]).all(), (start, end)


def test_batch_comes_from_the_records(tmp_path, tiny_model):
    """The sampled tokens ride on each record's payload; the batch is read from the records, in order."""
    trainer = Trainer(small_config(tmp_path, tiny_model))
    records = trainer._collect(n_groups=2, group_size=2, seed=0, env_kwargs={}, greedy=False)
    assert all(set(r["payload"]) == {"prompt_ids", "response_ids"} for r in records)
    result = compute_advantages(records, "hgpo", K=2)
    batch = trainer.make_batch(records, result.advantages)
    assert batch.prompt_ids == [r["payload"]["prompt_ids"] for r in records]
    assert batch.response_ids == [r["payload"]["response_ids"] for r in records]
    np.testing.assert_allclose(batch.advantages.numpy(), result.advantages, atol=1e-6)
    with pytest.raises(ValueError, match="without the policy's payload"):
        trainer.make_batch([{k: v for k, v in r.items() if k != "payload"} for r in records], result.advantages)


def test_config_yaml_round_trip_and_errors(tmp_path):
    cfg = TrainConfig.from_dict({"model": "m", "K": 3, "env_kwargs": {"split": "train"}})
    cfg.save(tmp_path / "c.yaml")
    assert TrainConfig.load(tmp_path / "c.yaml") == cfg
    assert cfg.window == 3 and cfg.checked_estimator_options()["K"] == 3 and cfg.estimator_options == {"K": 3}
    assert TrainConfig().group_size == 8 and TrainConfig().tasks_per_batch == 16 and TrainConfig().lr == 1e-6
    with pytest.raises(ValueError, match="unknown config key"):
        TrainConfig.from_dict({"learning_rate": 1})
    with pytest.raises(ValueError, match="estimator must be one of"):
        TrainConfig(estimator="ppo").validate()


def test_every_estimator_option_is_settable():
    """GiGPO's omega and episode_stats (not settable before) and any option of any registered estimator."""
    cfg = TrainConfig.from_dict({"estimator": "gigpo", "estimator_options": {"omega": 0.5, "episode_stats": "per_trajectory"}})
    assert cfg.checked_estimator_options()["omega"] == 0.5
    with pytest.raises(ValueError, match="omega"):
        TrainConfig.from_dict({"estimator": "gigpo", "estimator_options": {"omega": "lots"}})
    with pytest.raises(ValueError, match="unknown option"):
        TrainConfig.from_dict({"estimator": "grpo", "estimator_options": {"K": 2}})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"lr": "1e-6"}, None),  # YAML reads 1e-6 as a string: coerced to the number
        ({"group_size": "abc"}, "group_size must be an integer, got 'abc'"),
        ({"lr": "fast"}, "lr must be a number, got 'fast'"),
        ({"lr": float("inf")}, "lr must be finite"),
        ({"mode": "loud"}, "mode"),
        ({"loss_agg": "sum"}, "loss_agg must be one of"),
        ({"kl_kind": "k9"}, "kl_kind must be one of"),
        ({"backend": "threads"}, "backend must be one of sync, process, ray"),
        ({"progress": "yes"}, "progress must be true or false"),
        ({"env_kwargs": [1]}, "env_kwargs must be a mapping"),
        ({"top_p": 0.0}, "top_p must be in (0, 1]"),
        ({"gamma": 2.0}, "gamma must be in [0, 1]"),
    ],
)
def test_config_values_are_typed_and_checked(settings, message):
    if message is None:
        assert TrainConfig.from_dict(settings).lr == 1e-6
        return
    with pytest.raises(ValueError) as info:
        TrainConfig.from_dict(settings)
    assert message in str(info.value)


def test_cli_errors(tmp_path, capsys):
    assert hgpo_main(["train", "--model", str(tmp_path / "missing")]) == 2
    assert "model folder not found" in capsys.readouterr().err
    assert hgpo_main(["train", "--set", "nonsense"]) == 2
    assert "--set expects KEY=VALUE" in capsys.readouterr().err
    assert hgpo_main(["train", "--set", "colour=1", "--tiny"]) == 2
    assert "unknown config key(s): colour" in capsys.readouterr().err
    assert hgpo_main(["train", "--tiny", "--set", "estimator_options.alpha=inf"]) == 2
    assert "hgpo option 'alpha'" in capsys.readouterr().err
    assert hgpo_main(["train", "--tiny", "--set", "lr.x=1"]) == 2
    assert "only estimator_options, env_kwargs and eval_env_kwargs" in capsys.readouterr().err
    assert hgpo_main(["train", "--tiny", "--set", "group_size=abc", "--set", "lr=fast"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["hgpo train: error: group_size must be an integer, got 'abc'",
                   "hgpo train: error: lr must be a number, got 'fast'"]


def test_one_iteration_on_alfworld(tmp_path, tiny_model):
    """The same full iteration on generated ALFWorld games (the trainer's default environment)."""
    trainer = Trainer(small_config(tmp_path, tiny_model, env_id="hgpo/ALFWorld-v0", max_steps=2, eval_tasks=1))
    (metrics,) = trainer.train()
    assert math.isfinite(metrics["loss"]) and metrics["steps_per_episode"] == 2.0
    assert "eval_success_rate" in metrics


@pytest.mark.parametrize("memory", ["actions", "full"])
def test_any_memory_shapes_the_prompts(tmp_path, tiny_model, memory):
    trainer = Trainer(small_config(tmp_path, tiny_model, memory=memory, memory_tokens=4096))
    records = trainer._collect(n_groups=1, group_size=2, seed=0, env_kwargs={}, greedy=True)
    later = [r for r in records if r["step"] > 0]
    assert later and all(r["prompt_keys"] for r in later)
    from wrappers import ActionWindow

    custom = Trainer(small_config(tmp_path, tiny_model), memory=ActionWindow(1))
    records = custom._collect(n_groups=1, group_size=1, seed=0, env_kwargs={}, greedy=True)
    assert all(len(r["prompt_keys"]) == min(1, r["step"]) for r in records)
