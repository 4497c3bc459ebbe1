"""The TRL internals :class:`~hgpo.integrations.trl.HGPOGRPOTrainer` relies on, checked before training.

The trainer replaces one method of ``GRPOTrainer``, ``_generate_and_score_completions`` (rollout, rewards,
advantages, old / reference log-probabilities: the generation batch), and calls a few others. If a TRL
release renames or re-signs any of them, or stops routing the generation batch through that method, or
its loss stops reading ``inputs["advantages"]``, training would silently fall back to GRPO's own
advantages or crash deep inside. :func:`check_trl_internals` turns that into one clear error at
construction, naming what changed.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

__all__ = ["TESTED_TRL", "TRLIncompatibleError", "check_trainer_attributes", "check_trl_internals", "warn_if_untested"]

#: The TRL versions the tests ran on (the ``trl`` extra pins this range).
TESTED_TRL = ">=1.16,<1.17"

#: method -> the parameters it must accept, in this order (extra trailing parameters are fine).
REQUIRED_METHODS: dict[str, tuple[str, ...]] = {
    "_generate_and_score_completions": ("self", "inputs"),
    "_prepare_inputs": ("self", "generation_batch"),
    "_compute_loss": ("self", "model", "inputs"),
    "_get_per_token_logps_and_entropies": ("self", "model", "input_ids", "attention_mask", "logits_to_keep",
                                           "batch_size"),
    "_tokenize_prompts": ("self", "prompts"),
    "_generate_single_turn": ("self", "prompt_ids", "images", "multimodal_fields", "num_generations"),
}
#: method -> text its source must contain (the call or read the trainer depends on).
REQUIRED_SOURCE: dict[str, tuple[str, ...]] = {
    "_prepare_inputs": ("self._generate_and_score_completions(", "split_tensor_dict(", "shuffle_sequence_dict("),
    "_compute_loss": ('inputs["advantages"]', 'inputs.get("old_per_token_logps")', 'inputs["num_items_in_batch"]',
                      'inputs["ref_per_token_logps"]', "completion_mask"),
}
#: attributes a constructed GRPOTrainer must have.
REQUIRED_ATTRIBUTES = ("num_generations", "num_generations_eval", "num_iterations", "beta", "ref_model",
                       "use_vllm", "mask_truncated_completions", "pad_to_multiple_of", "eos_token_ids", "_tokenizer",
                       "_metrics", "_logs", "_step", "_buffered_inputs", "loss_type", "accelerator")


class TRLIncompatibleError(RuntimeError):
    """The installed TRL no longer has an internal the trainer relies on."""


def _fail(trl_version: str, problem: str) -> TRLIncompatibleError:
    return TRLIncompatibleError(
        f"TRL {trl_version}: {problem}. HGPOGRPOTrainer was tested with trl{TESTED_TRL} "
        f"(pip install 'hgpo[trl]'); refusing to train rather than fall back to GRPO's own advantages."
    )


def check_trl_internals(grpo_trainer_cls: type, trl_version: str) -> None:
    """Raise :class:`TRLIncompatibleError` unless ``GRPOTrainer`` has every method and call listed above."""
    for name, params in REQUIRED_METHODS.items():
        fn = getattr(grpo_trainer_cls, name, None)
        if not callable(fn):
            raise _fail(trl_version, f"GRPOTrainer.{name} is gone")
        got = tuple(inspect.signature(inspect.unwrap(fn)).parameters)
        if got[: len(params)] != params:
            raise _fail(trl_version, f"GRPOTrainer.{name}{got} no longer starts with parameters {params}")
    for name, needles in REQUIRED_SOURCE.items():
        try:
            source = inspect.getsource(inspect.unwrap(getattr(grpo_trainer_cls, name)))
        except (OSError, TypeError):
            raise _fail(trl_version, f"the source of GRPOTrainer.{name} cannot be read to check it") from None
        for needle in needles:
            if needle not in source:
                raise _fail(trl_version, f"GRPOTrainer.{name} no longer contains {needle!r}")


def check_trainer_attributes(trainer: Any, trl_version: str) -> None:
    """Raise :class:`TRLIncompatibleError` if a constructed trainer lacks an attribute used at run time."""
    missing = [name for name in REQUIRED_ATTRIBUTES if not hasattr(trainer, name)]
    if missing:
        raise _fail(trl_version, f"GRPOTrainer instances no longer have {', '.join(missing)}")


def warn_if_untested(trl_version: str) -> bool:
    """Warn (and return True) when ``trl_version`` is outside :data:`TESTED_TRL`; the checks above still run."""
    from packaging.specifiers import SpecifierSet

    if trl_version in SpecifierSet(TESTED_TRL):
        return False
    warnings.warn(f"TRL {trl_version} is outside the tested range trl{TESTED_TRL}: the internals the trainer "
                  "uses were checked, but its behaviour was not tested on this version", UserWarning, stacklevel=3)
    return True
