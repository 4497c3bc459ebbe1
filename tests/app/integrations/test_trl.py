"""HGPOGRPOTrainer: TRL's GRPOTrainer trained on step records, on a tiny local model (CPU, no downloads).

Runs end to end on ALFWorld's generated games (two optimiser steps, checkpoints, resume) and on the
embedded WebShop (one step); checks that the advantages inside TRL's loss are ``compute_advantages`` of
the step records for grpo, gigpo and hgpo, that an update moves log-probabilities the advantages' way,
and that a changed TRL internal stops construction.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from tests.extras import require

torch = require("torch", extra="trl")
require("trl", extra="trl")
require("gymnasium", extra="envs")

from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import GRPOTrainer

from hgpo.integrations.trl import HGPOConfig, HGPOGRPOTrainer, TRLIncompatibleError, task_dataset
from hgpo.integrations.trl.compat import check_trl_internals, warn_if_untested
from hgpo.integrations.trl.trainer import environment_reward
from hgpo.trainer.tiny import make_tiny_model
from hgpo_algo import compute_advantages
from tests.app.integrations.trl_helpers import action_bias, scripted_records
from tests.wrappers.textgame import ENV_ID


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return str(make_tiny_model(tmp_path_factory.mktemp("tiny"), seed=0))


def load(path):
    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def config(tmp_path, tok, commands=("go east", "go west", "look"), **overrides):
    settings = dict(
        output_dir=str(tmp_path / "run"),
        env_id=ENV_ID,
        num_generations=2,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
        max_completion_length=28,
        max_episode_steps=3,
        max_prompt_tokens=96,
        learning_rate=1e-3,
        max_steps=1,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        gradient_checkpointing=False,
        seed=0,
        generation_kwargs={"sequence_bias": action_bias(tok, commands)},
    )
    settings.update(overrides)
    return HGPOConfig(**settings)


class Probe(HGPOGRPOTrainer):
    """Records what reaches TRL's loss: each micro-batch's advantages, record indices and rollout."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def _compute_loss(self, model, inputs):
        self.seen.append((inputs["advantages"].detach().clone(), inputs["hgpo_record_index"].clone(),
                          self.last_rollout))
        return super()._compute_loss(model, inputs)


@pytest.mark.parametrize(("estimator", "options"), [
    ("grpo", {}),
    ("gigpo", {"omega": 0.5, "mode": "mean_norm"}),
    ("hgpo", {"K": 1, "alpha": 2.0}),
])
def test_advantages_in_trl_loss_are_compute_advantages_of_the_records(tmp_path, tiny_path, estimator, options):
    model, tok = load(tiny_path)
    cfg = config(tmp_path, tok, estimator=estimator, estimator_options=options, invalid_penalty=0.3, gamma=0.9)
    trainer = Probe(model, args=cfg, processing_class=tok)
    trainer.train()
    assert trainer.state.global_step == 1 and len(trainer.seen) == 2  # two accumulation steps, one rollout
    rollout = trainer.seen[0][2]
    assert all(r is rollout for _, _, r in trainer.seen)
    expected = compute_advantages(rollout.records, estimator, gamma=0.9, invalid_penalty=0.3, **options).advantages
    assert np.abs(expected).max() > 0.05, "the rollout carries no learning signal: the check would be empty"
    invalid = [r["invalid"] for r in rollout.records]
    assert any(invalid) and not all(invalid)
    indices = torch.cat([idx for _, idx, _ in trainer.seen])
    real = indices[indices >= 0]
    assert sorted(real.tolist()) == list(range(len(rollout.records)))  # every step sample reaches the loss once
    for adv, idx, _ in trainer.seen:
        got = adv.double().numpy()
        mask = (idx >= 0).numpy()
        np.testing.assert_allclose(got[mask], expected[idx[mask].numpy()], rtol=0, atol=1e-6)
        assert np.all(got[~mask] == 0.0)
    for rec in rollout.records:  # the sample is the step: its prompt is the memory-window prompt
        assert rec["payload"]["prompt_ids"] == tok(rec["prompt"])["input_ids"][-96:]
        assert tok.decode(rec["payload"]["completion_ids"], skip_special_tokens=True) == rec["response"]


