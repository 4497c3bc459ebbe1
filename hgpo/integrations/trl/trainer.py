"""``HGPOGRPOTrainer``: TRL's ``GRPOTrainer`` trained step-wise on group rollouts with our advantages.

TRL's GRPO scores one completion per prompt and normalises its reward over the prompt's
``num_generations`` block. Agent training needs one sample per *step*: the prompt is the memory-window
prompt our wrappers render at that step, the completion is the model's action text. This trainer replaces
one method of ``GRPOTrainer``, ``_generate_and_score_completions`` (what turns a dataset batch into the
tensors of the generation batch), and keeps the rest as TRL has it: the loss (``loss_type``, clipping,
``beta`` KL, entropy bonus), the optimiser and schedule, logging, checkpoints and resume, gradient
accumulation, ``num_iterations`` reuse, and generation itself (``_generate_single_turn``: transformers'
``generate`` or vLLM).

One generation batch (``generation_batch_size`` episodes = ``n_groups * num_generations``):

1. :func:`wrappers.collect_groups` plays ``num_generations`` episodes of each of ``n_groups`` tasks from the
   same initial state (same reset seed, or the dataset row's ``task_options``); every step the policy
   tokenises the prompts with TRL's ``_tokenize_prompts``, samples with ``_generate_single_turn`` and
   returns a :class:`wrappers.Decision` whose payload (prompt / completion token ids) lands on the step's
   record. Unparsable actions are marked invalid by the wrappers.
2. ``hgpo_algo.compute_advantages(records, estimator, gamma, invalid_penalty, **estimator_options)``: one
   scalar per step (the invalid-action penalty included).
3. The batch is read from the records' payloads: left-padded prompts, right-padded completions, the
   advantages, old log-probabilities when TRL needs them, reference log-probabilities when ``beta != 0``.
   ``hgpo_record_index`` maps each row back to its record (``-1``: a padding row, see below).

The number of step samples varies per rollout; TRL splits the batch into ``steps_per_generation`` equal
chunks and drops a remainder, so the batch is padded to a multiple of it with rows whose loss mask and
advantage are zero (they add nothing to the ``dapo``, ``bnpo``, ``dr_grpo`` and ``cispo`` losses; the
per-sequence ``grpo`` mean counts them, at most ``steps_per_generation - 1`` rows per rollout).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import trl
from datasets import Dataset
from trl import GRPOTrainer
from trl.trainer.utils import pad

import hgpo_envs  # noqa: F401  (registers our environment ids)
from hgpo.integrations.trl.compat import check_trainer_attributes, check_trl_internals, warn_if_untested
from hgpo.integrations.trl.config import HGPOConfig
from hgpo_algo.api import AdvantageResult, compute_advantages
from wrappers import Decision, Memory, collect_groups
from wrappers.memories import memory_by_name

__all__ = ["HGPOGRPOTrainer", "Rollout", "environment_reward", "task_dataset"]

#: Offset of the evaluation rollouts' seeds, so that they never replay a training rollout's tasks.
EVAL_SEED_OFFSET = 500_009


def environment_reward(*args: Any, **kwargs: Any) -> list[float]:
    """The reward function registered with TRL. Rewards come from the environment, so reaching it means
    GRPO's own reward and advantage path ran instead of ours: fail instead of training on it."""
    raise RuntimeError(
        "HGPOGRPOTrainer: TRL called its own reward path; the installed TRL no longer routes the generation "
        "batch through _generate_and_score_completions (see hgpo.integrations.trl.compat)"
    )


def task_dataset(n_tasks: int, option: str | None = None) -> Dataset:
    """A training dataset of ``n_tasks`` rows; with ``option`` (e.g. ``"game_index"``, ``"goal_index"``) row
    ``i`` resets its group with ``{option: i}``, else the tasks come from the rollout seed."""
    if n_tasks < 1:
        raise ValueError(f"n_tasks must be >= 1, got {n_tasks}")
    data: dict[str, list[Any]] = {"prompt": [""] * n_tasks}
    if option is not None:
        data["task_options"] = [{option: i} for i in range(n_tasks)]
    return Dataset.from_dict(data)


