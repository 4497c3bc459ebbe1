"""CPU-scale study of the HGPO claim: do context-consistent groups give better step advantages, and better learning?

Two parts, on generated ALFWorld ``pick_and_place_simple`` games with easy difficulty knobs (4 receptacles,
0-1 distractor, no closed container: a 4-command walkthrough):

1. Estimator quality. A fixed stochastic policy (a noisy expert: the walkthrough's next command with
   probability ``1 - eps``, else a uniform admissible command; after a detour it walks back to the last
   ``go to`` of the walkthrough). Because the engine is deterministic, each game's transition graph within
   the horizon is explored once by replaying action prefixes from the reset, and the true advantage of
   every decision, ``A*(s, k, t, a) = Q(s, k, t, a) - V(s, k, t)`` (s = the engine state, k = the policy's
   walkthrough pointer, t = the step), is computed *exactly* by dynamic programming over that graph: the
   limit of infinitely many Monte Carlo rollouts. Groups of N rollouts are then sampled and GRPO, GiGPO and
   HGPO (K = 1, 2, 4; alpha = 0, 1, 2) are computed on them with ``hgpo_algo.compute_advantages``; their
   per-step advantages are compared with ``A*``: bias^2, variance and MSE per (decision, action) cell in
   return units (``mode="mean_norm"``), and correlation / sign agreement under the training default
   (``mean_std_norm``), for N = 4, 8, 16.
2. Learning. ``HGPOMaskablePPO`` (the sb3-contrib adapter) trained with GRPO, GiGPO and HGPO (K=2, alpha=1)
   on training games, equal environment-step budgets, several seeds; success on held-out games (another
   generator seed) evaluated along the way. Curves with 95% confidence intervals, a table, plots.

    python benchmarks/study.py            # the full study (about 25 minutes on 2 cores)
    python benchmarks/study.py --quick    # a smoke run (about 2 minutes)

Writes ``docs/study/*.json`` (raw numbers), ``docs/study/*.png`` (plots) and ``docs/study/tables.md``
(the tables that ``docs/results.md`` reports).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
# benchmarks/alfworld.py would shadow the `alfworld` package (which holds the game logic): drop this folder.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hgpo_algo import compute_advantages  # noqa: E402
from hgpo_algo.state_keys import text_state_key  # noqa: E402

GAMMA = 0.95
EASY = {"receptacles": (4, 4), "distractors": (0, 1), "closed_containers": (0, 0), "target_copies": (0, 0)}
TASK_TYPE = "pick_and_place_simple"


@dataclass
class StudyConfig:
    """Sizes of both parts; ``quick()`` is the smoke-test setting."""

    # part 1
    games: int = 3
    horizon: int = 6
    epsilon: float = 0.3
    group_sizes: tuple[int, ...] = (4, 8, 16)
    replicates: int = 400
    # part 2
    train_games: int = 16
    eval_games: int = 16
    seeds: tuple[int, ...] = (0, 1, 2)
    timesteps: int = 15_000
    eval_every: int = 2_500
    eval_episodes_per_game: int = 2
    max_episode_steps: int = 15
    group_size: int = 8
    n_groups: int = 4
    learning_rate: float = 3e-3
    workers: int = 2
    out_dir: str = "docs/study"
    estimators: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "grpo": {}, "gigpo": {}, "hgpo": {"K": 2, "alpha": 1.0}})

    @classmethod
    def quick(cls) -> StudyConfig:
        return cls(games=1, horizon=5, group_sizes=(4, 8), replicates=40, train_games=4, eval_games=4,
                   seeds=(0,), timesteps=1_500, eval_every=750, eval_episodes_per_game=1, max_episode_steps=10,
                   n_groups=2, out_dir="out/study-quick")


# ---------------------------------------------------------------------------------------------------------
# games
def make_games(path: Path, n: int, seed: int) -> Path:
    """Write ``n`` easy generated games (generator ``seed``) to a packed file, once."""
    if path.is_file():
        return path
    from hgpo_envs.alfworld.gameset import write_packed
    from hgpo_envs.alfworld.generator import GeneratorConfig, generate_games

    path.parent.mkdir(parents=True, exist_ok=True)
    write_packed(generate_games(n, seed=seed, task_types=[TASK_TYPE], config=GeneratorConfig(**EASY)), path)
    return path


def alfworld(path: Path, max_episode_steps: int | None):
    import gymnasium as gym

    import hgpo_envs  # noqa: F401 - registers hgpo/ALFWorld-v0

    return gym.make("hgpo/ALFWorld-v0", data_dir=str(path), max_episode_steps=max_episode_steps)


# ---------------------------------------------------------------------------------------------------------
# part 1: the transition graph, the policy and the exact advantages
@dataclass
class GameGraph:
    """The deterministic transitions of one game reachable within ``horizon`` steps.

    Nodes are engine states (the set of true facts); ``edges[node][command] = (child, reward, obs_key, won)``;
    ``admissible[node]`` the sorted admissible commands; ``root_key`` the reset observation's key.
    """

    plan: list[str]
    root: int
    root_key: str
    admissible: dict[int, list[str]]
    edges: dict[int, dict[str, tuple[int, float, str, bool]]]
    env_steps: int


def explore_game(path: Path, game_index: int, horizon: int) -> GameGraph:
    """Breadth-first exploration of the deterministic environment: each state is expanded by restoring its
    copy (``get_state``/``set_state``, O(1)) and trying every admissible command once."""
    env = alfworld(path, None).unwrapped
    ids: dict[frozenset, int] = {}

    def node_id() -> int:
        facts = env.get_state().engine_state.facts  # the native engine's true facts: the state's identity
        return ids.setdefault(facts, len(ids))

    _, info = env.reset(options={"game_index": game_index})
    root, root_key, plan = node_id(), info["state_key"], list(info["expert_plan"])
    admissible: dict[int, list[str]] = {root: list(info["admissible_commands"])}
    edges: dict[int, dict[str, tuple[int, float, str, bool]]] = {}
    queue: deque[tuple[int, object, int]] = deque([(root, env.get_state(), 0)])
    steps = 0
    while queue:
        node, saved, depth = queue.popleft()
        if node in edges or depth >= horizon:
            continue
        edges[node] = {}
        for command in admissible[node]:
            env.set_state(saved)
            _, reward, won, _, info = env.step(command)
            steps += 1
            child = node_id()
            edges[node][command] = (child, float(reward), info["state_key"], bool(won))
            if child not in admissible:
                admissible[child] = list(info["admissible_commands"])
                if not won:
                    queue.append((child, env.get_state(), depth + 1))
    env.close()
    return GameGraph(plan, root, root_key, admissible, edges, steps)


def policy_probs(graph: GameGraph, node: int, k: int, epsilon: float) -> tuple[list[str], np.ndarray]:
    """The noisy expert at (node, pointer k): ``(commands, probabilities)``."""
    commands = graph.admissible[node]
    probs = np.full(len(commands), epsilon / len(commands))
    target = None
    if k < len(graph.plan) and graph.plan[k] in commands:
        target = graph.plan[k]
    else:
        for command in reversed(graph.plan[:k]):
            if command.startswith("go to ") and command in commands:
                target = command
                break
    if target is None:
        probs[:] = 1.0 / len(commands)
    else:
        probs[commands.index(target)] += 1.0 - epsilon
    return commands, probs


def next_pointer(graph: GameGraph, k: int, command: str) -> int:
    return k + 1 if k < len(graph.plan) and command == graph.plan[k] else k


class ExactValues:
    """Exact ``V(node, k, t)`` and ``Q(node, k, t, command)`` of the noisy expert, truncated at ``horizon``.

    Memoised recursion over the explored graph: ``V = sum_a pi(a) Q(a)``, ``Q = r + gamma * V(child)`` (0 after a
    win or at the horizon), the same discounted return the estimators' ``Ghat`` uses.
    """

    def __init__(self, graph: GameGraph, horizon: int, epsilon: float) -> None:
        self.graph, self.horizon, self.epsilon = graph, horizon, epsilon
        self.memo: dict[tuple[int, int, int], float] = {}
        sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))

    def v(self, node: int, k: int, t: int) -> float:
        if t >= self.horizon:
            return 0.0
        key = (node, k, t)
        if key not in self.memo:
            commands, probs = policy_probs(self.graph, node, k, self.epsilon)
            self.memo[key] = float(sum(p * self.q(node, k, t, c) for c, p in zip(commands, probs, strict=True)))
        return self.memo[key]

    def q(self, node: int, k: int, t: int, command: str) -> float:
        child, reward, _, won = self.graph.edges[node][command]
        if won or t + 1 >= self.horizon:
            return reward
        return reward + GAMMA * self.v(child, next_pointer(self.graph, k, command), t + 1)


#: The memories of part 1's extra rows: what a prompt shows of the steps taken, as wrappers.memories do.
MEMORIES = ("window", "actions", "full")


def memory_prompt_keys(shown: list[tuple[int, str, str]]) -> dict[str, list[str]]:
    """``prompt_keys`` under each memory: one key per history item the prompt would show, of its text.

    ``window``: the last 2 (observation, action) items; ``actions``: the last 2 actions only; ``full``: every
    item. An item's text names its step number, observation (its state key stands for the text, one to
    one) and action, as the wrappers' templates render them.
    """
    window = [text_state_key(f"[step {i}] observation: {key}\n[step {i}] action: {c}") for i, key, c in shown]
    return {
        "prompt_window": window[-2:],
        "prompt_actions": [text_state_key(f"[step {i}] {c}") for i, _, c in shown][-2:],
        "prompt_full": window,
    }


def sample_groups(graph: GameGraph, values: ExactValues, game: int, n_groups: int, group_size: int, horizon: int,
                  epsilon: float, rng: np.random.Generator, first_group: int) -> list[dict[str, Any]]:
    """Step records of ``n_groups`` groups of ``group_size`` rollouts, each with its exact ``true_advantage``."""
    records = []
    for g in range(n_groups):
        for i in range(group_size):
            node, k, key = graph.root, 0, graph.root_key
            keys: list[str] = []
            shown: list[tuple[int, str, str]] = []  # (step number, state key, command) of the steps taken
            for t in range(horizon):
                commands, probs = policy_probs(graph, node, k, epsilon)
                command = commands[int(rng.choice(len(commands), p=probs))]
                child, reward, next_key, won = graph.edges[node][command]
                records.append({
                    "group_id": first_group + g, "traj_id": f"{first_group + g}-{i}", "step": t, "state_key": key,
                    "reward": reward, "invalid": False, "true_advantage": values.q(node, k, t, command) - values.v(node, k, t),
                    "cell": f"{game}|{node}|{k}|{t}|{command}",
                    "window_cell": f"{game}|{'|'.join(keys[-2:])}|{key}|{command}",
                    **memory_prompt_keys(shown),
                })
                keys.append(key)
                shown.append((t + 1, key, command))
                node, k, key = child, next_pointer(graph, k, command), next_key
                if won:
                    break
    return records


def _cell_stats(adv: np.ndarray, truth: np.ndarray, cells: np.ndarray) -> dict[str, float]:
    """Bias^2 and variance of per-step advantages against the truth, per cell, averaged over steps.

    A cell is one decision (and its action); its truth is the mean of ``truth`` over its steps. Over the
    cells with 2+ steps: ``variance`` = the sample variance (n-1) of the advantages within the cell and
    ``bias2`` = (cell mean - cell truth)^2 - variance / n (unbiased: the squared error of a mean of n
    draws overstates the squared bias by var/n); both weighted by the cell's number of steps. ``mse`` =
    mean squared error over all steps.
    """
    _, inverse, counts = np.unique(cells, return_inverse=True, return_counts=True)
    mean_adv = np.bincount(inverse, adv) / counts
    mean_truth = np.bincount(inverse, truth) / counts
    sq = np.bincount(inverse, (adv - mean_adv[inverse]) ** 2)
    keep = counts >= 2
    var_c = sq[keep] / (counts[keep] - 1)
    bias2_c = (mean_adv[keep] - mean_truth[keep]) ** 2 - var_c / counts[keep]
    w = counts[keep] / counts[keep].sum()
    return {"bias2": float(w @ bias2_c), "variance": float(w @ var_c), "mse": float(np.mean((adv - truth) ** 2)),
            "cells": int(keep.sum())}


def estimator_grid() -> dict[str, tuple[str, dict[str, Any]]]:
    grid: dict[str, tuple[str, dict[str, Any]]] = {"GRPO": ("grpo", {}), "GiGPO": ("gigpo", {})}
    grid["HGPO K=0 (GiGPO step term)"] = ("hgpo", {"K": 0})
    for K in (1, 2, 4):
        for alpha in (0.0, 1.0, 2.0):
            grid[f"HGPO K={K} a={alpha:g}"] = ("hgpo", {"K": K, "alpha": alpha})
    return grid


def run_estimator_quality(cfg: StudyConfig, games_path: Path, bar: tqdm) -> dict[str, Any]:

    rng = np.random.default_rng(12345)
    graphs, values = [], []
    for g in range(cfg.games):
        t0 = time.time()
        graph = explore_game(games_path, g, cfg.horizon)
        graphs.append(graph)
        values.append(ExactValues(graph, cfg.horizon, cfg.epsilon))
        bar.set_postfix_str(f"game {g}: {len(graph.edges)} states, {graph.env_steps} env steps, {time.time() - t0:.0f}s")
        bar.update(1)
    results: dict[str, Any] = {"games": [
        {"plan": gr.plan, "states": len(gr.edges), "edges": sum(map(len, gr.edges.values())),
         "root_value": values[i].v(gr.root, 0, 0)} for i, gr in enumerate(graphs)]}
    rows = []
    for n in cfg.group_sizes:
        records: list[dict[str, Any]] = []
        for g, (graph, vals) in enumerate(zip(graphs, values, strict=True)):
            records += sample_groups(graph, vals, g, cfg.replicates, n, cfg.horizon, cfg.epsilon, rng,
                                     first_group=g * cfg.replicates)
        truth = np.array([r["true_advantage"] for r in records])
        cells = np.array([r["cell"] for r in records])
        wcells = np.array([r["window_cell"] for r in records])
        wins = defaultdict(float)
        for r in records:
            wins[r["traj_id"]] += r["reward"]
        success = float(np.mean(list(wins.values())))
        for name, (est, opts) in estimator_grid().items():
            rows.append({"N": n, "estimator": name, "steps": len(records), "success_rate": success,
                         **quality_stats(records, est, opts, truth, cells, wcells)})
            bar.update(1)
        for memory in MEMORIES:  # HGPO K=2 a=1 grouped by states, and by each memory's prompt
            shown = [{**r, "prompt_keys": r[f"prompt_{memory}"]} for r in records]
            for context in ("states", "prompt"):
                opts = {"K": 2, "alpha": 1.0, "context": context}
                rows.append({"N": n, "estimator": f"HGPO K=2 a=1, {memory} memory, context={context}",
                             "memory": memory, "context": context, "steps": len(records), "success_rate": success,
                             **quality_stats(shown, "hgpo", opts, truth, cells, wcells)})
    results["rows"] = rows
    return results


def quality_stats(records: list[dict[str, Any]], estimator: str, options: dict[str, Any], truth: np.ndarray,
                  cells: np.ndarray, wcells: np.ndarray) -> dict[str, float]:
    """One estimator against the exact advantages: cell bias² and variance (``mean_norm`` units), their
    window-cell bias², and (``mean_std_norm``) the correlation, sign agreement and share of zeros."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = compute_advantages(records, estimator, mode="mean_norm", **options).advantages
        norm = compute_advantages(records, estimator, **options).advantages
    stats: dict[str, float] = dict(_cell_stats(raw, truth, cells))
    w = _cell_stats(raw, truth, wcells)
    stats["window_bias2"], stats["window_variance"] = w["bias2"], w["variance"]
    informative = (np.abs(truth) > 1e-3) & (norm != 0)
    stats["corr"] = float(np.corrcoef(norm, truth)[0, 1]) if norm.std() > 0 else 0.0
    stats["sign_agreement"] = float(np.mean(np.sign(norm[informative]) == np.sign(truth[informative])))
    stats["zero_fraction"] = float(np.mean(norm == 0))
    return stats


