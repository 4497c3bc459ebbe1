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

The iterations are interleaved (each TRL optimiser step is followed by one reference iteration, from a
TRL callback), so both trainers see the same load of a shared machine; the first pair is a warm-up and is
left out. Medians per phase, and the median of the per-iteration ratios TRL / reference.

    python benchmarks/trl_step.py [--iterations 6] [--groups 2] [--group-size 4] [--max-steps 4] [--env ID]
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


class Reference:
    """The reference trainer's iteration (``Trainer.train_step``'s body), timed phase by phase."""

    def __init__(self, args: argparse.Namespace, model_dir: Path, out: Path) -> None:
        n_max = args.groups * args.group_size * args.max_steps
        self.cfg = TrainConfig.from_dict(dict(
            model=str(model_dir), output_dir=str(out), env_id=args.env, group_size=args.group_size,
            tasks_per_batch=args.groups, max_steps=args.max_steps, max_new_tokens=args.new_tokens,
            max_prompt_tokens=args.prompt_tokens, mini_batch_size=n_max, micro_batch_size=max(1, n_max // 2),
            lr=1e-4, kl_coef=0.0, entropy_coef=0.0, estimator="hgpo", device="cpu", dtype="float32", progress=False,
        ))
        self.trainer = Trainer(self.cfg)
        self.generation = 0.0
        sample = self.trainer.policy.sample

        def timed_sample(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return sample(*a, **k)
            finally:
                self.generation += time.perf_counter() - t

        self.trainer.policy.sample = timed_sample
        self.rows: list[dict[str, float]] = []

    def iteration(self, seed: int) -> None:
        cfg, trainer = self.cfg, self.trainer
        self.generation = 0.0
        t0 = time.perf_counter()
        records = trainer._collect(n_groups=cfg.tasks_per_batch, group_size=cfg.group_size, seed=seed,
                                   env_kwargs=cfg.env_kwargs, greedy=False)
        t1 = time.perf_counter()
        result = compute_advantages(records, cfg.estimator, gamma=cfg.gamma, invalid_penalty=cfg.invalid_penalty,
                                    **cfg.checked_estimator_options())
        t2 = time.perf_counter()
        trainer.update(trainer.make_batch(records, result.advantages))
        t3 = time.perf_counter()
        self.rows.append({"env": (t1 - t0) - self.generation, "generation": self.generation, "advantages": t2 - t1,
                          "update": t3 - t2, "total": t3 - t0, "samples": float(len(records))})


class _Interleave(TrainerCallback):
    """Times each TRL optimiser step (one rollout each), then runs one reference iteration right after it,
    so both trainers see the same machine load."""

    def __init__(self, reference: Reference) -> None:
        self.reference = reference
        self.durations: list[float] = []
        self.begin = 0.0

    def on_step_begin(self, *a: Any, **k: Any) -> None:
        self.begin = time.perf_counter()

    def on_step_end(self, *a: Any, **k: Any) -> None:
        self.durations.append(time.perf_counter() - self.begin)
        self.reference.iteration(seed=len(self.durations))


class _TimedTRL(HGPOGRPOTrainer):
    """Keeps every rollout's timings (the trainer keeps the last one)."""

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        out = super()._generate_and_score_completions(inputs)
        self.history.append((dict(self.last_rollout.timings), len(self.last_rollout.records)))
        return out


def run(args: argparse.Namespace, model_dir: Path, out: Path) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """(TRL rows, reference rows), one per iteration, interleaved."""
    reference = Reference(args, model_dir, out / "ref")
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    cfg = HGPOConfig(
        output_dir=str(out / "trl"), env_id=args.env, num_generations=args.group_size,
        per_device_train_batch_size=args.groups * args.group_size // 2, gradient_accumulation_steps=2,
        max_completion_length=args.new_tokens, max_prompt_tokens=args.prompt_tokens, max_episode_steps=args.max_steps,
        learning_rate=1e-4, max_steps=args.iterations, estimator="hgpo", beta=0.0, top_k=0,
        gradient_checkpointing=False, save_strategy="no", report_to="none", logging_steps=1, use_cpu=True,
        disable_tqdm=True,
    )
    clock = _Interleave(reference)
    trainer = _TimedTRL(model, args=cfg, processing_class=tok, callbacks=[clock])
    trainer.history = []
    trainer.train()
    rows = []
    for (timings, n), total in zip(trainer.history, clock.durations, strict=True):
        env = timings.get("env", 0.0) + timings.get("start", 0.0)
        generation = timings.get("policy", 0.0)
        rows.append({"env": env, "generation": generation, "advantages": timings["advantages"],
                     "update": total - env - generation - timings["advantages"], "total": total, "samples": float(n)})
    return rows, reference.rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=6)
    p.add_argument("--groups", type=int, default=2)
    p.add_argument("--group-size", type=int, default=4)
    p.add_argument("--max-steps", type=int, default=4)
    p.add_argument("--new-tokens", type=int, default=24)
    p.add_argument("--prompt-tokens", type=int, default=256)
    p.add_argument("--env", default="hgpo/ALFWorld-v0")
    args = p.parse_args()
    if args.groups * args.group_size % 2:
        p.error("--groups x --group-size must be even (two accumulation micro-batches)")
    if args.iterations < 2:
        p.error("--iterations must be >= 2 (the first is a warm-up)")
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = make_tiny_model(Path(tmp) / "tiny", seed=0)
        trl_rows, ref_rows = run(args, model_dir, Path(tmp))
    trl_rows, ref_rows = trl_rows[1:], ref_rows[1:]  # warm-up
    print(f"{args.env}: {args.groups} groups x {args.group_size} episodes, <= {args.max_steps} steps, "
          f"{args.new_tokens} new tokens, prompts <= {args.prompt_tokens} tokens; torch threads "
          f"{torch.get_num_threads()}; medians of {len(trl_rows)} interleaved iterations (warm-up left out)")
    print("step samples per iteration: reference "
          f"{statistics.median(r['samples'] for r in ref_rows):.0f}, TRL {statistics.median(r['samples'] for r in trl_rows):.0f}")
    print(f"{'seconds per iteration':<24}{'reference':>11}{'TRL':>11}{'TRL / ref':>11}")
    for phase in PHASES:
        ref = statistics.median(r[phase] for r in ref_rows)
        trl_ = statistics.median(r[phase] for r in trl_rows)
        # the median of the per-iteration ratios: each pair ran back to back, under the same load
        ratio = statistics.median(t[phase] / r[phase] for t, r in zip(trl_rows, ref_rows, strict=True) if r[phase] > 0)
        print(f"{phase:<24}{ref:>11.3f}{trl_:>11.3f}{ratio:>11.2f}")


if __name__ == "__main__":
    main()
