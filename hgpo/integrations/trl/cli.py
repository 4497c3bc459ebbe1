"""``hgpo trl``: train a local causal LM step-wise on one of our environments with TRL's GRPOTrainer.

Every ``GRPOConfig`` flag works as in TRL (``--learning_rate``, ``--per_device_train_batch_size``,
``--gradient_accumulation_steps``, ``--num_generations``, ``--max_steps``, ``--save_steps``, ``--beta``,
``--loss_type``, ...), plus the environment and advantage flags of :class:`HGPOConfig` (``--env_id``,
``--env_kwargs '{...}'``, ``--estimator``, ``--estimator_options '{"K": 2}'``, ``--gamma``,
``--invalid_penalty``, ``--max_episode_steps``, ``--rollout_backend``, ...).

    hgpo trl --model /path/to/Qwen2.5-1.5B-Instruct --output_dir out/trl --env_id hgpo/ALFWorld-v0 \\
        --num_generations 8 --per_device_train_batch_size 16 --gradient_accumulation_steps 4 --max_steps 200
    hgpo trl --tiny --output_dir out/trl-tiny --max_steps 2          # CPU smoke run, no downloads
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "train a local causal LM with TRL's GRPOTrainer on GRPO / GiGPO / HGPO step advantages (needs hgpo[trl])"

#: --tiny: a CPU smoke run of the random 2-layer model (settings the command line has not set).
TINY_PRESET = {
    "num_generations": 2,
    "per_device_train_batch_size": 2,
    "max_completion_length": 24,
    "max_episode_steps": 3,
    "max_prompt_tokens": 512,
    "learning_rate": 1e-3,
    "max_steps": 1,
    "logging_steps": 1,
    "save_steps": 1,
    "report_to": "none",
    "use_cpu": True,
    "gradient_checkpointing": False,
}


def _own_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hgpo trl", description=HELP, add_help=False)
    p.add_argument("--model", help="local model folder; never downloaded")
    p.add_argument("--tiny", action="store_true", help="make a tiny random model with a byte tokenizer (CPU smoke run)")
    p.add_argument("--task_option", help="reset option enumerating tasks (game_index, goal_index); default: seeds")
    p.add_argument("--n_tasks", type=int, default=0, help="with --task_option: tasks 0..n-1 (default: one round)")
    p.add_argument("--resume", action="store_true", help="continue from output_dir's last checkpoint")
    return p


def _fail(message: str) -> int:
    for line in str(message).splitlines() or [""]:
        print(f"hgpo trl: error: {line}", file=sys.stderr)
    return 2


def _with_preset(rest: list[str]) -> list[str]:
    given = {arg.split("=", 1)[0].lstrip("-").replace("-", "_") for arg in rest if arg.startswith("--")}
    extra: list[str] = []
    for key, value in TINY_PRESET.items():
        if key not in given:
            extra += [f"--{key}", str(value)]
    return [*extra, *rest]


def main(argv: list[str]) -> int:
    own, rest = _own_parser().parse_known_args(argv)
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer, HfArgumentParser

        from hgpo.integrations.trl import HGPOConfig, HGPOGRPOTrainer, task_dataset
    except ImportError as exc:
        return _fail(f"needs TRL: pip install 'hgpo[trl]' ({exc})")
    parser = HfArgumentParser(HGPOConfig, prog="hgpo trl", description=HELP)
    if "-h" in rest or "--help" in rest:
        _own_parser().print_help()
        parser.print_help()
        return 0
    if own.tiny:
        rest = _with_preset(rest)
    try:
        (config,) = parser.parse_args_into_dataclasses(args=rest)
    except SystemExit as exc:  # argparse already printed the problem
        return int(exc.code or 2)
    except ValueError as exc:
        return _fail(str(exc))
    if own.tiny and not own.model:
        from hgpo.trainer.tiny import make_tiny_model

        tiny = Path(config.output_dir) / "tiny_model"
        own.model = str(tiny if (tiny / "config.json").is_file() else make_tiny_model(tiny, seed=config.seed))
    if not own.model:
        return _fail("no model given: pass --model PATH (a local model folder) or --tiny")
    if not Path(own.model).is_dir():
        return _fail(f"model folder not found: {own.model} (models are never downloaded at run time)")
    model = AutoModelForCausalLM.from_pretrained(own.model, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(own.model, local_files_only=True)
    dataset = None
    if own.task_option:
        n_tasks = own.n_tasks or config.generation_batch_size // config.num_generations
        dataset = task_dataset(n_tasks, own.task_option)
    try:
        trainer = HGPOGRPOTrainer(model, args=config, train_dataset=dataset, processing_class=tokenizer)
    except (ValueError, TypeError, NotImplementedError, RuntimeError) as exc:
        return _fail(str(exc))
    trainer.train(resume_from_checkpoint=True if own.resume else None)
    trainer.save_model(config.output_dir)
    last = trainer.last_rollout
    if last is not None:
        ends = [r for r in last.records if r["done"]]
        won = sum(bool(r.get("won")) for r in ends)
        print(f"step {trainer.state.global_step}: last rollout {len(last.records)} step samples, "
              f"{won}/{len(ends)} episodes won; model and logs in {config.output_dir}")
    return 0
