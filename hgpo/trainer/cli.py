"""``hgpo train``: the reference trainer on a local Hugging Face model (or a tiny one made on the spot)."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

HELP = "train a local causal LM with GRPO / GiGPO / HGPO advantages (reference trainer, needs hgpo[train])"

# --tiny: a CPU smoke run (a random 2-layer model with a byte tokenizer): small batches, short episodes
TINY_PRESET = {
    "group_size": 2,
    "tasks_per_batch": 2,
    "max_steps": 4,
    "max_new_tokens": 24,
    "max_prompt_tokens": 512,
    "mini_batch_size": 8,
    "micro_batch_size": 4,
    "lr": 1e-3,
    "eval_tasks": 2,
    "eval_every": 1,
    "save_every": 1,
    "iterations": 1,
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="hgpo train", description=__doc__.splitlines()[0])
    p.add_argument("--config", help="YAML file of TrainConfig settings")
    p.add_argument("--model", help="local model folder (e.g. a Qwen2.5-1.5B-Instruct checkout); never downloaded")
    p.add_argument("--tiny", action="store_true", help="make a tiny random model with a byte tokenizer (CPU smoke run)")
    p.add_argument("--output", help="output folder (metrics, checkpoints, plots)")
    p.add_argument("--iterations", type=int, help="total iterations")
    p.add_argument("--estimator", help="a registered estimator: grpo, gigpo, hgpo, ... (default: hgpo)")
    p.add_argument("--resume", action="store_true", help="continue from the output folder's latest checkpoint")
    p.add_argument("--eval-only", action="store_true", help="only evaluate the model")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting (YAML value); estimator_options.NAME=VALUE sets one estimator option")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        print("hgpo train: error: needs torch and transformers: pip install 'hgpo[train]'", file=sys.stderr)
        return 2
    import yaml

    from hgpo.trainer.config import TrainConfig
    from hgpo.trainer.tiny import make_tiny_model
    from hgpo.trainer.trainer import Trainer

    def fail(message: str) -> int:
        for line in str(message).splitlines() or [""]:
            print(f"hgpo train: error: {line}", file=sys.stderr)
        return 2

    try:
        settings = TrainConfig.load(args.config).to_dict() if args.config else {}
        if args.tiny:
            settings = {**TINY_PRESET, **settings}
        for item in args.set:
            key, sep, value = item.partition("=")
            if not sep:
                return fail(f"--set expects KEY=VALUE, got {item!r}")
            try:
                parsed = yaml.safe_load(value)
            except yaml.YAMLError:
                return fail(f"--set {key}: {value!r} is not a YAML value")
            head, dot, sub = key.partition(".")
            if not dot:
                settings[key] = parsed
            elif head in ("estimator_options", "env_kwargs", "eval_env_kwargs") and sub:
                settings[head] = {**(settings.get(head) or {}), sub: parsed}
            else:
                return fail(f"--set {key}: only estimator_options, env_kwargs and eval_env_kwargs take KEY.NAME")
        for key, value in (("model", args.model), ("output_dir", args.output), ("iterations", args.iterations),
                           ("estimator", args.estimator)):
            if value is not None:
                settings[key] = value
        config = TrainConfig.from_dict(settings)
        if args.tiny and not args.model:
            from pathlib import Path

            tiny = Path(config.output_dir) / "tiny_model"
            config.model = str(tiny if (tiny / "config.json").is_file() else make_tiny_model(tiny, seed=config.seed))
        trainer = Trainer(config)
    except (ValueError, FileNotFoundError, ImportError, yaml.YAMLError) as exc:
        return fail(str(exc))
    if args.resume and trainer.resume():
        print(f"resumed at iteration {trainer.iteration}")
    if args.eval_only:
        for key, value in trainer.evaluate().items():
            print(f"{key:<28} {value:.3f}")
        return 0
    history = trainer.train()
    if history:
        last = history[-1]
        print(f"iteration {last['iteration']}: success {last['success_rate']:.2f}, loss {last.get('loss', float('nan')):.4f}")
        print(f"metrics: {config.output_dir}/metrics.jsonl, metrics.csv, metrics.png; checkpoints: {config.output_dir}/checkpoints/")
    return 0
