"""The reference trainer: a readable PPO trainer for Hugging Face causal LMs with GRPO / GiGPO / HGPO advantages.

Needs the ``train`` extra (torch, transformers). Rollouts come from a rollout provider (by default
``wrappers.rollout:collect_groups``, loaded by name so that ``hgpo_algo`` does not import the wrappers).
"""

from hgpo.trainer.config import TrainConfig

__all__ = ["TrainConfig"]
