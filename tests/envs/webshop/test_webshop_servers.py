"""Where hgpo/WebShop-v0 finds its server: the shared embedded one, a separate one, one that dies or restarts."""

from __future__ import annotations

import time

import gymnasium as gym
import pytest

import hgpo_envs  # noqa: F401
from hgpo_envs.webshop import embedded
from hgpo_envs.webshop.client import ServerUnavailable, WebShopError
from hgpo_envs.webshop.env import WebShopEnv
from tests.envs.webshop.conftest import free_port, play, start_server

# a small catalogue keeps the embedded servers of these tests quick to start and apart from others
SMALL = {"synthetic_products": 300}


def test_envs_of_a_process_share_one_embedded_server_until_the_last_closes():
    a = gym.make("hgpo/WebShop-v0", server_options=SMALL, split="test")
    b = gym.make("hgpo/WebShop-v0", server_options=SMALL, split="test")
    try:
        ua, ub = a.unwrapped, b.unwrapped
        assert ua.server_url == ub.server_url and ua.server_url.startswith("http://127.0.0.1:")
        mine = [s for s in embedded.active_servers() if s.options == SMALL]
        assert len(mine) == 1 and mine[0].refs == 2
        server = mine[0]
        # both play, interleaved, in their own sessions
        _, ia = a.reset(options={"goal_index": 0})
        _, ib = b.reset(options={"goal_index": 1})
        assert ia["session_id"] != ib["session_id"]
        for _ in range(3):
            ia = a.step(ia["expert_action"])[4]
            ib = b.step(ib["expert_action"])[4]
            assert ia["is_action_valid"] and ib["is_action_valid"]
        a.close()
        assert server.alive() and server.refs == 1
        b.step(ib["expert_action"])
    finally:
        a.close()
        b.close()
    server.proc.wait(10)
    assert not server.alive() and server not in embedded.active_servers()
    # a new environment starts a fresh server
    c = WebShopEnv(server_options=SMALL)
    try:
        assert c.server_url != server.url or c._embedded is not server
        assert c.reset(seed=0)[1]["is_action_valid"]
    finally:
        c.close()


def test_embedded_server_options_reach_the_server():
    env = WebShopEnv(server_options={"synthetic_products": 200, "synthetic_seed": 3}, split="all")
    try:
        assert env.client.health()["products"] == 200
    finally:
        env.close()
    with pytest.raises(ServerUnavailable, match="exited"):
        WebShopEnv(server_options={"catalog": "/nonexistent/documents.jsonl"})


def test_many_envs_share_a_separately_started_server(server):
    envs = [WebShopEnv(server_url=server.url, split="test") for _ in range(4)]
    try:
        before = len(embedded.active_servers())
        infos = [env.reset(options={"goal_index": i})[1] for i, env in enumerate(envs)]
        assert len({i["session_id"] for i in infos}) == 4
        done = [False] * 4
        for _ in range(10):
            for k, env in enumerate(envs):
                if not done[k]:
                    _, r, term, _, infos[k] = env.step(infos[k]["expert_action"])
                    done[k] = term
        assert all(done)
        assert len(embedded.active_servers()) == before  # no embedded server was started
    finally:
        for env in envs:
            env.close()


def test_dead_server_gives_a_clear_error_not_a_hang():
    srv = start_server(synthetic_products=300)
    env = WebShopEnv(server_url=srv.url, split="test", reconnect_timeout=1.0, timeout=5.0)
    try:
        _, info = env.reset(options={"goal_index": 0})
        env.step(info["expert_action"])
        srv.stop()
        t = time.monotonic()
        with pytest.raises(ServerUnavailable, match=r"127\.0\.0\.1.*reconnect_timeout"):
            env.step("click[next >]")
        assert time.monotonic() - t < 4
    finally:
        env.close()
        srv.stop()


def test_restarted_server_is_reconnected_with_a_new_session_and_the_episode_replayed():
    port = free_port()
    srv = start_server(synthetic_products=300, port=port)
    env = WebShopEnv(server_url=srv.url, split="test", reconnect_timeout=30.0)
    reference = WebShopEnv(server_url=srv.url, split="test")
    try:
        steps = play(reference, goal_index=0)
        assert steps[-1][3]
        _, info = env.reset(options={"goal_index": 0})
        first_sid = info["session_id"]
        obs, _, _, _, info = env.step(steps[1][0])
        obs, _, _, _, info = env.step(steps[2][0])
        reference.close()
        srv.stop()
        srv = start_server(synthetic_products=300, port=port)
        obs, r, term, _, info = env.step(steps[3][0])
        assert info["reconnected"] and info["session_id"] != first_sid
        assert obs == steps[3][1] and info["state_key"] == steps[3][5]["state_key"]
        for action, ref_obs, ref_r, ref_term, _, _ in steps[4:]:
            obs, r, term, _, info = env.step(action)
            assert (obs, r, term) == (ref_obs, ref_r, ref_term) and not info["reconnected"]
    finally:
        env.close()
        reference.close()
        srv.stop()


def test_without_reconnect_a_lost_session_raises():
    srv = start_server(synthetic_products=300)
    env = WebShopEnv(server_url=srv.url, split="test", reconnect=False)
    try:
        _, info = env.reset(options={"goal_index": 0})
        env.client.end(info["session_id"])  # the server forgets the session
        with pytest.raises(WebShopError, match="lost session"):
            env.step(info["expert_action"])
    finally:
        env.close()
        srv.stop()


def test_embedded_server_that_dies_is_reported_with_its_exit_status():
    env = WebShopEnv(server_options={"synthetic_products": 250}, split="test")
    try:
        _, info = env.reset(options={"goal_index": 0})
        server = env._embedded
        server.proc.kill()
        server.proc.wait(10)
        t = time.monotonic()
        with pytest.raises(ServerUnavailable, match=r"embedded WebShop server .* exited"):
            env.step(info["expert_action"])
        assert time.monotonic() - t < 3
    finally:
        env.close()


def test_a_server_that_never_answers_times_out_instead_of_hanging():
    """A socket that accepts connections and stays silent: the configured timeouts bound the wait."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        t = time.monotonic()
        with pytest.raises(ServerUnavailable, match="not ready after"):
            WebShopEnv(server_url=url, timeout=0.3, reconnect_timeout=1.0)
        assert time.monotonic() - t < 5
    finally:
        silent.close()
