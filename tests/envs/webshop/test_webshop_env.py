"""hgpo/WebShop-v0 against real WebShop server processes: episodes, rewards, info, determinism, spaces."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import gymnasium as gym
import pytest

import hgpo_envs  # noqa: F401  (registers the environments)
from hgpo_envs.webshop.client import ServerUnavailable
from hgpo_envs.webshop.env import WebShopEnv
from hgpo_envs.webshop.page import NAV_BUTTONS
from tests.envs.webshop.conftest import play


def goals_by_option_count(env, wanted=(0, 1, 2), scan=200):
    """Split goal index of the first goal with each number of options."""
    found = {}
    for i in range(min(scan, env.num_goals)):
        _, info = env.reset(options={"goal_index": i})
        n = len(info["goal"]["goal_options"])
        if n in wanted and n not in found:
            found[n] = i
        if len(found) == len(wanted):
            break
    return found


# ---------------------------------------------------------------------- scripted episodes
def test_scripted_episode_per_goal_type_reaches_full_score(make_env):
    env = make_env(split="test")
    found = goals_by_option_count(env)
    assert set(found) == {0, 1, 2}, f"the synthetic catalogue should have goals with 0, 1 and 2 options: {found}"
    for n_options, index in found.items():
        _, info = env.reset(options={"goal_index": index})
        goal = info["goal"]
        target = goal["asin"].lower()
        obs, r, term, trunc, info = env.step(f"search[{goal['instruction']}]")
        assert info["page"] == "results" and r == 0.0 and not term
        assert "Page 1 (Total results:" in obs
        # page until the target is listed (the synthetic search finds it on the first pages)
        while target not in info["available_actions"]["clickables"]:
            obs, r, term, trunc, info = env.step("click[next >]")
            assert info["page"] == "results" and "Page " in obs
        obs, r, term, trunc, info = env.step(f"click[{target}]")
        assert info["page"] == "item" and goal["asin"] in env.unwrapped.client.page(info["session_id"])["url"]
        for value in goal["goal_options"].values():
            obs, r, term, trunc, info = env.step(f"click[{value}]")
            assert info["is_action_valid"] and info["page"] == "item" and r == 0.0
        obs, r, term, trunc, info = env.step("click[buy now]")
        assert term and not trunc, n_options
        assert r == 1.0 and info["won"] and info["task_score"] == 1.0
        assert info["page"] == "done" and "Thank you for shopping with us!" in obs
        assert info["admissible_commands"] == [] and info["expert_action"] is None
        assert info["reward_info"]["r_type"] == 1.0


def test_buying_without_options_scores_the_option_share_less(make_env):
    """Target product, no option chosen: R = (|A| + 1) / (|A| + |O| + 1) (attributes and price match, no option)."""
    env = make_env(split="test")
    index = goals_by_option_count(env, wanted=(2,))[2]
    _, info = env.reset(options={"goal_index": index})
    goal = info["goal"]
    steps = play(env, goal_index=index, limit=15)
    assert steps[-1][2] == 1.0  # the full episode buys at score 1: attributes and price all match
    _, info = env.reset(options={"goal_index": index})
    env.step(f"search[{goal['instruction']}]")
    # open the target from whichever results page lists it
    while goal["asin"].lower() not in env.unwrapped._view.clickables:
        env.step("click[next >]")
    env.step(f"click[{goal['asin'].lower()}]")
    _, r, term, _, info = env.step("click[buy now]")
    a, o = len(goal["attributes"]), len(goal["goal_options"])
    assert term and r == pytest.approx((a + 1) / (a + o + 1))
    assert not info["won"] and info["task_score"] == r


def test_wrong_product_scores_below_one(make_env):
    env = make_env(split="test")
    _, info = env.reset(options={"goal_index": 3})
    target = info["goal"]["asin"].lower()
    _, _, _, _, info = env.step(f"search[{info['goal']['instruction']}]")
    other = next(c for c in info["available_actions"]["clickables"] if c not in NAV_BUTTONS and c != target)
    env.step(f"click[{other}]")
    _, r, term, _, info = env.step("click[buy now]")
    assert term and 0.0 <= r < 1.0 and not info["won"]


def test_expert_solves_test_goals_within_fifteen_steps(make_env):
    from wrappers.policies import Expert

    env = make_env(split="test", max_episode_steps=15)
    policy = Expert(epsilon=0.0)
    scores = []
    for i in range(25):
        obs, info = env.reset(options={"goal_index": i})
        for _ in range(15):
            assert info["expert_action"] in info["admissible_commands"]
            (action,) = policy([obs], [info])
            obs, r, term, trunc, info = env.step(action)
            if term or trunc:
                break
        scores.append(r)
    assert sum(scores) / len(scores) >= 0.95, scores


# ---------------------------------------------------------------------- invalid actions
@pytest.mark.parametrize(
    "action",
    ["click[no such thing]", "click[search]", "search[]", "Search[red dress]", "buy now", "click[]", "x" * 2001, "jump[3]"],
)
def test_invalid_action_changes_nothing_and_says_so(make_env, action):
    env = make_env(split="test")
    obs0, info0 = env.reset(options={"goal_index": 0})
    obs1, _, _, _, info1 = env.step(f"search[{info0['goal']['instruction']}]")
    obs2, r, term, trunc, info2 = env.step(action)
    assert obs2 == obs1 and r == 0.0 and not term and not trunc
    assert info2["is_action_valid"] is False and "Invalid action" in info2["feedback"]
    assert info2["state_key"] == info1["state_key"]
    assert info2["admissible_commands"] == info1["admissible_commands"]
    # the page is unchanged on the server too: the next valid action works from it
    _, _, _, _, info3 = env.step(info2["expert_action"])
    assert info3["is_action_valid"] and info3["page"] == "item"


def test_search_works_from_any_page_and_non_str_actions_are_refused(make_env):
    env = make_env(split="test")
    _, info = env.reset(options={"goal_index": 1})
    _, _, _, _, info = env.step("search[red]")
    env.step(f"click[{next(c for c in info['available_actions']['clickables'] if c not in NAV_BUTTONS)}]")
    _, _, _, _, info = env.step("search[blue shoes]")  # upstream allows a search on any page
    assert info["is_action_valid"] and info["page"] == "results"
    with pytest.raises(TypeError):
        env.step(42)


def test_step_limit_truncates_and_buy_terminates(make_env):
    env = make_env(split="test", max_episode_steps=3)
    env.reset(options={"goal_index": 0})
    out = [env.step("click[nothing]")[2:4] for _ in range(3)]
    assert out == [(False, False), (False, False), (False, True)]
    env = make_env(split="test")
    steps = play(env, goal_index=0, limit=15)
    assert steps[-1][3] and not steps[-1][4]
    with pytest.raises(gym.error.ResetNeeded):
        env.step("click[buy now]")
    with pytest.raises(gym.error.ResetNeeded):
        make_env(split="test").step("search[x]")


def test_gym_make_adds_the_fifteen_step_limit(server):
    env = gym.make("hgpo/WebShop-v0", server_url=server.url, split="test")
    try:
        assert env.spec.max_episode_steps == 15
        env.reset(options={"goal_index": 0})
        flags = [env.step("click[nothing]")[3] for _ in range(15)]
        assert flags == [False] * 14 + [True]
    finally:
        env.close()


# ---------------------------------------------------------------------- info, observation modes
def test_info_keys_and_admissible_commands(make_env):
    env = make_env(split="test")
    obs, info = env.reset(options={"goal_index": 0})
    assert obs.startswith("WebShop [SEP] Instruction: [SEP] ") and info["goal"]["instruction"] in obs
    for key in ("available_actions", "admissible_commands", "won", "task_score", "goal", "state_key",
                "is_action_valid", "expert_action", "task", "goal_index", "page", "session_id"):
        assert key in info, key
    assert info["available_actions"] == {"has_search_bar": True, "clickables": ["search"]}
    assert info["admissible_commands"] == [f"search[{info['goal']['instruction']}]"]
    for field in ("asin", "attributes", "goal_options", "price_upper", "instruction"):
        assert field in info["goal"]
    _, _, _, _, info = env.step(info["expert_action"])
    clickables = info["available_actions"]["clickables"]
    assert info["admissible_commands"] == [f"click[{c}]" for c in clickables]
    assert clickables[:2] == ["back to search", "next >"]
    # every admissible command is valid
    for command in info["admissible_commands"]:
        env.reset(options={"goal_index": 0})
        env.step(f"search[{info['goal']['instruction']}]")
        assert env.step(command)[4]["is_action_valid"], command


def test_text_rich_marks_choices_and_html_mode(make_env):
    env = make_env(split="test", observation_mode="text_rich")
    index = goals_by_option_count(env, wanted=(1,))[1]
    steps = play(env, goal_index=index)
    value = next(iter(steps[0][5]["goal"]["goal_options"].values()))
    after_option = next(s for s in steps if s[0] == f"click[{value}]")
    assert f"[clicked button] {value} [clicked button_]" in after_option[1]
    assert f"You have clicked {value}." in after_option[1]
    html_env = make_env(split="test", observation_mode="html")
    obs, info = html_env.reset(options={"goal_index": index})
    assert obs.lstrip().startswith("<!DOCTYPE html>") and 'id="search_input"' in obs
    obs, *_ = html_env.step(info["expert_action"])
    assert 'class="product-link"' in obs


# ---------------------------------------------------------------------- determinism, state keys
def test_reset_is_deterministic(make_env):
    a, b = make_env(split="train"), make_env(split="train")
    assert a.num_goals == b.num_goals > 500
    for seed in (0, 1, 7):
        oa, ia = a.reset(seed=seed)
        ob, ib = b.reset(seed=seed)
        assert (oa, ia["goal_index"], ia["state_key"]) == (ob, ib["goal_index"], ib["state_key"])
        assert ia["session_id"] != ib["session_id"]
    assert len({a.reset(seed=s)[1]["goal_index"] for s in range(10)}) > 1
    ea, eb = play(a, goal_index=5), play(b, goal_index=5)
    assert [s[0] for s in ea] == [s[0] for s in eb]
    assert [s[1] for s in ea] == [s[1] for s in eb]
    assert [s[5]["state_key"] for s in ea] == [s[5]["state_key"] for s in eb]
    with pytest.raises(ValueError):
        a.reset(options={"goal_index": a.num_goals})
    with pytest.raises(ValueError):
        a.reset(options={"goal": 1})


def test_state_key_is_the_same_in_another_process_and_never_holds_the_session_id(server, make_env):
    env = make_env(split="test")
    keys = [s[5]["state_key"] for s in play(env, goal_index=2)]
    sid = env.unwrapped.session_id
    code = (
        "import json, sys\n"
        "from hgpo_envs.webshop.env import WebShopEnv\n"
        "from tests.envs.webshop.conftest import play\n"
        f"env = WebShopEnv(server_url={server.url!r}, split='test')\n"
        "steps = play(env, goal_index=2)\n"
        "print(json.dumps([env.session_id, [s[5]['state_key'] for s in steps], steps[-1][1]]))\n"
        "env.close()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    other_sid, other_keys, done_text = json.loads(out.stdout.strip().splitlines()[-1])
    assert other_sid != sid and other_keys == keys
    from hgpo_envs.webshop.page import canonical_text

    view = env.unwrapped._view
    assert view.kind == "done" and "Your code:" in view.text
    assert sid not in canonical_text(view, "text") and sid not in canonical_text(view, "text_rich")
    assert done_text == view.observation("text") and "Your code: [SEP] None [SEP]" in done_text
    assert view.text != done_text  # the server's page holds the session's code; observations and keys do not


# ---------------------------------------------------------------------- spaces, checker
def test_check_env_and_unicode_spaces(server):
    from gymnasium.utils.env_checker import check_env

    env = WebShopEnv(server_url=server.url, split="test")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_env(env, skip_render_check=True)
        space = env.observation_space
        assert space.contains("Café ½ 100% ✓ 😀 [SEP] 日本")
        assert not space.contains("\ud800") and not space.contains(3)
        assert env.action_space.contains("search[" + "é" * 100 + "]")
        assert not env.action_space.contains("x" * 2001)
        sample = env.action_space.sample()
        assert isinstance(sample, str) and env.action_space.contains(sample)
    finally:
        env.close()


def test_real_catalogue_pages_fit_the_spaces_and_the_expert_scores(real_server):
    env = WebShopEnv(server_url=real_server.url, split="test", max_episode_steps=15)
    try:
        assert env.num_goals == 500
        scores = []
        for i in range(40):
            steps = play(env, goal_index=i, limit=15)
            for _, obs, _, _, _, info in steps:
                assert env.observation_space.contains(obs)
                assert info["expert_action"] is None or info["expert_action"] in info["admissible_commands"]
            scores.append(steps[-1][2])
        assert sum(scores) / len(scores) >= 0.95
        _, info = env.reset(options={"goal_index": 0})
        # spec §4.4: goal 0 of the real small catalogue (after the 233 shuffle) is B0743JKHBV
        assert info["goal"]["asin"] == "B0743JKHBV"
    finally:
        env.close()


def test_unreachable_url_fails_fast_with_a_clear_error():
    from tests.envs.webshop.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}"
    import time

    t = time.monotonic()
    with pytest.raises(ServerUnavailable, match=r"127\.0\.0\.1"):
        WebShopEnv(server_url=url, reconnect_timeout=0.5)
    assert time.monotonic() - t < 5
    with pytest.raises(ValueError):
        WebShopEnv(server_url=url, server_options={"catalog": "x"})


def test_collect_groups_records_expert_rollouts(server):
    """The whole data path: gym id -> wrappers (MemoryWindow, Expert policy) -> step records."""
    from wrappers.policies import Expert
    from wrappers.rollout import collect_groups

    records = collect_groups(
        "hgpo/WebShop-v0", Expert(epsilon=0.0), n_groups=2, group_size=2, seed=3,
        env_kwargs={"server_url": server.url, "split": "test"}, progress=False,
    )
    assert {r["group_id"] for r in records} == {0, 1}
    finals = {}
    for r in records:
        assert len(r["state_key"]) == 32
        finals[r["traj_id"]] = r["reward"]
    assert len(finals) == 4 and all(v == 1.0 for v in finals.values())
    by_group = {}
    for r in records:
        by_group.setdefault((r["group_id"], r["step"]), set()).add(r["state_key"])
    # members of a group play the same goal deterministically: same pages, same keys
    assert all(len(keys) == 1 for keys in by_group.values())
