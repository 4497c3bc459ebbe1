"""hgpo in SkyRL (extra ``skyrl``): our environments in skyrl-gym, per-step advantages in SkyRL's trainer.

* :mod:`hgpo.integrations.skyrl.env`: ``GymTextEnv`` (any Gymnasium text environment through the
  rollout wrappers as a skyrl-gym ``BaseTextEnv``), registered as ``hgpo-alfworld``, ``hgpo-webshop`` and
  ``hgpo-text`` on import (needs only ``skyrl-gym``).
* :mod:`hgpo.integrations.skyrl.advantage`: step-wise advantages for SkyRL's ``TrainingInputBatch``
  (needs the ``skyrl`` trainer package, which lives in the verl virtualenv: see README).
"""
