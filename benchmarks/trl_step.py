"""Time per training iteration of HGPOGRPOTrainer (TRL) against the reference trainer, in the same run.

Both trainers start from the same tiny model (a random 2-layer Llama with a byte tokenizer, built locally)
and do the same work per iteration: ``--groups`` tasks x ``--group-size`` episodes of at most
``--max-steps`` steps on ALFWorld's generated games (or ``--env``), memory-window prompts cut to their last
``--prompt-tokens`` tokens, ``--new-tokens`` sampled tokens per action, HGPO advantages, one optimiser step
on every step sample (two accumulation micro-batches), no KL term. Per iteration it reports:

* rollout: environment (``env``: steps, wrappers, recording, reset) and ``generation`` (sampling);
* advantages: ``compute_advantages`` on the step records;
* update: everything else of the iteration (batch tensors, forward / backward, optimiser step, and for
  TRL its per-step bookkeeping).

Each trainer runs ``--rounds`` times in ABBA order (the load of a shared machine drifts); the first
iteration of each run is a warm-up and is left out; medians over the rest, and the ratio TRL / reference
per phase.

    python benchmarks/trl_step.py [--iterations 4] [--rounds 2] [--groups 2] [--group-size 4] [--max-steps 4] [--env ID]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# benchmarks/alfworld.py would shadow the `alfworld` package for scripts run from this folder
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback  # noqa: E402

from hgpo.integrations.trl import HGPOConfig, HGPOGRPOTrainer  # noqa: E402
from hgpo.trainer.config import TrainConfig  # noqa: E402
from hgpo.trainer.tiny import make_tiny_model  # noqa: E402
from hgpo.trainer.trainer import Trainer  # noqa: E402
from hgpo_algo import compute_advantages  # noqa: E402

PHASES = ("env", "generation", "advantages", "update", "total")


def reference_iterations(args: argparse.Namespace, model_dir: Path, out: Path) -> list[dict[str, float]]:
    """The reference trainer's iteration (``Trainer.train_step``'s body), timed phase by phase."""
    n_max = args.groups * args.group_size * args.max_steps
    cfg = TrainConfig.from_dict(dict(
        model=str(model_dir), output_dir=str(out), env_id=args.env, group_size=args.group_size,
        tasks_per_batch=args.groups, max_steps=args.max_steps, max_new_tokens=args.new_tokens,
        max_prompt_tokens=args.prompt_tokens, mini_batch_size=n_max, micro_batch_size=max(1, n_max // 2),
        lr=1e-4, kl_coef=0.0, entropy_coef=0.0, estimator="hgpo", device="cpu", dtype="float32", progress=False,
    ))
    trainer = Trainer(cfg)
    generation = [0.0]
    sample = trainer.policy.sample

    def timed_sample(*a: Any, **k: Any) -> Any:
        t = time.perf_counter()
        try:
            return sample(*a, **k)
        finally:
            generation[0] += time.perf_counter() - t

    trainer.policy.sample = timed_sample
    rows = []
    for it in range(args.iterations):
        generation[0] = 0.0
        t0 = time.perf_counter()
        records = trainer._collect(n_groups=cfg.tasks_per_batch, group_size=cfg.group_size, seed=it,
                                   env_kwargs=cfg.env_kwargs, greedy=False)
        t1 = time.perf_counter()
        result = compute_advantages(records, cfg.estimator, gamma=cfg.gamma, invalid_penalty=cfg.invalid_penalty,
                                    **cfg.checked_estimator_options())
        t2 = time.perf_counter()
        trainer.update(trainer.make_batch(records, result.advantages))
        t3 = time.perf_counter()
        rows.append({"env": (t1 - t0) - generation[0], "generation": generation[0], "advantages": t2 - t1,
                     "update": t3 - t2, "total": t3 - t0, "samples": float(len(records))})
    return rows


class _StepClock(TrainerCallback):
    """Wall-clock seconds of each optimiser step (one rollout each)."""

    def __init__(self) -> None:
        self.marks: list[float] = []

    def on_train_begin(self, *a: Any, **k: Any) -> None:
        self.marks = [time.perf_counter()]

    def on_step_end(self, *a: Any, **k: Any) -> None:
        self.marks.append(time.perf_counter())


class _TimedTRL(HGPOGRPOTrainer):
    """Keeps every rollout's timings (the trainer keeps the last one)."""

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        out = super()._generate_and_score_completions(inputs)
        self.history.append((dict(self.last_rollout.timings), len(self.last_rollout.records)))
        return out


