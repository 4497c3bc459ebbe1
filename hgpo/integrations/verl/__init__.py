"""hgpo in verl (extra ``verl``): GRPO / GiGPO / HGPO step advantages over verl ``DataProto`` batches.

* :mod:`hgpo.integrations.verl.advantage`: :func:`compute_advantage` over a ``DataProto`` (reads group,
  trajectory, step and state-key columns from ``non_tensor_batch``, in our names or verl-agent's) and
  :func:`register_estimators`, which puts ``hgpo``, ``gigpo`` and ``hgpo_grpo`` into verl's
  advantage-estimator registry.
* :mod:`hgpo.integrations.verl.trainer`: the trainer hook, a drop-in for verl's ``compute_advantage`` that
  routes the hgpo names to the function above and every other estimator to verl.

Nothing here is imported by ``import hgpo``; import the submodule you need.
"""
