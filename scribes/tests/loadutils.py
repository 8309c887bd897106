"""Helpers for tests that put many clients at once on a real web process: the Procfile's command, raw HTTP bursts."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import threading
import time
from pathlib import Path

from scribes.localredis import free_port
from scribes.tests.test_deployment import ROOT
from scribes.tests.test_production import Server, serve


def procfile_command(name: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        key, _, command = line.partition(":")
        if key.strip() == name:
            return command.strip()
    raise AssertionError(f"Procfile has no {name!r} process")


def web_env(subprocess_env: dict, var_dir: Path, **extra) -> dict:
    env = {
        **subprocess_env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SCRIBES_VAR_DIR": str(var_dir),
        "SEMANTIC_EMBEDDER": "hashing",
        "SEMANTIC_AUTO_EMBED": "0",
    }
    env.update({key: str(value) for key, value in extra.items()})
    return env


def start_procfile_web(env: dict, log: Path) -> tuple[str, int, Server]:
    """The Procfile's web command as honcho runs it (`sh -c`, $PORT set)."""
    port = free_port()
    base, server = serve(["sh", "-c", procfile_command("web")], {**env, "PORT": str(port)}, log, port)
    return base, port, server


def start_runserver(env: dict, log: Path) -> tuple[str, int, Server]:
    port = free_port()
    base, server = serve([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"], env, log, port)
    return base, port, server


def request_bytes(method: str, path: str, headers: dict | None = None, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Reply:
    def __init__(self, status: int, headers: dict, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def __repr__(self):
        return f"<Reply {self.status} {self.headers.get('retry-after')!r} {self.body[:120]!r}>"


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def burst(port: int, requests: list[tuple[bytes, bool]], *, hold: float, timeout: float) -> list[Reply]:
    """Open one connection per request first, then send them all at once.

    `requests` holds (raw request, is_stream). A plain reply is read to its end; a
    stream's head and first bytes are read, then it is held open `hold` seconds.
    Transport failures are Reply(0, {}, error).
    """
    go = asyncio.Event()

    async def one(raw: bytes, stream: bool) -> Reply:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        except (TimeoutError, OSError) as exc:
            return Reply(0, {}, repr(exc).encode())
        try:
            await go.wait()
            writer.write(raw)
            await writer.drain()
            status, headers = await asyncio.wait_for(_read_head(reader), timeout)
            if stream and status == 200:
                body = await asyncio.wait_for(reader.read(256), timeout)
                await asyncio.sleep(hold)
            else:
                body = await asyncio.wait_for(reader.read(), timeout)
            return Reply(status, headers, body)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            return Reply(0, {}, repr(exc).encode())
        finally:
            writer.close()

    tasks = [asyncio.ensure_future(one(raw, stream)) for raw, stream in requests]
    await asyncio.sleep(0.5)  # every connection opened (or failed) first
    go.set()
    return await asyncio.gather(*tasks)


class ConnectProbe(threading.Thread):
    """Another PostgreSQL client, connecting (and querying) every `interval` s until stopped; records failures."""

    def __init__(self, dsn: str, interval: float = 0.2):
        super().__init__(daemon=True)
        self.dsn, self.interval = dsn, interval
        self.stopped = threading.Event()
        self.successes = 0
        self.failures: list[str] = []

    def run(self):
        import psycopg

        while not self.stopped.is_set():
            try:
                with psycopg.connect(self.dsn, connect_timeout=5) as conn:
                    conn.execute("SELECT 1").fetchone()
                self.successes += 1
            except Exception as exc:  # any failure is what the test reports
                self.failures.append(repr(exc))
            time.sleep(self.interval)

    def stop(self):
        self.stopped.set()
        self.join(timeout=10)


def server_connections(dsn: str, database: str) -> int:
    """Connections the PostgreSQL server holds to `database` (the web process's, the test's own and a probe's)."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=5) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [database]).fetchone()[0]


def split_env_dsn(url: str) -> str:
    """A libpq DSN (postgres://...) with the query string dropped."""
    return url.split("?", 1)[0]


__all__ = [
    "ConnectProbe",
    "Reply",
    "burst",
    "request_bytes",
    "server_connections",
    "split_env_dsn",
    "start_procfile_web",
    "start_runserver",
    "web_env",
]
