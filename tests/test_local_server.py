"""LocalServer lifecycle and the long-lived server, against a fake llama_cpp.server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmx._errors import LocalModelError
from llmx._local.detached import (
    read_state,
    running_server,
    server_status,
    start_detached,
    stop_detached,
)
from llmx._local.launch import LaunchConfig, context_size_for, llama_server_command, probe_health
from llmx._local.process import pid_alive
from llmx._local.server import LocalServer

FAKE_SERVER = textwrap.dedent(
    """
    import argparse, http.server, json, os, sys, time
    p = argparse.ArgumentParser()
    p.add_argument("--host"); p.add_argument("--port", type=int)
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--fail", default=None)
    p.add_argument("--child", action="store_true")
    a, _ = p.parse_known_args()
    print("fake server starting", flush=True)
    if a.fail:
        print(a.fail, file=sys.stderr, flush=True)
        sys.exit(3)
    if a.child:  # a grandchild in the same process group
        import subprocess
        c = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        print("CHILD", c.pid, flush=True)
    time.sleep(a.delay)
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "data": [{"id": "fake"}]}).encode()
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    http.server.HTTPServer((a.host, a.port), H).serve_forever()
    """
)


@pytest.fixture
def fake_script(tmp_path: Path) -> Path:
    path = tmp_path / "fake_server.py"
    path.write_text(FAKE_SERVER)
    return path


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF fake")
    return path


def fake_command(script: Path, *extra: str):  # type: ignore[no-untyped-def]
    def build(cfg: LaunchConfig) -> Sequence[str]:
        return [sys.executable, str(script), "--host", cfg.host, "--port", str(cfg.port), *extra]

    return build


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_context_size_for() -> None:
    assert context_size_for(0, 0) == 2048
    assert context_size_for(1000, 500) == 2048
    assert context_size_for(2000, 500) == 3072  # 2756 -> 3072
    assert context_size_for(3000, 2048) == 6144  # 5304 -> 6144
    assert context_size_for(8192 - 256, 0) == 8192
    assert context_size_for(8192 - 255, 0) == 9216
    assert context_size_for(100_000, 4096) == 32768
    assert all(context_size_for(n, 512) % 1024 == 0 for n in range(0, 40_000, 777))


def test_llama_server_command(model: Path) -> None:
    cfg = LaunchConfig(model=model, host="127.0.0.1", port=1234, n_ctx=4096, n_threads=2)
    cmd = llama_server_command(cfg)
    assert cmd[:3] == [sys.executable, "-m", "llama_cpp.server"]
    joined = " ".join(cmd)
    for part in ("--n_ctx 4096", "--port 1234", "--n_threads 2", "--model_alias", str(model)):
        assert part in joined
    assert "--chat_format" not in cmd


@pytest.mark.slow
def test_start_health_stop(fake_script: Path, model: Path) -> None:
    server = LocalServer(model, n_ctx=4096, command=fake_command(fake_script, "--delay", "0.5"))
    with server:
        assert server.is_running()
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.base_url.endswith("/v1")
        assert probe_health(server.base_url)
        assert server.info.n_ctx == 4096
        pid = server.pid
        assert pid is not None
        log = server.log_path
        assert log is not None and log.exists()
    assert not server.is_running()
    assert wait_gone(pid)
    assert not log.exists()  # an ephemeral server's own log is removed on a clean stop
    with pytest.raises(LocalModelError, match="not running"):
        _ = server.base_url


@pytest.mark.slow
async def test_async_context_manager(fake_script: Path, model: Path) -> None:
    async with LocalServer(model, command=fake_command(fake_script)) as server:
        assert probe_health(server.base_url)
        pid = server.pid
    assert pid is not None and wait_gone(pid)


@pytest.mark.slow
def test_stop_kills_the_whole_process_group(fake_script: Path, model: Path) -> None:
    server = LocalServer(model, command=fake_command(fake_script, "--child"))
    server.start()
    log = server.log_path
    assert log is not None
    child = int(next(line for line in log.read_text().splitlines() if line.startswith("CHILD"))[6:])
    assert pid_alive(child)
    server.stop()
    assert wait_gone(child)


@pytest.mark.slow
def test_early_exit_reports_log_tail(fake_script: Path, model: Path) -> None:
    server = LocalServer(
        model, command=fake_command(fake_script, "--fail", "ValueError: bad model file xyz")
    )
    with pytest.raises(LocalModelError) as info:
        server.start()
    err = info.value
    assert "exited during start-up" in err.message
    assert "exit code 3" in err.message
    assert "bad model file xyz" in err.message
    assert err.context["exit_code"] == 3


@pytest.mark.slow
def test_startup_timeout(fake_script: Path, model: Path) -> None:
    server = LocalServer(
        model, startup_timeout=1.0, command=fake_command(fake_script, "--delay", "30")
    )
    with pytest.raises(LocalModelError, match="did not become healthy"):
        server.start()
    assert not server.is_running()


def test_missing_llama_cpp_is_explained(monkeypatch: pytest.MonkeyPatch, model: Path) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llama_cpp" else real(name, *a),
    )
    with pytest.raises(LocalModelError) as info:
        LocalServer(model).start()
    assert "pip install 'llmx[local]'" in info.value.message
    assert "llama_cpp" in info.value.context["missing_modules"]


ORPHAN_PARENT = textwrap.dedent(
    """
    import sys, threading, time
    sys.path.insert(0, sys.argv[3])
    from pathlib import Path
    from llmx._local.server import LocalServer
    script, model = sys.argv[1], Path(sys.argv[2])
    cmd = lambda c: [sys.executable, script, "--host", c.host, "--port", str(c.port)]
    box = []
    # start from a short-lived thread: PDEATHSIG must still be tied to the process
    t = threading.Thread(target=lambda: box.append(LocalServer(model, command=cmd).start()))
    t.start(); t.join()
    print(box[0].pid, flush=True)
    time.sleep(600)
    """
)


@pytest.mark.slow
def test_no_orphan_after_parent_sigkill(fake_script: Path, model: Path) -> None:
    repo = str(Path(__file__).resolve().parents[1])
    parent = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_PARENT, str(fake_script), str(model), repo],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        server_pid = int(parent.stdout.readline())
        time.sleep(0.5)  # the starting thread has exited by now
        assert pid_alive(server_pid), "server died with the thread that started it"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        assert wait_gone(server_pid), "server outlived its SIGKILLed parent"
    finally:
        if parent.poll() is None:
            parent.kill()


SIGTERM_PARENT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[3])
    from pathlib import Path
    from llmx._local.server import LocalServer
    script, model = sys.argv[1], Path(sys.argv[2])
    cmd = lambda c: [sys.executable, script, "--host", c.host, "--port", str(c.port)]
    s = LocalServer(model, command=cmd, die_with_parent=True)
    s.start()
    print(s.pid, flush=True)
    time.sleep(600)
    """
)


