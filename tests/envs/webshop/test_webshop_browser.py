"""hgpo/WebShopBrowser-v0 in headless Chromium, step by step against hgpo/WebShop-v0 on the same server."""

from __future__ import annotations

import numpy as np
import pytest

from hgpo_envs.webshop.browser import WebShopBrowserEnv, find_chromium
from hgpo_envs.webshop.env import WebShopEnv
from hgpo_envs.webshop.page import NAV_BUTTONS
from tests.extras import in_ci, require


@pytest.fixture(scope="module", autouse=True)
def _chromium():
    """Skip the module (fail under CI), saying why, when Selenium or headless Chromium is missing."""
    require("selenium", extra="browser")
    try:
        find_chromium()
    except FileNotFoundError as exc:
        if in_ci():
            pytest.fail(f"CI=true and headless Chromium is missing: {exc}", pytrace=False)
        pytest.skip(str(exc))


SAME_INFO = ("available_actions", "admissible_commands", "won", "task_score", "goal", "goal_index", "task",
             "state_key", "is_action_valid", "expert_action", "page", "reward_info", "feedback")


@pytest.fixture(scope="module")
def browser(server):
    env = WebShopBrowserEnv(server_url=server.url, split="test", observation_mode="text")
    yield env
    env.close()


def lockstep(text_env, browser_env, goal_index, script):
    """Play ``script`` (actions; ``None`` = the expert's) in both; assert agreement at every step."""
    o1, i1 = text_env.reset(options={"goal_index": goal_index})
    o2, i2 = browser_env.reset(options={"goal_index": goal_index})
    pages = []
    for action in [*script, *[None] * 15]:
        assert o1 == o2
        for key in SAME_INFO:
            assert i1.get(key) == i2.get(key), key
        assert i1["session_id"] != i2["session_id"]
        pages.append(i1["page"])
        if action is None:
            action = i1["expert_action"]
        elif callable(action):
            action = action(i1)
        o1, r1, t1, tr1, i1 = text_env.step(action)
        o2, r2, t2, tr2, i2 = browser_env.step(action)
        assert (r1, t1, tr1) == (r2, t2, tr2), action
        if t1:
            assert o1 == o2 and all(i1.get(k) == i2.get(k) for k in SAME_INFO)
            return r1, pages
    raise AssertionError("episode did not end")


def first_product(info):
    return "click[" + next(c for c in info["available_actions"]["clickables"] if c not in NAV_BUTTONS) + "]"


def test_browser_and_text_env_agree_step_by_step(server, browser):
    text_env = WebShopEnv(server_url=server.url, split="test", observation_mode="text")
    try:
        # expert episode with detours: invalid actions, a sub page, paging, a wrong product and back
        script = [
            "click[nowhere]",
            None,  # search the instruction
            "click[next >]",
            "click[< prev]",
            first_product,
            "click[description]",
            "click[< prev]",
            "click[features]",
            "click[< prev]",
            "click[< prev]",  # back to the results
            "search[red cotton shirt]",
            "click[back to search]",
            "Search[oops]",
        ]
        reward, pages = lockstep(text_env, browser, 0, script)
        assert reward == 1.0
        assert {"search", "results", "item", "item_sub"} <= set(pages)
        reward, _ = lockstep(text_env, browser, 3, [None, first_product, "click[buy now]"])
        assert 0.0 <= reward <= 1.0
    finally:
        text_env.close()


def test_text_rich_mode_agrees_too(server):
    text_env = WebShopEnv(server_url=server.url, split="test", observation_mode="text_rich")
    browser_env = WebShopBrowserEnv(server_url=server.url, split="test", observation_mode="text_rich")
    try:
        reward, _ = lockstep(text_env, browser_env, 1, [None, "click[< prev]", None])
        assert reward == 1.0
    finally:
        text_env.close()
        browser_env.close()


def test_rendered_observation_and_screenshot(server):
    env = WebShopBrowserEnv(server_url=server.url, split="test", screenshot=True, window_size=(800, 600))
    try:
        obs, info = env.reset(options={"goal_index": 2})
        assert env.observation_space.contains(obs)
        text, image = obs["text"], obs["screenshot"]
        assert "[SEP]" not in text and info["goal"]["instruction"] in text and "WebShop" in text
        assert image.shape == (600, 800, 3) and image.dtype == np.uint8
        assert image.min() < 100 < image.max()  # some dark text on a light page
        obs, *_ = env.step(info["expert_action"])
        assert "Total results" in obs["text"]
    finally:
        env.close()
