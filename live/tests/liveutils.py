"""Helpers for tests against a real ASGI server: start uvicorn, read Server-Sent Events over a socket."""

from __future__ import annotations

import http.client
import json
import socket
import sys
import time
from pathlib import Path

from jobs.tests.faultutils import Child


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class AsgiServer(Child):
    """`uvicorn scribes.asgi:application`, one worker process, as production's web process runs it."""

    def __init__(self, env: dict, log_path: Path, *, extra_env: dict | None = None):
        self.port = free_port()
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "scribes.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        super().__init__(command, {**env, **(extra_env or {})}, log_path)
        self._wait_until_up()

    def _wait_until_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"uvicorn exited:\n{self.output()}")
            try:
                status, _ = self.get("/health")
            except OSError:
                time.sleep(0.2)
                continue
            if status in (200, 503):
                return
        raise AssertionError(f"uvicorn did not answer within {timeout} s:\n{self.output()}")

    def get(self, path: str, headers: dict | None = None, timeout: float = 10) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


class SseClient:
    """One open `GET .../events` stream, read frame by frame."""

    def __init__(self, port: int, path: str, headers: dict, timeout: float = 30):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.connection.request("GET", path, headers=headers)
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.comments = 0

    def next_event(self) -> dict | None:
        """The next event ({"id"?, "event", "data"}), or None when the server ended the stream."""
        fields: dict = {}
        while True:
            line = self.response.readline()
            if not line:
                return None
            line = line.decode().rstrip("\n")
            if not line:
                if "event" in fields:
                    fields["data"] = json.loads(fields["data"])
                    return fields
                fields = {}
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            name, _, value = line.partition(": ")
            fields[name] = value

    def events_until_end(self) -> list[dict]:
        out = []
        while (event := self.next_event()) is not None:
            out.append(event)
        return out

    def close(self) -> None:
        self.connection.close()
