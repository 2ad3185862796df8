"""The shipped nginx snippet, rendered with test addresses, run by a foreground nginx child process.

Everything nginx writes (pid, logs, temp files) goes under a temporary directory, so it runs as
any user. The main configuration around the snippet is only what a test run needs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from app.dev.localredis import stop_process

SNIPPET = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "clever-login.conf"
# Where Debian and most distributions put nginx, often outside a non-root PATH.
_SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin")
_TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def find_nginx() -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN_DIRS])
    return shutil.which("nginx", path=path)


def unusable_reason(binary: str | None) -> str | None:
    """Why the tests cannot run this nginx, or None when they can."""
    if binary is None:
        return "nginx is not installed (`make test` installs nginx-light on Debian)"
    built = subprocess.run(  # noqa: S603 - the nginx found above, a fixed argument
        [binary, "-V"], capture_output=True, text=True, check=False
    )
    if "--with-http_auth_request_module" not in built.stderr:
        return f"{binary} was built without the auth_request module"
    return None


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the snippet should contain {old!r} exactly once"
    return text.replace(old, new)


def render_snippet(*, listen_port: int, backend: str, app: str, backend_keepalive: bool = True) -> str:
    """The shipped snippet with test addresses (`host:port`) in place of its placeholders.

    `backend_keepalive=False` drops the connection pool towards the backend, for comparison.
    """
    text = SNIPPET.read_text()
    text = _replace_once(text, "listen 80;", f"listen 127.0.0.1:{listen_port};")
    text = _replace_once(text, "server clever-login:8000;", f"server {backend};")
    text = _replace_once(text, "server app:8080;", f"server {app};")
    if not backend_keepalive:
        block = re.search(r"upstream clever_login \{.*?\n\}", text, flags=re.DOTALL)
        assert block is not None
        pooled = block.group(0)
        plain = re.sub(r"\n\s*keepalive\w* [^;]*;", "", pooled)
        assert plain != pooled
        text = text.replace(pooled, plain)
    return text


def main_config(directory: Path, snippet: Path) -> str:
    temp_paths = "\n".join(f"    {name}_temp_path {directory / name};" for name in _TEMP_DIRS)
    return f"""
worker_processes 1;
events {{
    worker_connections 256;
}}
http {{
{temp_paths}
    access_log {directory / "access.log"};
    include {snippet};
}}
"""


@contextlib.contextmanager
def running_nginx(binary: str, directory: Path, snippet: str, port: int) -> Iterator[str]:
    """nginx in the foreground with `snippet` in its http context, listening on `port`.

    Yields its base URL; stops it on exit. On a failure, the error log is in the message.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for name in _TEMP_DIRS:
        (directory / name).mkdir(exist_ok=True)
    snippet_file = directory / "clever-login.conf"
    snippet_file.write_text(snippet)
    config = directory / "nginx.conf"
    config.write_text(main_config(directory, snippet_file))
    error_log = directory / "error.log"
    globals_ = f"daemon off; pid {directory / 'nginx.pid'}; error_log {error_log} warn;"
    with (directory / "output.log").open("w") as output:
        proc = subprocess.Popen(  # noqa: S603 - the nginx found by find_nginx, our own arguments
            [binary, "-p", str(directory), "-e", str(error_log), "-c", str(config), "-g", globals_],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_listening(proc, port, error_log)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_process(proc, timeout=10)


def _wait_until_listening(proc: subprocess.Popen[bytes], port: int, error_log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"nginx exited with {proc.returncode}:\n{_read(error_log)}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise AssertionError(f"nginx did not listen on {port} within 10 s:\n{_read(error_log)}")


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else "(no error log)"
