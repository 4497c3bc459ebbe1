"""The trainer hook: verl's ``compute_advantage`` with the hgpo estimators routed to our ``DataProto`` path.

verl's PPO driver loop (``verl.trainer.ppo.ray_trainer.RayPPOTrainer.fit``, the ``trainer.use_v1=False``
path of verl 0.9) calls the module-level ``compute_advantage(batch, adv_estimator=..., gamma=..., ...,
config=config.algorithm)`` on the whole ``DataProto``. :func:`compute_advantage` has the same signature:
for the names in :data:`~hgpo.integrations.verl.advantage.VERL_NAMES` (``hgpo``, ``gigpo``,
``hgpo_grpo``) it runs :func:`hgpo.integrations.verl.advantage.compute_advantage` with verl's ``gamma``
and the ``algorithm.<name>`` options; any other estimator goes to verl's own function unchanged.
:func:`install_hook` puts it in place of verl's (the one function override; the trainer class is
untouched), so ``algorithm.adv_estimator=hgpo`` is all a run needs.
"""

from __future__ import annotations

from typing import Any

from hgpo.integrations.verl import advantage

__all__ = ["compute_advantage", "install_hook", "uninstall_hook", "verl_compute_advantage"]

_ORIGINAL: dict[str, Any] = {}


def verl_compute_advantage() -> Any:
    """verl's own ``compute_advantage`` (the one :func:`install_hook` replaces)."""
    from verl.trainer.ppo import ray_trainer

    fn = ray_trainer.compute_advantage
    return _ORIGINAL["fn"] if fn is compute_advantage else fn


def compute_advantage(
    data: Any,
    adv_estimator: Any,
    gamma: float = 1.0,
    lam: float = 1.0,
    num_repeat: int = 1,
    norm_adv_by_std_in_grpo: bool = True,
    config: Any = None,
) -> Any:
    """Drop-in for ``verl.trainer.ppo.ray_trainer.compute_advantage`` (same arguments, same return).

    ``gamma`` is verl's ``algorithm.gamma`` (the recipe sets 0.95); ``lam``, ``num_repeat`` and
    ``norm_adv_by_std_in_grpo`` only matter to verl's estimators (ours take ``mode`` from
    ``algorithm.<name>.mode``).
    """
    name = str(getattr(adv_estimator, "value", adv_estimator))
    if name in advantage.VERL_NAMES:
        options = advantage.options_from_config(config, name)
        options["gamma"] = float(gamma)
        return advantage.compute_advantage(data, name, **options)
    return verl_compute_advantage()(
        data,
        adv_estimator=adv_estimator,
        gamma=gamma,
        lam=lam,
        num_repeat=num_repeat,
        norm_adv_by_std_in_grpo=norm_adv_by_std_in_grpo,
        config=config,
    )


def install_hook() -> None:
    """Route verl's driver-side ``compute_advantage`` through :func:`compute_advantage` (idempotent).

    Also registers the hgpo names in verl's estimator registry, so verl's config checks accept them.
    Call it in the process that runs the trainer's ``fit`` (the Ray driver task), before ``fit``.
    """
    from verl.trainer.ppo import ray_trainer

    advantage.register_estimators()
    if ray_trainer.compute_advantage is not compute_advantage:
        _ORIGINAL["fn"] = ray_trainer.compute_advantage
        ray_trainer.compute_advantage = compute_advantage


def uninstall_hook() -> None:
    """Put verl's own ``compute_advantage`` back."""
    from verl.trainer.ppo import ray_trainer

    if "fn" in _ORIGINAL:
        ray_trainer.compute_advantage = _ORIGINAL.pop("fn")