@dataclass
class Rollout:
    """The last rollout: its step records, advantages, seed, and wall-clock seconds per phase.

    ``timings``: ``env`` (environment steps and wrappers), ``policy`` (generation), ``start`` (make and
    reset), ``advantages`` (``compute_advantages``), ``batch`` (tensors, old / reference log-probs).
    """

    records: list[dict[str, Any]]
    result: AdvantageResult
    seed: int
    mode: str
    timings: dict[str, float] = field(default_factory=dict)


class HGPOGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` on step records (see the module docstring); ``args`` is an :class:`HGPOConfig`.

    ``train_dataset`` paces the loop and may carry a ``task_options`` column (one mapping per task,
    see :func:`task_dataset`); by default one round of placeholder rows, the tasks drawn from the seed.
    Rewards come from the environment: there is no ``reward_funcs`` argument.
    """

    def __init__(
        self,
        model: Any,
        args: HGPOConfig | None = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: Any = None,
        callbacks: list[Any] | None = None,
        optimizers: tuple[Any, Any] = (None, None),
        peft_config: Any = None,
        memory: Memory | None = None,
    ) -> None:
        check_trl_internals(GRPOTrainer, trl.__version__)
        warn_if_untested(trl.__version__)
        if args is None:
            args = HGPOConfig(output_dir="hgpo-grpo")
        if not isinstance(args, HGPOConfig):
            raise TypeError(f"args must be an HGPOConfig (GRPOConfig plus the environment settings), "
                            f"got {type(args).__name__}")
        if args.use_vllm and args.vllm_importance_sampling_correction:
            raise ValueError("use_vllm with vllm_importance_sampling_correction=True is not supported yet: "
                             "set vllm_importance_sampling_correction=False")
        if args.world_size > 1:
            raise NotImplementedError("HGPOGRPOTrainer runs in one process for now (lockstep rollouts are not "
                                      f"synchronised across {args.world_size} processes)")
        if train_dataset is None:
            train_dataset = task_dataset(args.generation_batch_size // args.num_generations)
        super().__init__(
            model,
            reward_funcs=[environment_reward],
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            callbacks=callbacks,
            optimizers=optimizers,
            peft_config=peft_config,
        )
        check_trainer_attributes(self, trl.__version__)
        if self.beta != 0.0 and self.ref_model is None:
            raise NotImplementedError("beta != 0 with a PEFT adapter (no separate reference model) is not "
                                      "supported yet: set beta=0.0 or train without peft_config")
        self.last_rollout: Rollout | None = None
        self.memory = memory if memory is not None else self._config_memory()

    # ------------------------------------------------------------------ rollouts

    def _config_memory(self) -> Memory:
        """The memory ``args.memory`` names (``full`` counts tokens with the trainer's tokenizer)."""
        args = self.args
        return memory_by_name(args.memory, args.window, max_tokens=args.memory_tokens, tokenizer=self._tokenizer)

    def _prompt_for_tokenizer(self, prompt: str) -> Any:
        """A conversation when the tokenizer has a chat template (TRL applies it), else the plain text."""
        if getattr(self._tokenizer, "chat_template", None):
            return [{"role": "user", "content": prompt}]
        return prompt

    def act(self, prompts: list[str], infos: list[dict[str, Any]]) -> list[Decision]:
        """The rollout policy: TRL tokenises and samples; the token ids ride on each step's record."""
        prompt_ids, _, _ = self._tokenize_prompts([self._prompt_for_tokenizer(p) for p in prompts])
        limit = self.args.max_prompt_tokens
        prompt_ids = [list(ids)[-limit:] if limit else list(ids) for ids in prompt_ids]
        completion_ids, logprobs = self._generate_single_turn(prompt_ids, None, {}, 1)
        texts = self.processing_class.batch_decode(completion_ids, skip_special_tokens=True)
        return [
            Decision(text, {"prompt_ids": p, "completion_ids": list(c),
                            "logprobs": None if logprobs is None else list(logprobs[i])})
            for i, (text, p, c) in enumerate(zip(texts, prompt_ids, completion_ids, strict=True))
        ]

    def collect(self, n_groups: int, group_size: int, *, seed: int,
                task_options: list[dict[str, Any] | None] | None = None,
                stats: dict[str, float] | None = None) -> list[dict[str, Any]]:
        """Step records of ``n_groups`` tasks x ``group_size`` episodes played by :meth:`act`."""
        args = self.args
        return collect_groups(
            args.env_id,
            self.act,
            n_groups,
            group_size,
            backend=args.rollout_backend,
            seed=seed,
            env_kwargs=args.env_kwargs,
            task_options=task_options,
            history_length=args.window,
            memory=self.memory,
            parse_actions=True,
            parser_options={"require_think": args.require_think},
            max_steps=args.max_episode_steps,
            include=("action", "response", "prompt"),
            max_envs=args.max_envs,
            progress=False,
            stats=stats,
        )

    # ------------------------------------------------------------------ the generation batch

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        """Rollout -> step records -> advantages -> TRL's generation-batch tensors (module docstring)."""
        mode = "train" if self.model.training else "eval"
        group_size = self.num_generations if mode == "train" else self.num_generations_eval
        if len(inputs) % group_size:
            raise ValueError(f"a batch of {len(inputs)} rows is not whole groups of {group_size}")
        n_groups = len(inputs) // group_size
        options = [inputs[g * group_size].get("task_options") for g in range(n_groups)]
        seed = self.args.seed * 1_000_003 + self.state.global_step + (EVAL_SEED_OFFSET if mode == "eval" else 0)
        timings: dict[str, float] = {}
        records = self.collect(n_groups, group_size, seed=seed,
                               task_options=options if any(o is not None for o in options) else None, stats=timings)
        t0 = time.perf_counter()
        args = self.args
        result = compute_advantages(records, args.estimator, gamma=args.gamma, invalid_penalty=args.invalid_penalty,
                                    **args.estimator_options)
        t1 = time.perf_counter()
        output = self.batch_from_records(records, result.advantages, pad_to=args.steps_per_generation if mode == "train" else 1)
        timings.update(advantages=t1 - t0, batch=time.perf_counter() - t1)
        self.last_rollout = Rollout(records, result, seed, mode, timings)
        self._log_rollout(mode, records, result, output, timings)
        return output

    def batch_from_records(self, records: list[dict[str, Any]], advantages: np.ndarray, *, pad_to: int = 1) -> dict[str, Any]:
        """TRL's generation-batch dict from the records' payloads and ``(N,)`` advantages (record order).

        ``pad_to``: the row count is padded up to a multiple of it with zero-mask, zero-advantage rows.
        """
        if len(advantages) != len(records):
            raise ValueError(f"{len(advantages)} advantages for {len(records)} records")
        try:
            prompts = [list(rec["payload"]["prompt_ids"]) for rec in records]
            completions = [list(rec["payload"]["completion_ids"]) for rec in records]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"step records without this trainer's payload ({exc!r}): roll out with "
                             "HGPOGRPOTrainer.collect") from None
        device = self.accelerator.device
        pad_id = self._tokenizer.pad_token_id
        n_pad = (-len(records)) % pad_to
        prompts += [[pad_id]] * n_pad
        completions += [[pad_id]] * n_pad
        index = list(range(len(records))) + [-1] * n_pad
        adv = np.concatenate([np.asarray(advantages, dtype=np.float64), np.zeros(n_pad)])
        completion_mask_list = [torch.full((len(c),), int(i >= 0), dtype=torch.long) for c, i in
                                zip(completions, index, strict=True)]
        if self.mask_truncated_completions:
            eos_and_pad = {*self.eos_token_ids, pad_id}
            completion_mask_list = [m * int(not c or c[-1] in eos_and_pad) for m, c in
                                    zip(completion_mask_list, completions, strict=True)]
        multiple = self.pad_to_multiple_of
        prompt_ids = pad([torch.tensor(p) for p in prompts], padding_value=pad_id, padding_side="left",
                         pad_to_multiple_of=multiple).to(device)
        prompt_mask = pad([torch.ones(len(p), dtype=torch.long) for p in prompts], padding_value=0,
                          padding_side="left", pad_to_multiple_of=multiple).to(device)
        completion_ids = pad([torch.tensor(c) for c in completions], padding_value=pad_id, padding_side="right",
                             pad_to_multiple_of=multiple).to(device)
        completion_mask = pad(completion_mask_list, padding_value=0, padding_side="right",
                              pad_to_multiple_of=multiple).to(device)
        output: dict[str, Any] = {
            "prompt_ids": prompt_ids,
            "prompt_mask": prompt_mask,
            "completion_ids": completion_ids,
            "completion_mask": completion_mask,
            "advantages": torch.tensor(adv, dtype=torch.float32, device=device),
            "num_items_in_batch": self.accelerator.gather(completion_mask.sum()).sum(),
            "hgpo_record_index": torch.tensor(index, dtype=torch.long, device=device),
        }
        output.update(self._reference_logps(prompt_ids, prompt_mask, completion_ids, completion_mask))
        return output

    def _reference_logps(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, completion_ids: torch.Tensor,
                         completion_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Old log-probs when TRL's loss needs them (the batch is reused off-policy), reference log-probs
        when ``beta != 0``; ``(B, T)`` each, as TRL computes them."""
        out: dict[str, torch.Tensor] = {}
        ids = torch.cat([prompt_ids, completion_ids], dim=1)
        attention = torch.cat([prompt_mask, completion_mask], dim=1)
        keep = completion_ids.size(1)
        mode = "train" if self.model.training else "eval"
        size = self.args.per_device_train_batch_size if mode == "train" else self.args.per_device_eval_batch_size
        generate_every = self.args.steps_per_generation * self.num_iterations
        with torch.no_grad():
            if self.args.gradient_accumulation_steps % generate_every != 0:
                out["old_per_token_logps"] = self._get_per_token_logps_and_entropies(
                    self.model, ids, attention, keep, batch_size=size)[0]
            if self.beta != 0.0:
                out["ref_per_token_logps"] = self._get_per_token_logps_and_entropies(
                    self.ref_model, ids, attention, keep, batch_size=size)[0]
        return out

    # ------------------------------------------------------------------ logging

    def _log_rollout(self, mode: str, records: list[dict[str, Any]], result: AdvantageResult,
                     output: dict[str, Any], timings: dict[str, float]) -> None:
        """Rollout statistics into TRL's metrics (averaged and reported at each ``logging_steps``)."""
        real = output["hgpo_record_index"] >= 0
        lengths = output["completion_mask"][real].sum(1).float()
        tokens = int(output["prompt_mask"][real].sum() + lengths.sum())
        if mode == "train":
            self.state.num_input_tokens_seen += tokens
        returns: dict[str, float] = {}
        for rec in records:
            returns[rec["traj_id"]] = returns.get(rec["traj_id"], 0.0) + float(rec["reward"])
        ends = [rec for rec in records if rec["done"]]
        metrics = self._metrics[mode]
        metrics["num_tokens"] = [self.state.num_input_tokens_seen]
        metrics["completions/mean_length"].append(lengths.mean().item())
        metrics["completions/min_length"].append(lengths.min().item())
        metrics["completions/max_length"].append(lengths.max().item())
        metrics["reward"].append(float(np.mean(list(returns.values()))))
        metrics["reward_std"].append(float(np.std(list(returns.values()))))
        metrics["hgpo/success_rate"].append(float(np.mean([bool(r.get("won")) for r in ends])) if ends else 0.0)
        metrics["hgpo/episodes"].append(float(len(returns)))
        metrics["hgpo/step_samples"].append(float(len(records)))
        metrics["hgpo/steps_per_episode"].append(len(records) / max(1, len(returns)))
        metrics["hgpo/invalid_share"].append(float(np.mean([bool(r["invalid"]) for r in records])))
        metrics["hgpo/advantage_mean"].append(float(result.advantages.mean()))
        metrics["hgpo/advantage_std"].append(float(result.advantages.std()))
        for name in ("start", "env", "policy", "advantages", "batch"):
            metrics[f"hgpo/time_{name}"].append(float(timings.get(name, 0.0)))
        self._logs["prompt"].extend(rec.get("prompt", "") for rec in records)
        self._logs["completion"].extend(rec.get("response", "") for rec in records)
        self._logs["rewards"]["environment_reward"].extend(float(rec["reward"]) for rec in records)
        self._logs["advantages"].extend(result.advantages.tolist())
