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


# ---------------------------------------------------------------------- idempotent steps (issue 15.6)
def test_a_step_whose_answer_was_lost_is_applied_once(server):
    """Behind a proxy that drops the connection after the server answered, the client resends the
    step on a fresh connection; the server answers the stored result: one page on, not two."""
    from tests.envs.webshop.proxy import DroppingProxy

    proxy = DroppingProxy(server.port)
    env = WebShopEnv(server_url=proxy.url, split="test")
    try:
        _, info = env.reset(options={"goal_index": 0})
        obs, *_ = env.step("search[shirt]")
        assert "Page 1 " in obs
        for page in (2, 3):
            proxy.drop_next("/step")
            obs, _, _, _, info = env.step("click[next >]")
            assert f"Page {page} " in obs and info["is_action_valid"] and not info["reconnected"]
        assert proxy.dropped == 2
        state = env.client.page(env.session_id)
        assert state["step"] == 3 and "Page 3 " in state["observation"]["text"]  # the server agrees
        # a reset whose answer is lost is sent again too: still one session, at its start
        proxy.drop_next("/api/sessions ")
        _, info = env.reset(options={"goal_index": 1})
        assert proxy.dropped == 3 and info["page"] == "search" and env.client.page(env.session_id)["step"] == 0
    finally:
        env.close()
        proxy.close()


def test_without_a_step_number_the_same_drop_applies_the_step_twice(server):
    """The control: an unnumbered step resent after the drop is applied again (what the env used to do)."""
    from hgpo_envs.webshop.client import WebShopClient
    from tests.envs.webshop.proxy import DroppingProxy

    proxy = DroppingProxy(server.port)
    client = WebShopClient(proxy.url, token="control")
    try:
        sid = client.start(0)["session_id"]
        client.step(sid, "search[shirt]")
        proxy.drop_next("/step")
        page = client.step(sid, "click[next >]")
        assert proxy.dropped == 1 and "Page 3 " in page["observation"]["text"]
    finally:
        client.end(sid)
        client.close()
        proxy.close()


# ---------------------------------------------------------------------- careless use (issue 15.16)
def test_careless_calls_get_clear_errors(server):
    env = WebShopEnv(server_url=server.url, split="test")
    with pytest.raises(gym.error.ResetNeeded, match="reset"):
        env.step("search[x]")
    with pytest.raises(TypeError, match="reset options must be a dict"):
        env.reset(options=[("goal_index", 1)])
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"goal": 1})
    env.reset(options={"goal_index": 0})
    env.close()
    with pytest.raises(gym.error.ClosedEnvironmentError, match="closed"):
        env.step("search[x]")
    with pytest.raises(gym.error.ClosedEnvironmentError, match="closed"):
        env.reset()
    env.close()  # closing twice is fine


@pytest.mark.parametrize("mode", ["text", "html"])
def test_actions_outside_the_action_space_are_invalid_and_never_sent(server, mode):
    env = WebShopEnv(server_url=server.url, split="test", observation_mode=mode)
    try:
        info = env.client.info()
        assert env.action_space.max_length == info["protocol"]["max_action_chars"]  # read, not copied
        _, info = env.reset(options={"goal_index": 0})
        obs1, _, _, _, info1 = env.step(info["expert_action"])
        for action in ("search[\ud800 shoes]", "click[\udfff]", "x" * (env.action_space.max_length + 1)):
            assert not env.action_space.contains(action)
            obs, r, term, trunc, info = env.step(action)
            assert obs == obs1 and r == 0.0 and not term and info["is_action_valid"] is False
            assert "Unicode" in info["feedback"] or "longer than" in info["feedback"]
        assert env.client.page(env.session_id)["step"] == 1  # nothing reached the server
        obs, _, _, _, info = env.step(info["expert_action"])
        assert info["is_action_valid"] and info["page"] == "item"
    finally:
        env.close()


def test_a_server_of_another_protocol_is_refused_clearly(server):
    env = WebShopEnv(server_url=server.url, split="test")
    try:
        with pytest.raises(WebShopError, match=r"protocol 1.*this environment protocol 2"):
            env._read_protocol({"protocol": {"version": 1}})
        with pytest.raises(WebShopError, match="protocol None"):
            env._read_protocol({"products": 3})
    finally:
        env.close()


def test_the_launcher_runs_the_server_module_and_its_child_exits_with_the_parents_pipe():
    srv = start_server(synthetic_products=200)
    try:
        assert "servers.webshop" in srv.proc.args and srv.ready_seconds > 0 and srv.port > 0
        srv.proc.stdin.close()  # what happens when the parent process dies
        srv.proc.wait(10)
        assert not srv.alive()
    finally:
        srv.stop()