# ---------------------------------------------------------------------------------------------------------
# part 2: learning with the sb3 adapter
def train_one(args: tuple[str, dict[str, Any], int, dict[str, Any], str, str]) -> dict[str, Any]:
    """One training run: returns the eval curve and the training-rollout curve."""
    name, options, seed, cfg_dict, train_path, eval_path = args
    import torch

    torch.set_num_threads(1)
    from hgpo.integrations.sb3 import HGPOMaskablePPO, TextCommandEnv, evaluate_success
    from hgpo.integrations.text_encoding import HashingTextEncoder

    cfg = StudyConfig(**{k: v for k, v in cfg_dict.items() if k != "estimators"})

    def env(path: str) -> TextCommandEnv:
        return TextCommandEnv(alfworld(Path(path), cfg.max_episode_steps), HashingTextEncoder(64), max_actions=32,
                              history_length=2)

    eval_env = env(eval_path)
    resets = [{"options": {"game_index": i}} for i in range(cfg.eval_games)] * cfg.eval_episodes_per_game
    model = HGPOMaskablePPO(env(train_path), estimator=name, estimator_options=options, group_size=cfg.group_size,
                            n_groups=cfg.n_groups, seed=seed, learning_rate=cfg.learning_rate, n_epochs=4,
                            batch_size=64)
    t0 = time.time()
    curve = [(0, evaluate_success(model, eval_env, resets, seed=seed))]
    while model.num_timesteps < cfg.timesteps:
        model.learn(total_timesteps=cfg.eval_every, reset_num_timesteps=False)
        curve.append((model.num_timesteps, evaluate_success(model, eval_env, resets, seed=seed)))
    return {"estimator": name, "seed": seed, "eval": curve, "train": model.rollout_history,
            "seconds": time.time() - t0}


