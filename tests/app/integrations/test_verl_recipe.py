"""The verl recipe, as far as a CPU goes: its configs compose with verl's own and pass verl's checks, the
task files load in verl's dataset, and the setup hook registers everything the configs name.

Runs in the verl virtualenv (``make test-verl``). Training itself needs GPUs (vLLM rollout, FSDP actor).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.extras import require

if os.environ.get("HGPO_TEST_VENV") != "verl" and importlib.util.find_spec("verl") is None:
    pytest.skip("verl runs in its own virtualenv: make test-verl", allow_module_level=True)

require("verl", extra="verl")

from hydra import compose, initialize_config_dir  # after the gate: dependencies of verl
from omegaconf import OmegaConf
from transformers import AutoTokenizer
from verl.experimental.agent_loop.agent_loop import _agent_loop_registry
from verl.trainer.ppo import core_algos, ray_trainer
from verl.trainer.ppo.v1 import get_trainer_cls
from verl.utils.config import validate_config
from verl.utils.dataset.rl_dataset import RLHFDataset

from hgpo.integrations.verl import agent_loop, main, tasks, trainer, v1
from hgpo.trainer.tiny import make_tiny_model
from hgpo_algo.estimators import check_options

RECIPE = REPO_ROOT / "recipes" / "verl"


def recipe(name: str, overrides: list[str] = ()):
    with initialize_config_dir(str(RECIPE / "config"), version_base=None):
        return compose(name, overrides=list(overrides))


@pytest.mark.parametrize(("name", "env_id", "steps", "mode"), [
    ("hgpo_alfworld", "hgpo/ALFWorld-v0", 50, "mean_std_norm"),
    ("hgpo_webshop", "hgpo/WebShop-v0", 15, "mean_norm"),
])
def test_configs_hold_the_published_settings(name, env_id, steps, mode):
    cfg = recipe(name, ["hgpo.estimator_options.K=4", "hgpo.env.history_length=4"])  # as run.sh K=4
    assert cfg.actor_rollout_ref.rollout.n == 8 and cfg.data.train_batch_size == 16
    assert cfg.algorithm.gamma == 0.95 and cfg.algorithm.adv_estimator == "hgpo"
    assert cfg.hgpo.env.env_id == env_id and cfg.hgpo.env.max_steps == steps
    options = v1.estimator_options(cfg)
    assert options == {"gamma": 0.95, "K": 4, "alpha": 1.0, "invalid_penalty": 0.1, "mode": mode}
    check_options("hgpo", {k: v for k, v in options.items() if k not in ("gamma", "invalid_penalty")})
    actor = cfg.actor_rollout_ref.actor
    assert (actor.optim.lr, actor.clip_ratio, actor.kl_loss_coef, actor.kl_loss_type) == (1e-6, 0.2, 0.01, "low_var_kl")
    assert cfg.actor_rollout_ref.rollout.agent.default_agent_loop == agent_loop.AGENT_NAME == tasks.AGENT_NAME
    assert cfg.trainer.use_v1 and cfg.trainer.v1.trainer_mode == "hgpo_sync"
    assert cfg.ray_kwargs.ray_init.runtime_env.worker_process_setup_hook == main.SETUP_HOOK
    spec = agent_loop.env_spec_from_config(cfg.hgpo.env)
    assert spec.history_length == 4 and spec.max_steps == steps and spec.parse_actions
    # verl's own config checks (what main_ppo runs first)
    validate_config(cfg, use_reference_policy=True, use_critic=False)


def test_setup_hook_registers_what_the_configs_name():
    hook_module, hook_name = main.SETUP_HOOK.rsplit(".", 1)
    setup = getattr(importlib.import_module(hook_module), hook_name)  # what Ray does with the hook string
    try:
        setup()
        assert agent_loop.AGENT_NAME in _agent_loop_registry
        assert get_trainer_cls("hgpo_sync") is v1.HGPOTrainerSync
        for name in ("hgpo", "gigpo", "hgpo_grpo"):
            assert core_algos.get_adv_estimator_fn(name) is not None
        assert ray_trainer.compute_advantage is trainer.compute_advantage
    finally:
        trainer.uninstall_hook()


def test_task_files_load_in_verls_dataset(tmp_path):
    train, val = tasks.write_task_files("hgpo/ALFWorld-v0", tmp_path / "tasks", n_train=5, n_val=2, seed=7)
    tokenizer = AutoTokenizer.from_pretrained(make_tiny_model(tmp_path / "tiny"))
    tokenizer.chat_template = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
                               "{% if add_generation_prompt %}<assistant>{% endif %}")
    cfg = recipe("hgpo_alfworld").data
    dataset = RLHFDataset(str(train), tokenizer, cfg)
    assert len(dataset) == 5 and len(RLHFDataset(str(val), tokenizer, cfg)) == 2
    row = dataset[0]
    assert row["agent_name"] == agent_loop.AGENT_NAME and row["extra_info"]["seed"] == 7
    assert row["raw_prompt"][0]["role"] == "system"
    with pytest.raises(ValueError, match="n_train"):
        tasks.write_task_files("hgpo/ALFWorld-v0", tmp_path / "bad", n_train=0)


def test_launch_script_parses_and_refuses_without_a_model(tmp_path):
    script = RECIPE / "run.sh"
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    env = {k: v for k, v in os.environ.items() if k != "MODEL_PATH"}
    out = subprocess.run(["bash", str(script), "alfworld"], capture_output=True, text=True, env=env, check=False)
    assert out.returncode != 0 and "MODEL_PATH" in out.stderr
    env["MODEL_PATH"] = str(tmp_path)
    out = subprocess.run(["bash", str(script), "nethack"], capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 2 and "unknown environment 'nethack'" in out.stderr
    assert Path(script).stat().st_mode & 0o111


def test_config_is_plain_yaml():
    for path in (RECIPE / "config").glob("*.yaml"):
        assert OmegaConf.load(path).defaults == ["ppo_trainer", "_self_"]
