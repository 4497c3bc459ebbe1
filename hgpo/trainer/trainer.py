"""``Trainer``: group rollouts -> step records -> advantages -> PPO updates, with evaluation and checkpoints.

One iteration:

1. ``tasks_per_batch`` task groups of ``group_size`` episodes are rolled out with
   :func:`wrappers.collect_groups` (memory-window prompts, action parsing); the LM samples every action
   and returns it as a :class:`wrappers.Decision` whose payload (prompt and response token ids) lands on
   the step's record, so the training batch is read straight from the records.
2. Advantages come from ``hgpo_algo.compute_advantages`` on the step records (one scalar per step).
3. Old and reference log-probabilities are computed once; then ``ppo_epochs`` passes of clipped PPO over
   mini-batches (gradient accumulation over micro-batches), plus ``kl_coef`` times the KL to the reference
   model and minus ``entropy_coef`` times the entropy.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import hgpo_envs  # noqa: F401  (registers our environment ids)
from hgpo.trainer.config import TrainConfig
from hgpo.trainer.lm_policy import LMPolicy, Sample, resolve_device, resolve_dtype
from hgpo_algo.api import compute_advantages
from hgpo_algo.losses import aggregate, kl_loss, policy_loss
from wrappers import Decision, Memory, collect_groups
from wrappers.memories import memory_by_name

__all__ = ["StepBatch", "Trainer"]


@dataclass
class StepBatch:
    """The training batch of one iteration: ``N`` agent steps.

    ``prompt_ids`` / ``response_ids``: token id lists; ``advantages``: ``(N,)`` float32;
    ``old_logprob`` / ``ref_logprob``: ``(N, T)`` per response token (``ref`` None without a KL term);
    ``mask``: ``(N, T)``.
    """

    prompt_ids: list[list[int]]
    response_ids: list[list[int]]
    advantages: torch.Tensor
    old_logprob: torch.Tensor
    ref_logprob: torch.Tensor | None
    mask: torch.Tensor

    def __len__(self) -> int:
        return len(self.prompt_ids)


class Trainer:
    """The reference trainer (see module docstring). ``model``, ``tokenizer`` and the prompts' ``memory``
    (any :class:`wrappers.Memory`, instead of the config's ``memory``) may be given directly."""

    def __init__(self, config: TrainConfig, *, model: Any = None, tokenizer: Any = None,
                 memory: Memory | None = None) -> None:
        config.validate()
        self.config = config
        self.device = resolve_device(config.device)
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        if model is None or tokenizer is None:
            model, tokenizer = self._load(config.model)
        self.model = model.to(self.device)
        self.tokenizer = tokenizer
        self.ref_model = None
        if config.kl_coef > 0:
            self.ref_model = copy.deepcopy(self.model).eval()
            for p in self.ref_model.parameters():
                p.requires_grad_(False)
        self.policy = LMPolicy(
            self.model,
            tokenizer,
            max_prompt_tokens=config.max_prompt_tokens,
            max_new_tokens=config.max_new_tokens,
            temperature=config.temperature,
            top_p=config.top_p,
        )
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.iteration = 0
        self.out = Path(config.output_dir)
        self.memory = memory if memory is not None else self._config_memory()

    def _load(self, path: str) -> tuple[Any, Any]:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not path:
            raise ValueError("no model given: pass --model PATH (a local model folder) or --tiny")
        if not Path(path).is_dir():
            raise FileNotFoundError(f"model folder not found: {path} (models are never downloaded at run time)")
        dtype = resolve_dtype(self.config.dtype, self.device)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        return model, tokenizer

    # ------------------------------------------------------------------ rollouts

    def _config_memory(self) -> Memory:
        cfg = self.config
        return memory_by_name(cfg.memory, cfg.window, max_tokens=cfg.memory_tokens, tokenizer=self.tokenizer)

    def _agent(self, greedy: bool) -> Callable[[list[str], list[dict]], list[Decision]]:
        """A rollout policy: the LM samples each action; its token ids ride on the step's record."""

        def act(prompts: list[str], infos: list[dict[str, Any]]) -> list[Decision]:
            samples: list[Sample] = []
            size = self.config.micro_batch_size * 4
            for start in range(0, len(prompts), size):
                samples += self.policy.sample(prompts[start : start + size], greedy=greedy)
            return [
                Decision(s.text, {"prompt_ids": s.prompt_ids, "response_ids": s.response_ids}) for s in samples
            ]

        return act

    def _collect(self, *, n_groups: int, group_size: int, seed: int, env_kwargs: dict, greedy: bool,
                 task_options: list | None = None) -> list[dict[str, Any]]:
        return collect_groups(
            self.config.env_id,
            self._agent(greedy),
            n_groups,
            group_size,
            backend=self.config.backend,
            seed=seed,
            env_kwargs=env_kwargs,
            task_options=task_options,
            history_length=self.config.window,
            memory=self.memory,
            parse_actions=True,
            parser_options={"require_think": self.config.require_think},
            max_steps=self.config.max_steps,
            include=("action", "response"),
            info_fields=("task_type",),
            progress=False,
        )

    # ------------------------------------------------------------------ batch and update

    def make_batch(self, records: list[dict[str, Any]], advantages: np.ndarray) -> StepBatch:
        """The records' sampled tokens (their ``payload``) with old / reference log-probabilities.

        ``advantages`` is ``(N,)``, aligned with ``records``.
        """
        try:
            prompt_ids = [rec["payload"]["prompt_ids"] for rec in records]
            response_ids = [rec["payload"]["response_ids"] for rec in records]
        except KeyError as exc:
            raise ValueError(f"step records without the policy's payload ({exc}): roll out with Trainer's policy") from None
        old, ref, masks = [], [], []
        width = max(1, max(len(r) for r in response_ids))
        with torch.no_grad():
            for start in range(0, len(records), self.config.micro_batch_size):
                sl = slice(start, start + self.config.micro_batch_size)
                lp, mask, _ = self.policy.token_logprobs(prompt_ids[sl], response_ids[sl])
                old.append(_pad(lp, width))
                masks.append(_pad(mask, width))
                if self.ref_model is not None:
                    ref_lp, _, _ = _with_model(self.policy, self.ref_model).token_logprobs(prompt_ids[sl], response_ids[sl])
                    ref.append(_pad(ref_lp, width))
        return StepBatch(
            prompt_ids=prompt_ids,
            response_ids=response_ids,
            advantages=torch.tensor(advantages, dtype=torch.float32, device=self.device),
            old_logprob=torch.cat(old),
            ref_logprob=torch.cat(ref) if ref else None,
            mask=torch.cat(masks),
        )

    def update(self, batch: StepBatch) -> dict[str, float]:
        """``ppo_epochs`` passes of clipped PPO over shuffled mini-batches; returns mean statistics."""
        cfg = self.config
        self.model.train()
        stats: dict[str, list[float]] = defaultdict(list)
        order = np.arange(len(batch))
        rng = np.random.default_rng(cfg.seed + self.iteration)
        for _ in range(cfg.ppo_epochs):
            rng.shuffle(order)
            for mb_start in range(0, len(order), cfg.mini_batch_size):
                mini = order[mb_start : mb_start + cfg.mini_batch_size]
                self.optimizer.zero_grad(set_to_none=True)
                for mc_start in range(0, len(mini), cfg.micro_batch_size):
                    idx = mini[mc_start : mc_start + cfg.micro_batch_size]
                    weight = len(idx) / len(mini)
                    logprob, mask, entropy = self.policy.token_logprobs(
                        [batch.prompt_ids[i] for i in idx],
                        [batch.response_ids[i] for i in idx],
                        with_entropy=cfg.entropy_coef > 0,
                    )
                    width = logprob.shape[1]
                    old = batch.old_logprob[idx, :width]
                    pg = policy_loss(logprob, old, batch.advantages[idx], mask, clip_ratio=cfg.clip_ratio, agg=cfg.loss_agg)
                    loss = pg.loss
                    stats["pg_loss"].append(pg.loss.item())
                    stats["clip_fraction"].append(pg.clip_fraction.item())
                    stats["approx_kl"].append(pg.approx_kl.item())
                    if batch.ref_logprob is not None:
                        kl = kl_loss(logprob, batch.ref_logprob[idx, :width], mask, kind=cfg.kl_kind, agg=cfg.loss_agg)
                        loss = loss + cfg.kl_coef * kl
                        stats["kl"].append(kl.item())
                    if entropy is not None:
                        ent = aggregate(entropy, mask, cfg.loss_agg)
                        loss = loss - cfg.entropy_coef * ent
                        stats["entropy"].append(ent.item())
                    if not torch.isfinite(loss):
                        raise FloatingPointError(f"non-finite loss at iteration {self.iteration}: {loss.item()}")
                    (loss * weight).backward()
                    stats["loss"].append(loss.item())
                grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
                stats["grad_norm"].append(float(grad_norm))
                self.optimizer.step()
        return {k: float(np.mean(v)) for k, v in stats.items()}

    # ------------------------------------------------------------------ iteration, evaluation

    def train_step(self) -> dict[str, float]:
        """One iteration (rollout, advantages, update); returns its metrics."""
        cfg = self.config
        t0 = time.perf_counter()
        records = self._collect(
            n_groups=cfg.tasks_per_batch,
            group_size=cfg.group_size,
            seed=cfg.seed * 1_000_003 + self.iteration,
            env_kwargs=cfg.env_kwargs,
            greedy=False,
        )
        t1 = time.perf_counter()
        result = compute_advantages(
            records, cfg.estimator, gamma=cfg.gamma, invalid_penalty=cfg.invalid_penalty,
            **cfg.checked_estimator_options(),
        )
        batch = self.make_batch(records, result.advantages)
        stats = self.update(batch)
        self.iteration += 1
        episodes = [r for r in records if r["done"]]
        metrics = {
            "iteration": self.iteration,
            "success_rate": float(np.mean([r["won"] for r in episodes])) if episodes else 0.0,
            "steps_per_episode": len(records) / max(1, len(episodes)),
            "invalid_share": float(np.mean([r["invalid"] for r in records])),
            "advantage_mean": float(result.advantages.mean()),
            "advantage_std": float(result.advantages.std()),
            "response_tokens": float(batch.mask.sum(1).mean()),
            "rollout_seconds": t1 - t0,
            "update_seconds": time.perf_counter() - t1,
            **stats,
        }
        return metrics

    def evaluate(self) -> dict[str, float]:
        """Greedy episodes on ``eval_tasks`` enumerated tasks (``{eval_task_option: i}``, i = 0..n-1)."""
        cfg = self.config
        records = self._collect(
            n_groups=cfg.eval_tasks,
            group_size=1,
            seed=cfg.seed,
            env_kwargs={**cfg.env_kwargs, **cfg.eval_env_kwargs},
            greedy=True,
            task_options=[{cfg.eval_task_option: i} for i in range(cfg.eval_tasks)],
        )
        return success_by_task_type(records)

    # ------------------------------------------------------------------ checkpoints and the loop

    def save_checkpoint(self) -> Path:
        path = self.out / "checkpoints" / f"iter_{self.iteration:06d}"
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        torch.save(self.optimizer.state_dict(), path / "optimizer.pt")
        (path / "trainer_state.json").write_text(json.dumps({"iteration": self.iteration}), encoding="utf-8")
        (self.out / "checkpoints" / "latest").write_text(path.name, encoding="utf-8")
        return path

    def resume(self) -> bool:
        """Load the latest checkpoint of ``output_dir`` if there is one; True when resumed."""
        latest = self.out / "checkpoints" / "latest"
        if not latest.is_file():
            return False
        path = self.out / "checkpoints" / latest.read_text(encoding="utf-8").strip()
        model, _ = self._load(str(path))
        self.model.load_state_dict(model.state_dict())
        self.optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location=self.device))
        self.iteration = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))["iteration"]
        return True

    def train(self, iterations: int | None = None) -> list[dict[str, float]]:
        """Run up to ``iterations`` (default: the config's) iterations from the current one."""
        from tqdm.auto import tqdm

        cfg = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        cfg.save(self.out / "config.yaml")
        total = cfg.iterations if iterations is None else self.iteration + iterations
        history = []
        with tqdm(total=total, initial=self.iteration, desc="iterations", disable=not cfg.progress) as bar:
            while self.iteration < total:
                metrics = self.train_step()
                if cfg.eval_every and self.iteration % cfg.eval_every == 0:
                    metrics.update({f"eval_{k}": v for k, v in self.evaluate().items()})
                if cfg.save_every and self.iteration % cfg.save_every == 0:
                    self.save_checkpoint()
                append_metrics(self.out, metrics)
                history.append(metrics)
                bar.update(1)
                bar.set_postfix(success=f"{metrics['success_rate']:.2f}", loss=f"{metrics.get('loss', math.nan):.3f}")
        if history:
            plot_metrics(self.out)
        return history


