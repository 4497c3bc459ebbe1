"""Group-rollout throughput per backend, and the wrappers' overhead over the bare environments.

For each environment (ALFWorld on generated games; WebShop on the embedded server when its extra is
installed): collect 16 groups x 8 episodes with a random admissible policy, then replay exactly the same
actions (a) through ``collect_groups`` on each backend and (b) on bare environments (no wrappers, no
recording). Prints steps/s per backend and the share of step time spent outside the environments: the
wrapper stack (state keys, memory window, prompt rendering) and step recording. Goal: under 5%.

    python benchmarks/rollouts.py [--groups 16] [--group-size 8] [--backends sync,process,ray] [--envs alfworld,webshop]
                                  [--alfworld-engines native,textworld]
    python benchmarks/rollouts.py --overhead [--repeats 7] [--groups 16] [--group-size 8] [--data ../shared/data/alfworld]

``--alfworld-engines`` runs the ALFWorld rows once per engine (same seeds, same recorded actions), so the
engines' rollout throughput is compared in one run.

``--overhead`` measures the wrapper stack's cost per step on ALFWorld (native engine by default; real
valid_seen games when ``--data`` holds them, else generated games): the same seeded random admissible
episodes are played, in interleaved repeats, by (1) bare ``gym.make`` environments, (2) the wrapper stack
``StepRecorder(ActionParser(MemoryWindow(StateKey(env))))`` with tagged model-style actions, stepped in the
same lockstep order, (3) ``collect_groups`` on the sync backend with ``parse_actions=True`` (the stack plus
the rollout loop, from the policy's first call, when every environment is built and reset, to the records'
return, less the policy's own calls), (4) ``Transcript`` environments that replay the recorded transitions
at almost no cost and (5) the stack over them: its excess over (4) is the wrappers' cost on their own,
without an engine stepping in between (which evicts their code and data from the CPU caches). Times are this
process's CPU time (``time.process_time``), so that other jobs on a shared machine weigh less than on a wall
clock, and include closing the environments and Python's garbage collections (``--no-gc``: collections off
while an arm runs, and one between arms, to tell the wrappers' own work from the collections of the records
they keep). Prints, per arm, the median microseconds per step over the repeats and the median over repeats
of its excess over the bare environments of the same repeat (the stack on transcripts: over the
transcripts), in microseconds and as a share of the bare ``gym.make`` step.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# benchmarks/alfworld.py would shadow the `alfworld` package for scripts run from this folder
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import gymnasium as gym  # noqa: E402

import hgpo_envs  # noqa: E402, F401  (registers the environment ids)
from wrappers import ActionParser, MemoryWindow, StateKey, StepRecorder, collect_groups, task_seeds  # noqa: E402
from wrappers.policies import RandomAdmissible  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "alfworld"

ENVS = {
    "alfworld": ("hgpo/ALFWorld-v0", {}),
    "webshop": ("hgpo/WebShop-v0", {}),
}


class Replay:
    """A policy that replays recorded actions by (episode, step): no cost of its own.

    ``tagged=True`` answers as a model would, ``<think>...</think><action>...</action>`` (for ``ActionParser``).
    """

    def __init__(self, records: list[dict[str, Any]], tagged: bool = False) -> None:
        self.actions = {(r["traj_id"], r["step"]): tag(r["action"]) if tagged else r["action"] for r in records}

    def __call__(self, prompts: list[str], infos: list[dict[str, Any]]) -> list[str]:
        return [self.actions[(i["episode"], i["step_count"])] for i in infos]


class TimedReplay(Replay):
    """A :class:`Replay` that notes the CPU time (s) of its first call and the CPU time of its own calls."""

    def __init__(self, records: list[dict[str, Any]], tagged: bool = False) -> None:
        super().__init__(records, tagged)
        self.started: float | None = None
        self.own = 0.0

    def __call__(self, prompts: list[str], infos: list[dict[str, Any]]) -> list[str]:
        t0 = time.process_time()
        if self.started is None:
            self.started = t0
        actions = super().__call__(prompts, infos)
        self.own += time.process_time() - t0
        return actions


def bare_env_seconds(env_id: str, env_kwargs: dict, records: list[dict[str, Any]], seed: int, n_groups: int) -> float:
    """Seconds spent in ``step`` of plain ``gym.make`` environments playing the recorded episodes.

    Mirrors ``collect_groups``: one environment per episode, all reset first, then stepped in lockstep
    rounds in the same order, so both runs ask the environments for exactly the same work (an environment
    reused across episodes of one game would enjoy warm caches that the rollout's environments do not).
    """
    seeds = task_seeds(seed, n_groups)
    episodes = episode_actions(records)
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


def tag(action: str) -> str:
    """``action`` as tagged model output."""
    return f"<think>replayed</think><action>{action}</action>"


def episode_actions(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each episode's actions in step order, by ``traj_id``, in record order (group, member)."""
    episodes: dict[str, list[str]] = {}
    for r in records:
        episodes.setdefault(r["traj_id"], []).append(r["action"])
    return episodes


class Transcript(gym.Env):
    """Replays one episode's recorded transitions, whatever the action: an environment that costs ~nothing,
    so a wrapper stack over it measures the wrappers alone. Declares the recorded environment's metadata
    (its prompt template)."""

    def __init__(self, metadata: dict[str, Any], transitions: list[tuple]) -> None:
        self.metadata = metadata
        self.transitions = transitions  # [(observation, info), (observation, reward, terminated, truncated, info), ...]
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        self.t = 0
        observation, info = self.transitions[0]
        return observation, dict(info)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self.t += 1
        observation, reward, terminated, truncated, info = self.transitions[self.t]
        return observation, reward, terminated, truncated, dict(info)


def record_transitions(env_id: str, env_kwargs: dict, episodes: dict[str, list[str]],
                       seeds: list[int]) -> tuple[dict[str, Any], dict[str, list[tuple]]]:
    """The environment's metadata and, per episode, its reset and step results when playing ``episodes``."""
    transcripts, metadata = {}, {}
    for traj_id, actions in episodes.items():
        env = gym.make(env_id, **env_kwargs)
        metadata = env.unwrapped.metadata
        transcripts[traj_id] = [env.reset(seed=seeds[int(traj_id.split("-")[0])])]
        transcripts[traj_id] += [env.step(action) for action in actions]
        env.close()
    return metadata, transcripts


def lockstep_cpu(make: Callable[[str], gym.Env], episodes: dict[str, list[str]], seeds: list[int],
                 wrapped: bool) -> float:
    """CPU seconds to play ``episodes`` in ``collect_groups``'s lockstep order and close the environments.

    One environment per episode (``make(traj_id)``), all built and reset first (not timed). ``wrapped``:
    each is the stack ``StepRecorder(ActionParser(MemoryWindow(StateKey(env))))`` recording in memory, and
    gets tagged actions.
    """
    envs = {}
    for traj_id in episodes:
        group = int(traj_id.split("-")[0])
        env = make(traj_id)
        if wrapped:
            env = StepRecorder(ActionParser(MemoryWindow(StateKey(env))), group_id=group, traj_id=traj_id)
        env.reset(seed=seeds[group])
        envs[traj_id] = env
    plays = {t: [tag(a) for a in actions] if wrapped else actions for t, actions in episodes.items()}
    t0 = time.process_time()
    for t in range(max(len(actions) for actions in plays.values())):
        for traj_id, actions in plays.items():
            if t < len(actions):
                envs[traj_id].step(actions[t])
    for env in envs.values():
        env.close()
    return time.process_time() - t0


def rollout_cpu(env_id: str, env_kwargs: dict, records: list[dict[str, Any]], args: argparse.Namespace) -> float:
    """CPU seconds of ``collect_groups`` (sync, parsing actions) replaying ``records``, after startup and
    without the policy's calls."""
    replay = TimedReplay(records, tagged=True)
    collect_groups(env_id, replay, args.groups, args.group_size, seed=args.seed, env_kwargs=env_kwargs,
                   parse_actions=True, progress=False)
    end = time.process_time()
    return end - replay.started - replay.own  # type: ignore[operator]  # the policy was called


def measure_overhead(args: argparse.Namespace) -> None:
    """The wrapper stack's cost per step against bare environments: interleaved repeats, medians."""
    env_id, env_kwargs = "hgpo/ALFWorld-v0", {"engine": args.engine}
    if (Path(args.data) / "games" / "valid_seen.jsonl.gz").is_file():
        env_kwargs.update(data_dir=str(args.data), split="eval_in_distribution")
        games = f"real valid_seen games ({args.data})"
    else:
        games = "generated games"
    records = collect_groups(env_id, RandomAdmissible(args.seed), args.groups, args.group_size, seed=args.seed,
                             env_kwargs=env_kwargs, progress=False, include=("action",))
    episodes, seeds = episode_actions(records), task_seeds(args.seed, args.groups)
    n_steps = len(records)

    def make(traj_id: str) -> gym.Env:
        return gym.make(env_id, **env_kwargs)

    def on_transcripts(wrapped: bool) -> float:
        # recorded anew for the arm and dropped after it: kept, they would weigh on every arm's collections
        metadata, transcripts = record_transitions(env_id, env_kwargs, episodes, seeds)
        return lockstep_cpu(lambda t: Transcript(metadata, transcripts[t]), episodes, seeds, wrapped=wrapped)

    arms = {
        "bare gym.make": lambda: lockstep_cpu(make, episodes, seeds, wrapped=False),
        "wrapper stack": lambda: lockstep_cpu(make, episodes, seeds, wrapped=True),
        "collect_groups": lambda: rollout_cpu(env_id, env_kwargs, records, args),
        "transcripts": lambda: on_transcripts(wrapped=False),
        "stack on them": lambda: on_transcripts(wrapped=True),
    }
    baseline = {"transcripts": "transcripts", "stack on them": "transcripts"}  # the others: bare gym.make
    print(f"ALFWorld ({args.engine} engine), {games}: {args.groups} groups x {args.group_size} episodes, "
          f"{n_steps} steps of seeded random admissible actions, {args.repeats} interleaved repeats (+1 warm-up)"
          f"{', garbage collection off' if args.no_gc else ''}")
    us: dict[str, list[float]] = {name: [] for name in arms}
    names = list(arms)
    for r in range(args.repeats + 1):
        for name in names if r % 2 else names[::-1]:  # alternate the order, so drift hits every arm alike
            gc.collect()
            if args.no_gc:
                gc.disable()
            try:
                seconds = arms[name]()
            finally:
                gc.enable()
            if r > 0:
                us[name].append(1e6 * seconds / n_steps)
    bare = us["bare gym.make"]
    print(f"\n{'arm (CPU time)':<18}{'us/step':>10}{'+us/step':>10}{'+% of bare':>12}")
    for name, values in us.items():
        base = us[baseline.get(name, "bare gym.make")]
        extra = [v - b for v, b in zip(values, base, strict=True)]
        share = [100 * x / b for x, b in zip(extra, bare, strict=True)]
        print(f"{name:<18}{statistics.median(values):>10.1f}{statistics.median(extra):>10.1f}"
              f"{statistics.median(share):>11.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=16)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--backends", default="sync,process,ray")
    parser.add_argument("--envs", default="alfworld,webshop")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alfworld-engines", default="native", help="comma-separated: native, textworld")
    parser.add_argument("--overhead", action="store_true", help="measure the wrapper stack's cost per step")
    parser.add_argument("--repeats", type=int, default=7, help="--overhead: timed repeats of each arm")
    parser.add_argument("--engine", default="native", help="--overhead: the ALFWorld engine")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="--overhead: ALFWorld data (packed games)")
    parser.add_argument("--no-gc", action="store_true", help="--overhead: garbage collection off in the arms")
    args = parser.parse_args()
    if args.overhead:
        measure_overhead(args)
        return
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