def random_success(path: Path, games: int, episodes_per_game: int, max_steps: int, seed: int = 0) -> float:
    env = alfworld(path, max_steps)
    rng = np.random.default_rng(seed)
    wins = 0
    for _ in range(episodes_per_game):
        for i in range(games):
            _, info = env.reset(options={"game_index": i})
            done = False
            while not done:
                commands = info["admissible_commands"]
                _, _, term, trunc, info = env.step(commands[int(rng.integers(len(commands)))])
                done = term or trunc
            wins += bool(info["won"])
    return wins / (games * episodes_per_game)


def run_learning(cfg: StudyConfig, train_path: Path, eval_path: Path, bar: tqdm) -> dict[str, Any]:
    cfg_dict = {k: v for k, v in asdict(cfg).items() if k != "estimators"}
    jobs = [(name, opts, seed, cfg_dict, str(train_path), str(eval_path))
            for seed in cfg.seeds for name, opts in cfg.estimators.items()]
    runs = []
    with ProcessPoolExecutor(max_workers=cfg.workers) as pool:
        futures = [pool.submit(train_one, job) for job in jobs]
        for fut in as_completed(futures):
            run = fut.result()
            runs.append(run)
            bar.set_postfix_str(f"{run['estimator']} seed {run['seed']}: final {run['eval'][-1][1]:.2f}")
            bar.update(1)
    baseline = random_success(eval_path, cfg.eval_games, max(4, cfg.eval_episodes_per_game * 4), cfg.max_episode_steps)
    return {"runs": sorted(runs, key=lambda r: (r["estimator"], r["seed"])), "random_eval_success": baseline}


