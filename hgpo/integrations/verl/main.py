"""``python -m hgpo.integrations.verl.main``: verl's ``main_ppo`` with hgpo registered in every process.

verl runs its trainer, agent loops and workers as Ray actors in processes of their own, so the hgpo names
must be registered in each of them: :func:`setup_worker` (the ``worker_process_setup_hook`` the recipe
puts in ``ray_kwargs.ray_init.runtime_env``) imports the agent loop (``hgpo_gym_env``), the v1 trainer
modes (``hgpo_sync``, ...) and the estimators, and installs the legacy trainer hook. Every command-line
argument is verl's (Hydra): ``--config-path``, ``--config-name`` and ``key=value`` overrides.
"""

from __future__ import annotations

__all__ = ["SETUP_HOOK", "main", "setup_worker"]

SETUP_HOOK = f"{__name__}.setup_worker"


def setup_worker() -> None:
    """Register hgpo's agent loop, v1 trainer modes and estimators in this process (idempotent)."""
    from hgpo.integrations.verl import agent_loop, trainer, v1  # noqa: F401  (their imports register)

    trainer.install_hook()


def main() -> None:
    """verl's Hydra entry point (``verl.trainer.main_ppo.main``) after :func:`setup_worker`."""
    setup_worker()
    from verl.trainer.main_ppo import main as verl_main

    verl_main()


if __name__ == "__main__":
    main()
