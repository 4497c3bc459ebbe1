"""Token-level PPO losses for LLM policies (PyTorch; ``pip install 'hgpo[train]'``).

Shapes: ``B`` responses (one per agent step), ``T`` response tokens (padded). ``mask`` is ``(B, T)`` with 1
for real response tokens and 0 for padding. Log-probabilities are per token, ``(B, T)``. Advantages are one
scalar per step, ``(B,)``, broadcast over the step's tokens (or already ``(B, T)``).

Aggregation modes (``agg``) turn a ``(B, T)`` loss matrix into a scalar:

* ``token-mean`` (default): mean over every real token of the batch;
* ``seq-mean-token-mean``: mean over responses of each response's token mean;
* ``seq-mean-token-sum``: mean over responses of each response's token sum;
* ``seq-mean-token-sum-norm``: sum over all tokens divided by ``B * norm_length`` (a constant horizon,
  default ``T``), so long and short responses weigh the same per token without a length bias.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hgpo_algo import defaults

__all__ = [
    "AGG_MODES",
    "CLIP_RATIO",
    "ENTROPY_COEF",
    "KL_COEF",
    "KL_KINDS",
    "LOG_RATIO_CLAMP",
    "PolicyLoss",
    "aggregate",
    "entropy_from_logits",
    "entropy_loss",
    "kl_loss",
    "kl_penalty",
    "policy_loss",
]

CLIP_RATIO = defaults.CLIP_RATIO
KL_COEF = defaults.KL_COEF
ENTROPY_COEF = defaults.ENTROPY_COEF
AGG_MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")
KL_KINDS = ("low_var_kl", "kl", "mse", "abs")
LOW_VAR_KL_CLAMP = 10.0
LOG_RATIO_CLAMP = 20.0
"""``log(pi / pi_old)`` is clamped to ``[-20, 20]`` before ``exp`` (as verl does): a token whose
probability moved by more than e^20 would otherwise give an infinite ratio and a NaN loss."""


def _check_shapes(mask: torch.Tensor, *tensors: torch.Tensor) -> None:
    if mask.dim() != 2:
        raise ValueError(f"mask must be (B, T), got shape {tuple(mask.shape)}")
    for t in tensors:
        if t.shape != mask.shape:
            raise ValueError(f"expected shape {tuple(mask.shape)} like the mask, got {tuple(t.shape)}")


def aggregate(
    values: torch.Tensor, mask: torch.Tensor, agg: str = defaults.LOSS_AGG, norm_length: int | None = None
) -> torch.Tensor:
    """Reduce a ``(B, T)`` loss matrix to a scalar over the real tokens (see module docstring)."""
    _check_shapes(mask, values)
    mask = mask.to(values.dtype)
    masked = values * mask
    if agg == "token-mean":
        return masked.sum() / mask.sum().clamp_min(1.0)
    if agg == "seq-mean-token-mean":
        per_seq = masked.sum(-1) / mask.sum(-1).clamp_min(1.0)
        return per_seq.mean()
    if agg == "seq-mean-token-sum":
        return masked.sum(-1).mean()
    if agg == "seq-mean-token-sum-norm":
        length = norm_length if norm_length is not None else values.shape[-1]
        return masked.sum() / (values.shape[0] * length)
    raise ValueError(f"unknown aggregation {agg!r} (choose from {', '.join(AGG_MODES)})")


@dataclass
class PolicyLoss:
    """``loss``: scalar to minimise; ``clip_fraction``: share of tokens whose clipped term was active;
    ``approx_kl``: token mean of ``old_logprob - logprob`` (a cheap KL(old || new) estimate)."""

    loss: torch.Tensor
    clip_fraction: torch.Tensor
    approx_kl: torch.Tensor


def policy_loss(
    logprob: torch.Tensor,
    old_logprob: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    clip_ratio: float = CLIP_RATIO,
    clip_ratio_low: float | None = None,
    clip_ratio_high: float | None = None,
    agg: str = defaults.LOSS_AGG,
    norm_length: int | None = None,
) -> PolicyLoss:
    """PPO's clipped surrogate, per token: ``max(-A * r, -A * clip(r, 1 - low, 1 + high))``.

    Args:
        logprob: ``(B, T)`` log-probabilities of the response tokens under the current policy.
        old_logprob: ``(B, T)`` the same under the policy that sampled them (no gradient).
        advantages: ``(B,)`` one advantage per step (broadcast over its tokens) or ``(B, T)``.
        mask: ``(B, T)`` 1 for real response tokens.
        clip_ratio: epsilon (0.2); ``clip_ratio_low`` / ``clip_ratio_high`` override either side.

    The log-ratio is clamped to ``[-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP]`` before the exponent, so the ratio
    stays finite however far the policy moved (its gradient is then 0 for that token, like a clipped one).
    """
    if advantages.dim() == 1:
        advantages = advantages[:, None].expand_as(logprob)
    _check_shapes(mask, logprob, old_logprob, advantages)
    low = clip_ratio if clip_ratio_low is None else clip_ratio_low
    high = clip_ratio if clip_ratio_high is None else clip_ratio_high
    log_ratio = logprob - old_logprob.detach()
    ratio = torch.exp(torch.clamp(log_ratio, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - low, 1.0 + high)
    loss_matrix = torch.maximum(unclipped, clipped)
    with torch.no_grad():
        clip_fraction = aggregate((clipped > unclipped).to(logprob.dtype), mask, "token-mean")
        approx_kl = aggregate(-log_ratio, mask, "token-mean")
    return PolicyLoss(aggregate(loss_matrix, mask, agg, norm_length), clip_fraction, approx_kl)


def kl_penalty(logprob: torch.Tensor, ref_logprob: torch.Tensor, kind: str = defaults.KL_KIND) -> torch.Tensor:
    """Per-token KL estimate between the policy and the reference policy, ``(B, T)``.

    ``low_var_kl`` (Schulman's k3, unbiased and non-negative): ``exp(ref - logp) - (ref - logp) - 1``,
    clamped to ``[-10, 10]``; ``kl`` (k1): ``logp - ref``; ``mse`` (k2): ``0.5 * (logp - ref)^2``;
    ``abs``: ``|logp - ref|``.
    """
    diff = logprob - ref_logprob.detach()
    if kind == "low_var_kl":
        neg = -diff
        return torch.clamp(torch.exp(neg) - neg - 1.0, -LOW_VAR_KL_CLAMP, LOW_VAR_KL_CLAMP)
    if kind == "kl":
        return diff
    if kind == "mse":
        return 0.5 * diff.square()
    if kind == "abs":
        return diff.abs()
    raise ValueError(f"unknown KL kind {kind!r} (choose from {', '.join(KL_KINDS)})")


def kl_loss(
    logprob: torch.Tensor,
    ref_logprob: torch.Tensor,
    mask: torch.Tensor,
    *,
    kind: str = defaults.KL_KIND,
    agg: str = defaults.LOSS_AGG,
    norm_length: int | None = None,
) -> torch.Tensor:
    """The KL penalty aggregated over real tokens (multiply by ``KL_COEF``, 0.01 by default, in the total loss)."""
    _check_shapes(mask, logprob, ref_logprob)
    return aggregate(kl_penalty(logprob, ref_logprob, kind), mask, agg, norm_length)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the token distribution at each position: ``(B, T, V)`` logits -> ``(B, T)`` nats."""
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    return -(log_probs.exp() * log_probs).sum(-1)


def entropy_loss(logits: torch.Tensor, mask: torch.Tensor, *, agg: str = defaults.LOSS_AGG) -> torch.Tensor:
    """Mean entropy over real tokens (subtract ``coef * entropy`` from the loss to encourage exploration)."""
    return aggregate(entropy_from_logits(logits), mask, agg)
