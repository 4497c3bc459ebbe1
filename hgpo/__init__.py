"""The application layer of hgpo: the ``hgpo`` command, the demo, the reference trainer and integrations.

Everything below it is a library: ``hgpo_algo`` (step records and estimators), ``wrappers`` (generic
Gymnasium wrappers and group rollouts), ``hgpo_envs`` (the environments) and ``servers`` (the WebShop
server). This package wires them together; nothing below imports it.
"""