class FixedBatch(HGPOGRPOTrainer):
    """Every rollout returns the same step records (a fixed batch); the rest is the trainer's own path."""

    records: list = []

    def collect(self, n_groups, group_size, **kwargs):
        return copy.deepcopy(self.records)


def sequence_logps(trainer, records):
    batch = trainer.batch_from_records(records, np.zeros(len(records)))
    ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], 1)
    attention = torch.cat([batch["prompt_mask"], batch["completion_mask"]], 1)
    with torch.no_grad():
        lp = trainer._get_per_token_logps_and_entropies(trainer.model, ids, attention, batch["completion_ids"].size(1))[0]
    return (lp * batch["completion_mask"]).sum(1).numpy()


def test_update_raises_logprob_of_positive_and_lowers_negative_advantage_actions(tmp_path, tiny_path):
    model, tok = load(tiny_path)
    records = scripted_records(tok, ENV_ID, n_groups=2, group_size=4, seed=3)
    adv = compute_advantages(records, "grpo").advantages
    assert (adv > 0.1).any() and (adv < -0.1).any() and np.all(np.abs(adv) > 0.1)
    FixedBatch.records = records
    cfg = config(tmp_path, tok, estimator="grpo", max_steps=2, gradient_accumulation_steps=1,
                 per_device_train_batch_size=8, num_generations=4)
    trainer = FixedBatch(model, args=cfg, processing_class=tok)
    before = sequence_logps(trainer, records)
    trainer.train()
    assert trainer.state.global_step == 2
    delta = sequence_logps(trainer, records) - before
    assert np.all(delta[adv > 0] > 0.5) and np.all(delta[adv < 0] < -0.5), (delta, adv)
    padded = trainer.batch_from_records(records, adv, pad_to=len(records) + 3)  # three padding rows
    assert padded["completion_ids"].shape[0] == len(records) + 3
    pad_rows = padded["hgpo_record_index"] < 0
    assert int(pad_rows.sum()) == 3 and padded["completion_mask"][pad_rows].sum() == 0
    assert torch.all(padded["advantages"][pad_rows] == 0)
    assert int(padded["num_items_in_batch"]) == sum(len(r["payload"]["completion_ids"]) for r in records)


def test_two_optimiser_steps_on_alfworld_then_resume_continues_the_same_run(tmp_path, tiny_path):
    model, tok = load(tiny_path)
    commands = ("look", "inventory", "go to desk 1")
    settings = dict(env_id="hgpo/ALFWorld-v0", max_episode_steps=2, max_prompt_tokens=128, gradient_accumulation_steps=1,
                    max_steps=2, save_strategy="steps", save_steps=1, estimator="hgpo")
    trainer = HGPOGRPOTrainer(model, args=config(tmp_path, tok, commands, **settings), processing_class=tok)
    trainer.train()
    assert trainer.state.global_step == 2
    losses = [row for row in trainer.state.log_history if "loss" in row]
    assert [row["step"] for row in losses] == [1, 2] and all(math.isfinite(row["loss"]) for row in losses)
    steps = {s["step"] for group in trainer.optimizer.state_dict()["state"].values() for s in [group]}
    assert {float(s) for s in steps} == {2.0}  # AdamW stepped twice
    assert all("Your task is to" in rec["prompt"] for rec in trainer.last_rollout.records)
    final = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    run = tmp_path / "run"
    assert (run / "checkpoint-1").is_dir() and (run / "checkpoint-2").is_dir()

    model2, _ = load(tiny_path)
    resumed = HGPOGRPOTrainer(model2, args=config(tmp_path, tok, commands, **{**settings, "output_dir": str(tmp_path / "again")}),
                              processing_class=tok)
    resumed.train(resume_from_checkpoint=str(run / "checkpoint-1"))
    assert resumed.state.global_step == 2
    assert resumed.last_rollout.seed == trainer.last_rollout.seed  # the second rollout of the same run
    assert [r["response"] for r in resumed.last_rollout.records] == [r["response"] for r in trainer.last_rollout.records]
    for key, value in resumed.model.state_dict().items():
        torch.testing.assert_close(value, final[key], rtol=0, atol=1e-6)


