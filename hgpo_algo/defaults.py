"""The published defaults, defined once: every estimator, loss, CLI, config and integration reads them here.

These are the settings of the HGPO paper (ICLR 2026) and of the GiGPO / verl-agent releases it builds on.
Standard library only, so any layer may import it cheaply.
"""

from __future__ import annotations

__all__ = [
    "ALPHA",
    "CLIP_RATIO",
    "CONTEXT",
    "ENTROPY_COEF",
    "EPISODE_STATS",
    "GAMMA",
    "HISTORY_LEVELS",
    "INVALID_PENALTY",
    "KL_COEF",
    "KL_KIND",
    "LOSS_AGG",
    "NORM_MODE",
    "OMEGA",
    "WEIGHT_OFFSET",
]

GAMMA = 0.95
"""Discount of the step returns."""
INVALID_PENALTY = 0.1
"""lambda: subtracted from a step's return (and its episode score) when its action could not be parsed."""
HISTORY_LEVELS = 2
"""HGPO's K, the deepest history level; also the memory window H that prompts show by default."""
ALPHA = 1.0
"""HGPO's level-weight exponent: rho_j = (j + weight_offset) ** alpha."""
WEIGHT_OFFSET = 2.0
"""HGPO's level-weight offset (2 in the released code; 1 is the paper's formula)."""
OMEGA = 1.0
"""GiGPO's weight of the step term."""
NORM_MODE = "mean_std_norm"
"""Group normalisation: ``mean_std_norm`` or ``mean_norm`` (the WebShop setting)."""
CONTEXT = "states"
"""What HGPO's history levels compare: ``states`` (the trajectory's previous states, released) or
``prompt`` (the history items the prompt showed, the records' ``prompt_keys``)."""
EPISODE_STATS = "cross_steps"
"""GRPO's episode statistics: ``cross_steps`` (released code) or ``per_trajectory``."""
CLIP_RATIO = 0.2
"""PPO's clip range epsilon."""
KL_COEF = 0.01
"""Coefficient of the KL penalty to the reference policy."""
KL_KIND = "low_var_kl"
"""KL estimator of the penalty (verl's names: ``kl``, ``abs``, ``mse``, ``low_var_kl``)."""
LOSS_AGG = "token-mean"
"""How token losses are aggregated (verl's names)."""
ENTROPY_COEF = 0.0
"""Coefficient of the entropy bonus."""