@pytest.mark.slow
def test_sigterm_of_parent_stops_server(fake_script: Path, model: Path) -> None:
    repo = str(Path(__file__).resolve().parents[1])
    parent = subprocess.Popen(
        [sys.executable, "-c", SIGTERM_PARENT, str(fake_script), str(model), repo],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    server_pid = int(parent.stdout.readline())
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=15) == -signal.SIGTERM
    assert wait_gone(server_pid)


@pytest.mark.slow
def test_detached_server_start_status_reuse_stop(fake_script: Path, model: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    assert running_server(data) is None
    assert stop_detached(data) is None

    info, started = start_detached(
        model, data_dir=data, n_ctx=4096, command=fake_command(fake_script)
    )
    try:
        assert started
        state = json.loads((data / "local-server.json").read_text())
        assert {"pid", "port", "base_url", "model", "n_ctx", "started"} <= state.keys()
        assert state["pid"] == info.pid and state["n_ctx"] == 4096
        assert read_state(data) == info

        assert running_server(data) == info
        assert running_server(data, min_n_ctx=8192) is None
        status = server_status(data)
        assert status.alive and status.healthy

        again, started_again = start_detached(
            model, data_dir=data, command=fake_command(fake_script)
        )
        assert not started_again and again == info
        assert (data / "logs" / "local-server.log").exists()
    finally:
        stopped = stop_detached(data)
    assert stopped == info
    assert wait_gone(info.pid)
    assert not (data / "local-server.json").exists()
    assert running_server(data) is None


def test_stale_state_is_cleaned(tmp_path: Path, model: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state = {
        "pid": dead.pid,
        "port": 1,
        "base_url": "http://127.0.0.1:1/v1",
        "model": str(model),
        "n_ctx": 2048,
        "started": time.time(),
    }
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "local-server.json").write_text(json.dumps(state))
    assert not server_status(tmp_path).alive
    assert running_server(tmp_path) is None
    assert not (tmp_path / "local-server.json").exists()


def test_cli_status_stop_and_model(tmp_path: Path, model: Path) -> None:
    from llmx._cli.local import app

    runner = CliRunner()
    env = {"LLMX_DATA_DIR": str(tmp_path), "LLMX_LOCAL_MODEL": str(model)}
    result = runner.invoke(app, ["status"], env=env)
    assert result.exit_code == 1 and "no local model server" in result.output
    result = runner.invoke(app, ["status", "--json"], env=env)
    assert json.loads(result.output)["running"] is False
    result = runner.invoke(app, ["stop"], env=env)
    assert result.exit_code == 0 and "no local model server was running" in result.output
    result = runner.invoke(app, ["model"], env=env)
    assert result.exit_code == 0 and result.output.strip() == str(model)

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"nope")
    result = runner.invoke(app, ["model"], env={**env, "LLMX_LOCAL_MODEL": str(bad)})
    assert result.exit_code == 2


def test_estimate_context_and_identity(model: Path) -> None:
    from llmx._local.endpoint import estimate_context, model_identity
    from llmx._local.model import BUNDLED_MODEL

    # 6000 chars + 2048 overhead + one re-ask's 2048 + the 2048 answer + margin
    assert estimate_context(6000, 2048) == 13312
    assert estimate_context(100, 256) == 3072
    assert estimate_context(10**6, 2048) == 32768
    assert model_identity(model) == f"llmx-local:model.gguf:{model.stat().st_size}"
    bundled = Path("/nonexistent") / BUNDLED_MODEL.filename
    assert model_identity(bundled).endswith(BUNDLED_MODEL.sha256[:16])


def test_recommended_request_options() -> None:
    from llmx._local import json_object_response_format, recommended_request_options

    opts = recommended_request_options()
    assert opts["mode"] == "json_object_schema"
    assert opts["temperature"] == 0
    assert opts["extra_body"] == {"repeat_penalty": 1.0}
    assert opts["chat_format"] is None
    assert json_object_response_format({"type": "object"}) == {
        "type": "json_object",
        "schema": {"type": "object"},
    }
