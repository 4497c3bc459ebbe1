"""Group-rollout throughput per backend, and the wrappers' overhead over the bare environments.

For each environment (ALFWorld on generated games; WebShop on the embedded server when its extra is
installed): collect 16 groups x 8 episodes with a random admissible policy, then replay exactly the same
actions (a) through ``collect_groups`` on each backend and (b) on bare environments (no wrappers, no
recording). Prints steps/s per backend and the share of step time spent outside the environments: the
wrapper stack (state keys, memory window, prompt rendering) and step recording. Goal: under 5%.

    python benchmarks/rollouts.py [--groups 16] [--group-size 8] [--backends sync,process,ray] [--envs alfworld,webshop]
                                  [--alfworld-engines native,textworld]

``--alfworld-engines`` runs the ALFWorld rows once per engine (same seeds, same recorded actions), so the
engines' rollout throughput is compared in one run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

# benchmarks/alfworld.py would shadow the `alfworld` package for scripts run from this folder
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import gymnasium as gym  # noqa: E402

import hgpo_envs  # noqa: E402, F401  (registers the environment ids)
from wrappers import collect_groups, task_seeds  # noqa: E402
from wrappers.policies import RandomAdmissible  # noqa: E402

ENVS = {
    "alfworld": ("hgpo/ALFWorld-v0", {}),
    "webshop": ("hgpo/WebShop-v0", {}),
}


class Replay:
    """A policy that replays recorded actions by (episode, step): no cost of its own."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.actions = {(r["traj_id"], r["step"]): r["action"] for r in records}

    def __call__(self, prompts: list[str], infos: list[dict[str, Any]]) -> list[str]:
        return [self.actions[(i["episode"], i["step_count"])] for i in infos]


def bare_env_seconds(env_id: str, env_kwargs: dict, records: list[dict[str, Any]], seed: int, n_groups: int) -> float:
    """Seconds spent in ``step`` of plain ``gym.make`` environments playing the recorded episodes.

    Mirrors ``collect_groups``: one environment per episode, all reset first, then stepped in lockstep
    rounds in the same order, so both runs ask the environments for exactly the same work (an environment
    reused across episodes of one game would enjoy warm caches that the rollout's environments do not).
    """
    seeds = task_seeds(seed, n_groups)
    episodes: dict[str, list[str]] = {}
    for r in records:
        episodes.setdefault(r["traj_id"], []).append(r["action"])
    envs = {}
    for traj_id in episodes:
        envs[traj_id] = gym.make(env_id, **env_kwargs)
        envs[traj_id].reset(seed=seeds[int(traj_id.split("-")[0])])
    total = 0.0
    for t in range(max(len(actions) for actions in episodes.values())):
        for traj_id, actions in episodes.items():
            if t < len(actions):
                t0 = time.perf_counter()
                envs[traj_id].step(actions[t])
                total += time.perf_counter() - t0
    for env in envs.values():
        env.close()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=16)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--backends", default="sync,process,ray")
    parser.add_argument("--envs", default="alfworld,webshop")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alfworld-engines", default="native", help="comma-separated: native, textworld")
    args = parser.parse_args()
    backends = args.backends.split(",")

    print(f"{args.groups} groups x {args.group_size} episodes, random admissible actions, replayed on each backend")
    print(f"\n{'env':<20}{'backend':<10}{'steps':>7}{'wall s':>9}{'steps/s':>10}{'start s':>9}")
    runs = []
    for name in args.envs.split(","):
        env_id, env_kwargs = ENVS[name]
        if name == "alfworld":
            runs += [(f"alfworld/{e}", env_id, {**env_kwargs, "engine": e}) for e in args.alfworld_engines.split(",")]
        else:
            runs.append((name, env_id, env_kwargs))
    for name, env_id, env_kwargs in runs:
        try:
            gym.spec(env_id)
        except gym.error.Error as exc:
            print(f"{name:<20}skipped: {exc}")
            continue
        records = collect_groups(
            env_id, RandomAdmissible(args.seed), args.groups, args.group_size, seed=args.seed,
            env_kwargs=env_kwargs, progress=False, include=("action",),
        )
        replay = Replay(records)
        sync_env_time = None
        for backend in backends:
            if backend == "ray":
                try:
                    import ray

                    if not ray.is_initialized():
                        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
                except ImportError:
                    print(f"{name:<20}{backend:<10}skipped: ray is not installed")
                    continue
            stats: dict[str, float] = {}
            t0 = time.perf_counter()
            again = collect_groups(
                env_id, replay, args.groups, args.group_size, backend=backend, seed=args.seed,
                env_kwargs=env_kwargs, progress=False, include=("action",), stats=stats,
            )
            wall = time.perf_counter() - t0
            assert [r["state_key"] for r in again] == [r["state_key"] for r in records], "replay diverged"
            print(f"{name:<20}{backend:<10}{len(again):>7}{wall:>9.2f}{len(again) / stats['env']:>10.0f}{stats['start']:>9.2f}")
            if backend == "sync":
                sync_env_time = stats["env"]
        if sync_env_time is not None:
            bare = bare_env_seconds(env_id, env_kwargs, records, args.seed, args.groups)
            overhead = (sync_env_time - bare) / bare
            goal = "met" if overhead < 0.05 else "NOT met"
            print(f"{name:<20}bare environments: {bare:.2f} s for the same steps; wrappers + recording add "
                  f"{100 * overhead:.1f}% (goal < 5%: {goal})")


if __name__ == "__main__":
    main()
