"""The web process as production runs it: gunicorn exactly as the Dockerfile's CMD, DEBUG=0, behind compose's nginx.

Real processes on loopback: static files served by the app, slow clients that
cannot starve /health, a forged X-Forwarded-For that does not reset the throttle,
and `check --deploy` clean with the documented production environment.
"""

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from jobs.tests.utils import wait_for
from scribes.localredis import free_port
from scribes.tests.test_deployment import ROOT, compose, dockerfile_cmd

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HTTPS = {"X-Forwarded-Proto": "https"}  # as the proxy says for a client that came over TLS


def documented_environment() -> dict[str, str]:
    """docker/.env.example, plus what compose.yaml sets for the web service, with a real secret."""
    env = {}
    for line in (ROOT / "docker" / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value
    env.update({k: str(v) for k, v in compose()["services"]["web"]["environment"].items()})
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    return env


def production_env(subprocess_env, var_dir: Path, **extra) -> dict[str, str]:
    env = {
        **subprocess_env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
        "SCRIBES_VAR_DIR": str(var_dir),
        "SEMANTIC_EMBEDDER": "hashing",
    }
    env.update(extra)
    return env


def get(url: str, headers=None) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, headers={**HTTPS, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers


def post_json(url: str, body: bytes, headers=None) -> int:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={**HTTPS, "Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class Server:
    """A child process in its own session, its output in a file; stopped (and its group) at the end."""

    def __init__(self, argv, env, log: Path, cwd=ROOT):
        self.log = log
        self.process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def wait_until_serving(base: str, server: Server):
    def up():
        assert server.process.poll() is None, server.output()[-3000:]
        try:
            return get(base + "/health")[0] in (200, 503)
        except OSError:
            return False

    wait_for(up, timeout=90, interval=0.3, what=f"{base}/health")


def serve(argv: list[str], env: dict, log: Path, port: int) -> tuple[str, Server]:
    """Start `argv` listening on `port` and wait for its /health; a process that never serves is stopped."""
    server = Server(argv, env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, server)
    except BaseException:
        server.stop()
        raise
    return base, server


@pytest.fixture(scope="module")
def collected_static(tmp_path_factory) -> Path:
    """The image's build step (`collectstatic` with DEBUG=0), run once: it reads the code, never the database.

    WhiteNoise compresses every file twice (gzip and Brotli), about a minute and a half here.
    """
    var = tmp_path_factory.mktemp("image") / "var"
    var.mkdir()
    base = {**os.environ, "DJANGO_SETTINGS_MODULE": "scribes.settings", "PYTHONPATH": str(ROOT)}
    manage = [sys.executable, str(ROOT / "manage.py"), "collectstatic", "--noinput", "-v", "0"]
    subprocess.run(manage, env=production_env(base, var), check=True, cwd=ROOT)
    return var / "static"


@pytest.fixture
def var_dir(tmp_path, collected_static):
    """The image's var directory after its build step: a copy per test, so no test sees another's files."""
    shutil.copytree(collected_static, tmp_path / "var" / "static")
    return tmp_path / "var"


def run_gunicorn(var_dir, subprocess_env, log: Path, **extra):
    """The Dockerfile's CMD, unchanged but for the port it binds."""
    port = free_port()
    argv = dockerfile_cmd()
    bind = argv.index("--bind") + 1
    assert argv[bind] == "0.0.0.0:8000"
    argv[bind] = f"127.0.0.1:{port}"
    env = production_env(subprocess_env, var_dir, THROTTLE_AUTH="3/min", NUM_PROXIES="1", **extra)
    base, server = serve(argv, env, log, port)
    return base, port, server


@pytest.fixture
def gunicorn(var_dir, subprocess_env, tmp_path, redis_conn):
    base, port, server = run_gunicorn(var_dir, subprocess_env, tmp_path / "gunicorn.log")
    try:
        yield base, port, server
    finally:
        server.stop()


@pytest.fixture
def gunicorn_behind_proxy(var_dir, subprocess_env, tmp_path, redis_conn):
    # This nginx listens on plain HTTP (TLS is configured per site, see README):
    # without a redirect to HTTPS the requests it passes reach the views.
    base, port, server = run_gunicorn(var_dir, subprocess_env, tmp_path / "gunicorn.log", SECURE_SSL_REDIRECT="0")
    try:
        yield base, port, server
    finally:
        server.stop()


def start_nginx(app_port: int, tmp_path: Path) -> tuple[str, Server]:
    """docker/nginx.conf in front of `app_port`, with only its upstream address, port and pid file changed."""
    if not Path(NGINX).exists():
        pytest.fail("nginx is missing: `make test` installs Debian's nginx (or apt-get install nginx-light)")
    port = free_port()
    conf = (ROOT / "docker" / "nginx.conf").read_text()
    for old, new in [
        ("server web:8000;", f"server 127.0.0.1:{app_port};"),
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("pid /var/run/nginx.pid;", f"pid {tmp_path}/nginx.pid;"),
    ]:
        assert old in conf, old
        conf = conf.replace(old, new)
    (tmp_path / "nginx.conf").write_text(conf)
    argv = [NGINX, "-c", str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "nginx-error.log"), "-g", "daemon off;"]
    return serve(argv, os.environ.copy(), tmp_path / "nginx.log", port)


@pytest.fixture
def nginx(gunicorn_behind_proxy, tmp_path):
    _, app_port, _ = gunicorn_behind_proxy
    base, server = start_nginx(app_port, tmp_path)
    try:
        yield base
    finally:
        server.stop()


def stall(port: int, count: int) -> list[socket.socket]:
    """`count` requests that announce a body and never send it (the slow-loris of the issue)."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(
            b"POST /auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'X-Forwarded-Proto: https\r\nContent-Length: 100000\r\n\r\n{"user'
        )
        sockets.append(sock)
    return sockets


def test_static_files_are_served_by_the_app_with_debug_off(gunicorn):
    base, _, server = gunicorn
    status, css, headers = get(base + "/static/admin/css/base.css", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers.get("Content-Encoding") == "gzip", headers
    status, page, _ = get(base + "/docs")
    assert status == 200
    assets = set(re.findall(r"""(?:src|href)=["']?(/static/[^"' >]+)""", page.decode()))
    names = " ".join(re.sub(r"\.[0-9a-f]{12}\.", ".", asset) for asset in assets)  # hashed names
    assert names != " ".join(assets), assets
    for expected in ("swagger-ui-bundle", "swagger-ui-standalone-preset", "swagger-ui.css"):
        assert expected in names, (expected, assets)
    for asset in assets:
        status, body, headers = get(base + asset)
        assert status == 200 and body, (asset, status)
        # Hashed names (collectstatic's manifest) are cached for good.
        assert "immutable" in headers.get("Cache-Control", "") or "max-age" in headers.get("Cache-Control", "")
    status, admin_page, _ = get(base + "/admin/login/")
    admin_css = re.findall(r'href="(/static/admin/css/[^"]+)"', admin_page.decode())
    assert status == 200 and admin_css and all(get(base + href)[0] == 200 for href in admin_css)
    assert "Traceback" not in server.output()


def test_production_defaults_redirect_plain_http_but_not_the_health_probe(gunicorn):
    base, _, _ = gunicorn
    request = urllib.request.Request(base + "/notes")  # no X-Forwarded-Proto: plain HTTP

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.build_opener(NoRedirect).open(request, timeout=10)
    assert caught.value.code == 301 and caught.value.headers["Location"].startswith("https://")
    with urllib.request.urlopen(base + "/health", timeout=10) as response:
        assert response.status == 200


def test_stalled_requests_do_not_block_health_on_gunicorn_itself(gunicorn):
    base, port, _ = gunicorn
    # More stalled requests than the Dockerfile starts workers: sync workers would all be stuck.
    workers = int(dockerfile_cmd()[dockerfile_cmd().index("--workers") + 1])
    held = stall(port, workers * 3)
    try:
        for _ in range(3):
            assert get(base + "/health")[0] == 200
    finally:
        for sock in held:
            sock.close()


def test_stalled_requests_through_the_compose_proxy_never_reach_the_app(gunicorn_behind_proxy, nginx):
    _, _, server = gunicorn_behind_proxy
    held = stall(int(nginx.rsplit(":", 1)[1]), 20)
    try:
        for _ in range(3):
            assert get(nginx + "/health")[0] == 200
    finally:
        for sock in held:
            sock.close()
    # nginx buffers a request body in full before calling the app: none of the stalled POSTs got through.
    assert "POST /auth/token" not in server.output()


def test_forged_x_forwarded_for_through_the_proxy_does_not_reset_the_login_throttle(nginx):
    body = b'{"username": "nobody", "password": "wrong"}'
    codes = [post_json(nginx + "/auth/token", body) for _ in range(3)]
    assert codes == [401, 401, 401]
    forged = [post_json(nginx + "/auth/token", body, {"X-Forwarded-For": f"203.0.113.{i}"}) for i in range(4)]
    assert forged == [429] * 4


def test_check_deploy_is_clean_with_the_documented_environment(subprocess_env, manage_py, tmp_path):
    env = {**subprocess_env, **documented_environment(), "SCRIBES_VAR_DIR": str(tmp_path)}
    for key in ("DATABASE_URL", "REDIS_URL", "SQLITE_PATH"):  # this machine's, not compose's hosts
        if key in subprocess_env:
            env[key] = subprocess_env[key]
        else:
            env.pop(key, None)
    result = subprocess.run(
        [*manage_py, "check", "--deploy", "--fail-level", "WARNING"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    "key", ["change-me-to-a-long-random-string", "short-but-random-9f8e7d", "x" * 60, "<from .env.example>"]
)
def test_the_secret_key_check_refuses_placeholders_and_short_keys(subprocess_env, manage_py, tmp_path, key):
    env = {**subprocess_env, **documented_environment(), "SCRIBES_VAR_DIR": str(tmp_path)}
    for name in ("DATABASE_URL", "REDIS_URL"):
        env[name] = subprocess_env.get(name, "")
    env["SECRET_KEY"] = (
        next(
            line.split("=", 1)[1]
            for line in (ROOT / "docker" / ".env.example").read_text().splitlines()
            if line.startswith("SECRET_KEY=")
        )
        if key == "<from .env.example>"
        else key
    )
    result = subprocess.run([*manage_py, "check", "--deploy"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    assert "scribes.E001" in result.stderr + result.stdout