# ---------------------------------------------------------------------------------------------------------
# reporting
def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% t confidence interval (0 for a single value)."""
    arr = np.asarray(values, dtype=float)
    if arr.size < 2:
        return float(arr.mean()), 0.0
    t_975 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571, 8: 2.365, 10: 2.262}.get(arr.size, 1.96)
    return float(arr.mean()), float(t_975 * arr.std(ddof=1) / math.sqrt(arr.size))


def quality_tables(quality: dict[str, Any]) -> str:
    rows = quality["rows"]
    lines = []
    for n in sorted({r["N"] for r in rows}):
        sub = [r for r in rows if r["N"] == n]
        lines.append(f"\n**Group size N = {n}** ({sub[0]['steps']} steps; policy success {sub[0]['success_rate']:.2f})\n")
        lines.append("| estimator | bias² | variance | MSE | window-cell bias² | corr (mean_std_norm) | sign agreement (non-zero adv.) | zero adv. |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for r in sub:
            lines.append(f"| {r['estimator']} | {r['bias2']:.4f} | {r['variance']:.4f} | {r['mse']:.4f} | "
                         f"{r['window_bias2']:.4f} | {r['corr']:.3f} | {r['sign_agreement']:.3f} | {r['zero_fraction']:.2f} |")
    return "\n".join(lines)


def learning_table(learning: dict[str, Any], cfg: StudyConfig) -> str:
    lines = ["| estimator | seeds | held-out success at 0 | final held-out success (mean ± 95% CI) | "
             "held-out success averaged over the curve (± 95% CI) | train-rollout success, last 3 rollouts | "
             "minutes/run |", "|---|---|---|---|---|---|---|"]
    for name in cfg.estimators:
        runs = [r for r in learning["runs"] if r["estimator"] == name]
        if not runs:
            continue
        start = mean_ci([r["eval"][0][1] for r in runs])
        final = mean_ci([r["eval"][-1][1] for r in runs])
        area = mean_ci([float(np.mean([s for _, s in r["eval"][1:]])) for r in runs])
        train = mean_ci([float(np.mean([h["success_rate"] for h in r["train"][-3:]])) for r in runs])
        minutes = np.mean([r["seconds"] for r in runs]) / 60
        lines.append(f"| {name} | {len(runs)} | {start[0]:.2f} | {final[0]:.2f} ± {final[1]:.2f} | "
                     f"{area[0]:.2f} ± {area[1]:.2f} | {train[0]:.2f} ± {train[1]:.2f} | {minutes:.1f} |")
    lines.append(f"\nRandom admissible policy on the held-out games: {learning['random_eval_success']:.3f}.")
    return "\n".join(lines)


def plot(quality: dict[str, Any] | None, learning: dict[str, Any] | None, cfg: StudyConfig, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    if quality is not None:
        rows = quality["rows"]
        ns = sorted({r["N"] for r in rows})
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
        for name in estimator_grid():
            if name.startswith("HGPO") and not (name.endswith("a=1") or "K=0" in name):
                continue
            sub = sorted((r for r in rows if r["estimator"] == name), key=lambda r: r["N"])
            for ax, metric in zip(axes, ("bias2", "variance", "corr"), strict=True):
                ax.plot(ns, [r[metric] for r in sub], marker="o", label=name)
        for ax, title in zip(axes, ("bias² vs exact advantage (mean_norm)", "variance (mean_norm)",
                                    "correlation with exact advantage (mean_std_norm)"), strict=True):
            ax.set_xscale("log", base=2)
            ax.set_xticks(ns, [str(n) for n in ns])
            ax.set_xlabel("group size N")
            ax.set_title(title, fontsize=10)
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        path = out / "estimator_quality.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(str(path))
    if learning is not None:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        for name in cfg.estimators:
            runs = [r for r in learning["runs"] if r["estimator"] == name]
            if not runs:
                continue
            n_points = min(len(r["eval"]) for r in runs)
            xs = np.array([np.mean([r["eval"][i][0] for r in runs]) for i in range(n_points)])
            stats = [mean_ci([r["eval"][i][1] for r in runs]) for i in range(n_points)]
            m = np.array([s[0] for s in stats])
            h = np.array([s[1] for s in stats])
            axes[0].plot(xs[:n_points], m, marker="o", label=name)
            axes[0].fill_between(xs[:n_points], np.clip(m - h, 0, 1), np.clip(m + h, 0, 1), alpha=0.2)
            n_roll = min(len(r["train"]) for r in runs)
            tx = np.array([np.mean([r["train"][i]["timesteps"] for r in runs]) for i in range(n_roll)])
            tstats = [mean_ci([r["train"][i]["success_rate"] for r in runs]) for i in range(n_roll)]
            tm = np.array([s[0] for s in tstats])
            th_ = np.array([s[1] for s in tstats])
            axes[1].plot(tx, tm, label=name)
            axes[1].fill_between(tx, np.clip(tm - th_, 0, 1), np.clip(tm + th_, 0, 1), alpha=0.2)
        axes[0].axhline(learning["random_eval_success"], color="grey", ls="--", label="random policy")
        axes[0].set_title("held-out games: success (mean, 95% CI over seeds)", fontsize=10)
        axes[1].set_title("training rollouts: success (mean, 95% CI over seeds; x = mean steps)", fontsize=10)
        for ax in axes:
            ax.set_xlabel("environment steps")
            ax.set_ylim(-0.02, 1.02)
            ax.legend(fontsize=8)
        fig.tight_layout()
        path = out / "learning_curves.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(str(path))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke-test sizes (about 2 minutes)")
    parser.add_argument("--part", choices=["all", "quality", "learning", "report"], default="all",
                        help="run one part, or only rebuild tables and plots from the saved JSON (report)")
    parser.add_argument("--out", default=None, help="output folder (default docs/study, out/study-quick)")
    parser.add_argument("--workers", type=int, default=None, help="parallel training processes (default 2)")
    args = parser.parse_args(argv)
    cfg = StudyConfig.quick() if args.quick else StudyConfig()
    if args.out:
        cfg.out_dir = args.out
    if args.workers:
        cfg.workers = args.workers
    out = (ROOT / cfg.out_dir) if not os.path.isabs(cfg.out_dir) else Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    games_dir = ROOT / "out" / "study-games"
    quality_games = make_games(games_dir / f"easy-s100-n{cfg.games}.jsonl.gz", cfg.games, seed=100)
    train_games = make_games(games_dir / f"easy-s0-n{cfg.train_games}.jsonl.gz", cfg.train_games, seed=0)
    eval_games = make_games(games_dir / f"easy-s1-n{cfg.eval_games}.jsonl.gz", cfg.eval_games, seed=1)

    do_quality = args.part in ("all", "quality")
    do_learning = args.part in ("all", "learning")
    total = (cfg.games + len(cfg.group_sizes) * len(estimator_grid())) * do_quality
    total += len(cfg.seeds) * len(cfg.estimators) * do_learning
    quality = learning = None
    with tqdm(total=total, desc="study", unit="task") as bar:
        if do_quality:
            quality = run_estimator_quality(cfg, quality_games, bar)
            (out / "estimator_quality.json").write_text(json.dumps({"config": asdict(cfg), **quality}, indent=1))
        if do_learning:
            learning = run_learning(cfg, train_games, eval_games, bar)
            (out / "learning.json").write_text(json.dumps({"config": asdict(cfg), **learning}, indent=1))
    if quality is None and (out / "estimator_quality.json").is_file():
        quality = json.loads((out / "estimator_quality.json").read_text())
    if learning is None and (out / "learning.json").is_file():
        learning = json.loads((out / "learning.json").read_text())
    parts = [f"# Study tables ({'quick' if args.quick else 'full'} settings)\n", f"Config: `{asdict(cfg)}`\n"]
    if quality is not None:
        parts += ["## Estimator quality\n", quality_tables(quality)]
    if learning is not None:
        parts += ["\n## Learning\n", learning_table(learning, cfg)]
    files = plot(quality, learning, cfg, out)
    (out / "tables.md").write_text("\n".join(parts) + "\n")
    print("\n".join(parts))
    print("wrote", out / "tables.md", *files)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