def _pad(t: torch.Tensor, width: int) -> torch.Tensor:
    return torch.nn.functional.pad(t, (0, width - t.shape[1]))


def _with_model(policy: LMPolicy, model: Any) -> LMPolicy:
    twin = copy.copy(policy)
    twin.model = model
    return twin


def success_by_task_type(records: list[dict[str, Any]]) -> dict[str, float]:
    """Success rate overall and per ``task_type`` of the episodes in ``records``."""
    ends = [r for r in records if r["done"]]
    out = {"success_rate": float(np.mean([r["won"] for r in ends])) if ends else 0.0, "episodes": float(len(ends))}
    by_type: dict[str, list[bool]] = defaultdict(list)
    for r in ends:
        if r.get("task_type"):
            by_type[str(r["task_type"])].append(bool(r["won"]))
    for name, wins in sorted(by_type.items()):
        out[f"success_{name}"] = float(np.mean(wins))
    return out


def append_metrics(out: Path, metrics: dict[str, float]) -> None:
    """Append one row to ``metrics.jsonl`` and to ``metrics.csv``.

    The CSV is rewritten only when a row brings new columns (the first evaluation adds its ``eval_*``
    columns); every other iteration appends one line.
    """
    with open(out / "metrics.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(metrics) + "\n")
    path = out / "metrics.csv"
    columns: list[str] = []
    if path.is_file():
        with open(path, newline="", encoding="utf-8") as fh:
            columns = next(csv.reader(fh), [])
    if columns and set(metrics) <= set(columns):
        with open(path, "a", newline="", encoding="utf-8") as fh:
            csv.DictWriter(fh, fieldnames=columns).writerow(metrics)
        return
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if line]
    columns = list(dict.fromkeys([*columns, *(k for row in rows for k in row)]))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def plot_metrics(out: Path) -> Path | None:
    """``metrics.png``: success rates, loss and KL against iterations (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if line]
    it = [r["iteration"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(it, [r["success_rate"] for r in rows], label="rollouts")
    ev = [(r["iteration"], r["eval_success_rate"]) for r in rows if "eval_success_rate" in r]
    if ev:
        axes[0].plot(*zip(*ev, strict=True), "o-", label="evaluation (greedy)")
    axes[0].set(title="success rate", xlabel="iteration", ylim=(-0.02, 1.02))
    axes[0].legend()
    axes[1].plot(it, [r.get("loss", math.nan) for r in rows])
    axes[1].set(title="loss", xlabel="iteration")
    axes[2].plot(it, [r.get("kl", math.nan) for r in rows])
    axes[2].set(title="KL to reference", xlabel="iteration")
    fig.tight_layout()
    path = out / "metrics.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