def test_one_optimiser_step_on_embedded_webshop(tmp_path, tiny_path):
    model, tok = load(tiny_path)
    cfg = config(tmp_path, tok, ("search[red shirt]", "click[back to search]"), env_id="hgpo/WebShop-v0",
                 max_episode_steps=2, max_prompt_tokens=128, gradient_accumulation_steps=1)
    trainer = HGPOGRPOTrainer(model, args=cfg, processing_class=tok, train_dataset=task_dataset(1, "goal_index"))
    trainer.train()
    assert trainer.state.global_step == 1
    records = trainer.last_rollout.records
    assert records and all("WebShop" in rec["prompt"] or "Instruction" in rec["prompt"] for rec in records)
    assert len({rec["group_id"] for rec in records}) == 1 and len({rec["traj_id"] for rec in records}) == 2


CPU = {"report_to": "none", "use_cpu": True}


def test_unknown_estimator_option_is_rejected_at_config():
    with pytest.raises(ValueError, match="unknown option"):
        HGPOConfig(output_dir="unused", estimator="hgpo", estimator_options={"Kay": 2}, **CPU)
    with pytest.raises(ValueError, match="alpha"):
        HGPOConfig(output_dir="unused", estimator="hgpo", estimator_options='{"alpha": "high"}', **CPU)
    with pytest.raises(ValueError, match="rollout_backend"):
        HGPOConfig(output_dir="unused", rollout_backend="threads", **CPU)


def test_a_changed_trl_internal_fails_loudly(tmp_path, tiny_path, monkeypatch):
    class Renamed(GRPOTrainer):
        def _prepare_inputs(self, generation_batch):  # no longer routes through _generate_and_score_completions
            return generation_batch

    with pytest.raises(TRLIncompatibleError, match="_generate_and_score_completions"):
        check_trl_internals(Renamed, "x")

    def loss_without_advantages(self, model, inputs):
        return inputs["completion_mask"].sum() * 0.0

    monkeypatch.setattr(GRPOTrainer, "_compute_loss", loss_without_advantages)
    model, tok = load(tiny_path)
    with pytest.raises(TRLIncompatibleError, match="advantages"):
        HGPOGRPOTrainer(model, args=config(tmp_path, tok), processing_class=tok)
    with pytest.raises(RuntimeError, match="own reward path"):
        environment_reward(prompts=["p"], completions=["c"])
    import trl

    assert not warn_if_untested(trl.__version__)  # the installed TRL is the tested one
    with pytest.warns(UserWarning, match="outside the tested range"):
        assert warn_if_untested("1.17.0")


def test_command_trains_saves_and_reports(tmp_path, capsys):
    from hgpo.integrations.trl.cli import main

    out = tmp_path / "cli"
    assert main(["--tiny", "--output_dir", str(out), "--env_id", ENV_ID, "--max_completion_length", "8",
                 "--estimator", "gigpo", "--estimator_options", '{"omega": 0.5}']) == 0
    assert "step 1: last rollout" in capsys.readouterr().out
    assert (out / "checkpoint-1" / "trainer_state.json").is_file() and (out / "model.safetensors").is_file()
    assert main(["--model", str(tmp_path / "nowhere"), "--output_dir", str(out), "--use_cpu", "True"]) == 2
    assert "model folder not found" in capsys.readouterr().err


def test_any_memory_shapes_the_rollout_prompts(tmp_path, tiny_path):
    """memory="actions" (by name) and any wrappers.Memory object reach the rollouts' prompts and records."""
    from wrappers import FullHistory

    model, tok = load(tiny_path)
    trainer = HGPOGRPOTrainer(model, args=config(tmp_path, tok, memory="actions"), processing_class=tok)
    records = trainer.collect(1, 2, seed=0)
    later = [r for r in records if r["step"] > 0]
    assert later and all("action(s):" in r["prompt"] and r["prompt_keys"] for r in later)
    custom = HGPOGRPOTrainer(model, args=config(tmp_path, tok), processing_class=tok,
                             memory=FullHistory(max_chars=10_000))
    records = custom.collect(1, 1, seed=0)
    assert [len(r["prompt_keys"]) for r in records] == [r["step"] for r in records]
    with pytest.raises(ValueError, match="memory must be one of"):
        HGPOConfig(output_dir="unused", memory="everything", **CPU)