def trl_iterations(args: argparse.Namespace, model_dir: Path, out: Path) -> list[dict[str, float]]:
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    cfg = HGPOConfig(
        output_dir=str(out), env_id=args.env, num_generations=args.group_size,
        per_device_train_batch_size=args.groups * args.group_size // 2, gradient_accumulation_steps=2,
        max_completion_length=args.new_tokens, max_prompt_tokens=args.prompt_tokens, max_episode_steps=args.max_steps,
        learning_rate=1e-4, max_steps=args.iterations, estimator="hgpo", beta=0.0, top_k=0,
        gradient_checkpointing=False, save_strategy="no", report_to="none", logging_steps=1, use_cpu=True,
        disable_tqdm=True,
    )
    clock = _StepClock()
    trainer = _TimedTRL(model, args=cfg, processing_class=tok, callbacks=[clock])
    trainer.history = []
    trainer.train()
    rows = []
    for i, (timings, n) in enumerate(trainer.history):
        total = clock.marks[i + 1] - clock.marks[i]
        env = timings.get("env", 0.0) + timings.get("start", 0.0)
        generation = timings.get("policy", 0.0)
        rows.append({"env": env, "generation": generation, "advantages": timings["advantages"],
                     "update": total - env - generation - timings["advantages"], "total": total, "samples": float(n)})
    return rows


def median_row(rows: list[list[dict[str, float]]]) -> dict[str, float]:
    """Medians over every run's iterations, each run's first (warm-up) iteration left out."""
    kept = [r for run in rows for r in (run[1:] if len(run) > 1 else run)]
    return {k: statistics.median(r[k] for r in kept) for k in (*PHASES, "samples")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=4)
    p.add_argument("--groups", type=int, default=2)
    p.add_argument("--group-size", type=int, default=4)
    p.add_argument("--max-steps", type=int, default=4)
    p.add_argument("--new-tokens", type=int, default=24)
    p.add_argument("--prompt-tokens", type=int, default=256)
    p.add_argument("--env", default="hgpo/ALFWorld-v0")
    p.add_argument("--rounds", type=int, default=2, help="runs of each trainer, in ABBA order")
    args = p.parse_args()
    if args.groups * args.group_size % 2:
        p.error("--groups x --group-size must be even (two accumulation micro-batches)")
    torch.manual_seed(0)
    runs: dict[str, list[list[dict[str, float]]]] = {"ref": [], "trl": []}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = make_tiny_model(Path(tmp) / "tiny", seed=0)
        for r in range(args.rounds):  # ABBA order: a shared machine's load drifts
            for name in ("ref", "trl") if r % 2 == 0 else ("trl", "ref"):
                run = reference_iterations if name == "ref" else trl_iterations
                runs[name].append(run(args, model_dir, Path(tmp) / f"{name}{r}"))
    ref, trl_ = median_row(runs["ref"]), median_row(runs["trl"])
    n = args.rounds * max(1, args.iterations - 1)
    print(f"{args.env}: {args.groups} groups x {args.group_size} episodes, <= {args.max_steps} steps, "
          f"{args.new_tokens} new tokens, prompts <= {args.prompt_tokens} tokens; torch threads "
          f"{torch.get_num_threads()}; medians of {n} iterations ({args.rounds} runs each, warm-up left out)")
    print(f"step samples per iteration: reference {ref['samples']:.0f}, TRL {trl_['samples']:.0f}")
    print(f"{'seconds per iteration':<24}{'reference':>11}{'TRL':>11}{'TRL / ref':>11}")
    for phase in PHASES:
        ratio = trl_[phase] / ref[phase] if ref[phase] > 0 else float("nan")
        print(f"{phase:<24}{ref[phase]:>11.3f}{trl_[phase]:>11.3f}{ratio:>11.2f}")


if __name__ == "__main__":
    main()
