"""hgpo in verl (extra ``verl``): GRPO / GiGPO / HGPO step advantages over verl ``DataProto`` batches.

* :mod:`hgpo.integrations.verl.advantage`: :func:`compute_advantage` over a ``DataProto`` (reads group,
  trajectory, step and state-key columns from ``non_tensor_batch``, in our names or verl-agent's) and
  :func:`register_estimators`, which puts ``hgpo``, ``gigpo`` and ``hgpo_grpo`` into verl's
  advantage-estimator registry.
* :mod:`hgpo.integrations.verl.trainer`: the hook for verl's legacy driver loop (and verl-agent-style
  trainers), a drop-in for verl's ``compute_advantage`` that routes the hgpo names to the function above.
* :mod:`hgpo.integrations.verl.v1`: verl's v1 trainers (TransferQueue) with hgpo's step advantages,
  registered as ``trainer.v1.trainer_mode=hgpo_sync`` (and ``hgpo_colocate_async``, ``hgpo_separate_async``).
* :mod:`hgpo.integrations.verl.agent_loop`: the ``hgpo_gym_env`` agent loop, our environments step-wise
  with memory-window prompts, one sample per step; :mod:`~hgpo.integrations.verl.local_generation`
  answers its generation calls with a local model on the CPU.
* :mod:`hgpo.integrations.verl.main`: ``python -m hgpo.integrations.verl.main``, verl's ``main_ppo`` with
  all of the above registered in every Ray worker.

Nothing here is imported by ``import hgpo``; import the submodule you need.
"""
