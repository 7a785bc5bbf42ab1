"""The OpenAI-compatible teacher client against a local scripted server: replies, retries, clear failures, and
nothing that hangs or leaks the key."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orca_ray.config import TeacherConfig
from orca_ray.distributed.teacher import OpenAITeacher, check_endpoint
from orca_ray.errors import TeacherError

SECRET = "sk-test-0123456789-secret"


class _Script:
    """Statuses to answer, in order (the last repeats); records what arrived."""

    def __init__(self, statuses, delay_s=0.0, headers=None):
        self.statuses = list(statuses)
        self.delay_s = delay_s
        self.headers = headers or {}  # sent with every answer but a 200
        self.bodies: list[dict] = []
        self.auth: list[str | None] = []


def _serve(script: _Script):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            script.bodies.append(body)
            script.auth.append(self.headers.get("Authorization"))
            status = script.statuses.pop(0) if len(script.statuses) > 1 else script.statuses[0]
            time.sleep(script.delay_s)
            if self.path != "/v1/chat/completions":
                status = 404
            payload = (
                {
                    "choices": [
                        {"message": {"content": f"reply {i} to {body['messages'][-1]['content']}"}}
                        for i in range(body.get("n", 1))
                    ]
                }
                if status == 200
                else {"error": "nope"}
            )
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            for name, value in script.headers.items() if status != 200 else ():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def endpoint(request):
    script = request.param if hasattr(request, "param") else _Script([200])
    server = _serve(script)
    yield script, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def _teacher(base_url, **kw):
    return OpenAITeacher(
        TeacherConfig(backend="openai", model="teacher-70b", base_url=base_url, api_key_env="ORCA_TEST_KEY", **kw)
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_replies_in_order_with_n_and_key(endpoint, monkeypatch):
    monkeypatch.setenv("ORCA_TEST_KEY", SECRET)
    script, url = endpoint
    texts = _teacher(url).chat([[{"role": "user", "content": f"q{i}"}] for i in range(5)], {"n": 2, "max_tokens": 8})
    assert texts == [[f"reply 0 to q{i}", f"reply 1 to q{i}"] for i in range(5)]
    assert script.auth == [f"Bearer {SECRET}"] * 5
    assert script.bodies[0]["model"] == "teacher-70b" and script.bodies[0]["max_tokens"] == 8


@pytest.mark.parametrize("endpoint", [_Script([503, 429, 200])], indirect=True)
def test_transient_errors_are_retried(endpoint):
    script, url = endpoint
    assert _teacher(url, max_retries=3).chat([[{"role": "user", "content": "q"}]], {}) == [["reply 0 to q"]]
    assert len(script.bodies) == 3


@pytest.mark.parametrize("endpoint", [_Script([429, 200], headers={"Retry-After": "1"})], indirect=True)
def test_retry_after_is_honoured(endpoint):
    """The SDK waits as long as the server asks (our own loop ignored Retry-After, backing off 0.5 s)."""
    script, url = endpoint
    started = time.perf_counter()
    assert _teacher(url, max_retries=1).chat([[{"role": "user", "content": "q"}]], {}) == [["reply 0 to q"]]
    assert len(script.bodies) == 2 and time.perf_counter() - started >= 0.95


@pytest.mark.parametrize("endpoint", [_Script([503])], indirect=True)
def test_retries_run_out_with_the_last_status(endpoint):
    script, url = endpoint
    with pytest.raises(TeacherError, match=r"failed after 2 attempts: .* answered HTTP 503"):
        _teacher(url, max_retries=1).chat([[{"role": "user", "content": "q"}]], {})
    assert len(script.bodies) == 2


def test_the_key_comes_only_from_teacher_api_key_env(endpoint, monkeypatch):
    """Not from the SDK's own OPENAI_API_KEY: a run names the variable that holds its teacher's key."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("ORCA_TEST_KEY", raising=False)
    script, url = endpoint
    _teacher(url).chat([[{"role": "user", "content": "q"}]], {})
    assert SECRET not in str(script.auth)


@pytest.mark.parametrize("endpoint", [_Script([401])], indirect=True)
def test_refused_key_fails_at_once_without_leaking_it(endpoint, monkeypatch, caplog):
    monkeypatch.setenv("ORCA_TEST_KEY", SECRET)
    script, url = endpoint
    with pytest.raises(TeacherError, match=r"refused the API key from \$ORCA_TEST_KEY") as err:
        _teacher(url, max_retries=5).chat([[{"role": "user", "content": "q"}]], {})
    assert len(script.bodies) == 1  # not retried
    assert SECRET not in str(err.value) and SECRET not in caplog.text


@pytest.mark.parametrize("endpoint", [_Script([200])], indirect=True)
def test_wrong_path_names_base_url_and_model(endpoint):
    _, url = endpoint
    with pytest.raises(TeacherError, match="check teacher.base_url"):
        _teacher(url.removesuffix("/v1") + "/api").chat([[{"role": "user", "content": "q"}]], {})


def test_refused_connection_fails_clearly_within_its_budget():
    url = f"http://127.0.0.1:{_free_port()}/v1"
    started = time.perf_counter()
    with pytest.raises(TeacherError, match="connection refused"):
        _teacher(url, max_retries=2, timeout_s=2).chat([[{"role": "user", "content": "q"}]], {})
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("endpoint", [_Script([200], delay_s=1.5)], indirect=True)
def test_slow_endpoint_times_out(endpoint):
    _, url = endpoint
    started = time.perf_counter()
    with pytest.raises(TeacherError, match=r"within teacher.timeout_s=0.3"):
        _teacher(url, max_retries=1, timeout_s=0.3).chat([[{"role": "user", "content": "q"}]], {})
    assert time.perf_counter() - started < 4


# ---------------------------------------------------------------- check_endpoint: before a job starts (issue 22)


def _get_server(status: int):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_check_endpoint_names_the_setting_and_the_url_of_a_dead_endpoint():
    url = f"http://127.0.0.1:{_free_port()}/v1"
    started = time.perf_counter()
    with pytest.raises(TeacherError) as err:
        check_endpoint(TeacherConfig(backend="openai", model="m", base_url=url))
    assert str(err.value) == (
        f"cannot connect to teacher.base_url={url} (connection refused: is the server running, and is "
        "teacher.base_url right?)"
    )
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("status", [200, 404, 501])
def test_check_endpoint_accepts_any_server_that_answers(status):
    server = _get_server(status)
    try:
        check_endpoint(TeacherConfig(backend="openai", model="m", base_url=f"http://127.0.0.1:{server.server_port}/v1"))
    finally:
        server.shutdown()


def test_check_endpoint_refuses_a_refused_key(monkeypatch):
    monkeypatch.setenv("ORCA_TEST_KEY", SECRET)
    server = _get_server(401)
    try:
        config = TeacherConfig(
            backend="openai",
            model="m",
            base_url=f"http://127.0.0.1:{server.server_port}/v1",
            api_key_env="ORCA_TEST_KEY",
        )
        with pytest.raises(TeacherError, match=r"refused the API key from \$ORCA_TEST_KEY") as err:
            check_endpoint(config)
        assert SECRET not in str(err.value)
    finally:
        server.shutdown()
