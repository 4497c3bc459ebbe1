"""`hgpo alfworld download` against a loopback HTTP server serving a small archive made here."""

from __future__ import annotations

import http.server
import io
import json
import threading
import zipfile
from pathlib import Path

import pytest

from hgpo_envs.alfworld.cli import main as cli
from hgpo_envs.alfworld.download import ASSETS, DownloadError, download_assets
from hgpo_envs.alfworld.env import ALFWorldEnv


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``files`` (URL path -> bytes) with Range support; ``cut`` truncates a response once."""

    files: dict[str, bytes] = {}
    requests: list[tuple[str, str | None]] = []
    cut_next: int | None = None

    def do_GET(self) -> None:
        type(self).requests.append((self.path, self.headers.get("Range")))
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if type(self).cut_next is not None:
            payload, type(self).cut_next = payload[: type(self).cut_next], None
            self.wfile.write(payload)
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def server():
    _Handler.files, _Handler.requests, _Handler.cut_next = {}, [], None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler
    httpd.shutdown()
    httpd.server_close()


def _archive(records, logic) -> bytes:
    """A tw-pddl release zip in the upstream layout, holding the given games."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, r in enumerate(records):
            folder = f"json_2.1.1/valid_unseen/{r.task_type}-{r.object_target}-None-{r.parent_target}-{i}/trial_T{i:06d}"
            zf.writestr(f"{folder}/game.tw-pddl", json.dumps(logic.game(r.task_desc, r.pddl_problem, r.walkthrough)))
    return buffer.getvalue()


def test_download_unpacks_a_playable_layout(server, tmp_path, generated_records, package_logic):
    url, handler = server
    handler.files["/" + ASSETS["tw-pddl"]] = _archive(generated_records[:6], package_logic)
    dest = tmp_path / "data"
    assert cli(["download", "--dest", str(dest), "--base-url", url, "--no-progress"]) == 0
    assert len(list(dest.glob("json_2.1.1/valid_unseen/*/*/game.tw-pddl"))) == 6
    assert (dest / "logic" / "alfred.twl2").is_file()
    manifest = json.loads((dest / ".downloads" / "manifest.json").read_text())
    assert manifest["tw-pddl"]["members"] == 6 and len(manifest["tw-pddl"]["sha256"]) == 64
    env = ALFWorldEnv(split="eval_out_of_distribution", data_dir=dest)
    assert env.num_games == 6
    _, info = env.reset(options={"game_index": 0})
    for command in info["expert_plan"]:
        *_, terminated, _, info = env.step(command)
    assert terminated
    # A second run finds the verified archive and downloads nothing.
    count = len(handler.requests)
    download_assets(dest, base_url=url, progress=False)
    assert len(handler.requests) == count


def test_interrupted_download_resumes(server, tmp_path, generated_records, package_logic):
    url, handler = server
    body = _archive(generated_records[:4], package_logic)
    handler.files["/" + ASSETS["tw-pddl"]] = body
    handler.cut_next = len(body) // 3
    with pytest.raises(DownloadError, match="run again to resume"):
        download_assets(tmp_path, base_url=url, progress=False, timeout=5)
    part = tmp_path / ".downloads" / "json_2.1.2_tw-pddl.zip.part"
    assert part.stat().st_size == len(body) // 3
    download_assets(tmp_path, base_url=url, progress=False)
    assert handler.requests[-1][1] == f"bytes={len(body) // 3}-"
    assert (tmp_path / ".downloads" / "json_2.1.2_tw-pddl.zip").read_bytes() == body
    assert not part.exists()


def test_missing_asset_fails_cleanly(server, tmp_path, capsys):
    url, _ = server
    assert cli(["download", "--dest", str(tmp_path), "--base-url", url, "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "HTTP 404" in err[0]
    assert not list((tmp_path / ".downloads").glob("*.zip"))


def test_corrupt_or_foreign_archive_is_rejected(server, tmp_path):
    url, handler = server
    handler.files["/" + ASSETS["tw-pddl"]] = b"this is not a zip"
    with pytest.raises(DownloadError, match="not a valid zip"):
        download_assets(tmp_path, base_url=url, progress=False)
    assert not (tmp_path / ".downloads" / "json_2.1.2_tw-pddl.zip").exists()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("../evil.txt", "x")
    handler.files["/" + ASSETS["tw-pddl"]] = buffer.getvalue()
    with pytest.raises(DownloadError, match="unexpected member"):
        download_assets(tmp_path, base_url=url, progress=False)
    assert not (tmp_path.parent / "evil.txt").exists()


def test_unknown_asset_is_bad_input(tmp_path, capsys):
    assert cli(["download", "--dest", str(tmp_path), "--assets", "weights"]) == 2
    assert "unknown asset" in capsys.readouterr().err


def test_unreachable_server_fails_cleanly(tmp_path):
    # A closed port on loopback: connection refused, reported as a DownloadError.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match=str(port)):
        download_assets(Path(tmp_path), base_url=f"http://127.0.0.1:{port}", progress=False, timeout=5)
