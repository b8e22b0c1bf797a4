"""Serve ``requests`` calls in-process, without sockets.

``session.mount('http://ksef-sandbox.invalid/', WsgiAdapter(sim))`` routes every request
for that prefix straight into the simulator.  Faults behave as over HTTP: ``latency`` delays
the answer (a shorter read timeout raises ``requests.exceptions.ReadTimeout`` while the
simulator still acts, as a real server would), ``drop_*`` raise
``requests.exceptions.ConnectionError``.
"""

from __future__ import annotations

import io
import threading
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from .web import REASONS

SANDBOX_BASE_URL = "http://ksef-sandbox.invalid/v2"


class WsgiAdapter(BaseAdapter):
    """A transport adapter calling :meth:`KsefSimulator.handle` directly.

    ``client_ip`` is what the simulator sees as the caller's address (for ``clientIp`` and
    ``authorizationPolicy`` checks).
    """

    def __init__(self, simulator, client_ip="127.0.0.1"):
        super().__init__()
        self.simulator = simulator
        self.client_ip = client_ip

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        environ = self._environ(request)
        read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
        if read_timeout is None:
            result = self.simulator.handle(environ)
        else:
            result = self._handle_with_timeout(environ, read_timeout, request)
        status, headers, body, drop = result
        if drop:
            raise requests.exceptions.ConnectionError(
                "Connection aborted: the KSeF simulator dropped the connection", request=request
            )
        return self._response(request, status, headers, body)

    def _handle_with_timeout(self, environ, timeout, request):
        box = {}

        def run():
            box["result"] = self.simulator.handle(environ)

        worker = threading.Thread(target=run, name="ksef-simulator-inprocess", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():  # the simulator goes on and acts, like a slow real server
            raise requests.exceptions.ReadTimeout(
                f"Read timed out (in-process simulator, timeout={timeout})", request=request
            )
        return box["result"]

    def _environ(self, request):
        url = urlsplit(request.url)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes | bytearray):
            if hasattr(body, "read"):
                body = body.read()
            else:
                body = b"".join(
                    part if isinstance(part, bytes) else str(part).encode("utf-8") for part in body
                )
        environ = {
            "REQUEST_METHOD": request.method.upper(),
            "PATH_INFO": url.path or "/",
            "QUERY_STRING": url.query,
            "REMOTE_ADDR": self.client_ip,
            "SERVER_NAME": url.hostname or "localhost",
            "SERVER_PORT": str(url.port or 80),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(bytes(body)),
            "wsgi.url_scheme": url.scheme or "http",
        }
        for name, value in request.headers.items():
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif key != "CONTENT_LENGTH":
                environ["HTTP_" + key] = value
        return environ

    @staticmethod
    def _response(request, status, headers, body):
        response = requests.Response()
        response.status_code = status
        response.reason = REASONS.get(status, "Unknown")
        response.headers = CaseInsensitiveDict(headers)
        response._content = body
        response.raw = io.BytesIO(body)
        response.url = request.url
        response.request = request
        response.encoding = "utf-8"
        response.connection = None
        return response

    def close(self):
        pass


def in_process_session(simulator, base_url=SANDBOX_BASE_URL, client_ip="127.0.0.1"):
    """A ``requests.Session`` wired to ``simulator``; returns ``(session, base_url)``."""
    session = requests.Session()
    split = urlsplit(base_url)
    session.mount(f"{split.scheme}://{split.netloc}/", WsgiAdapter(simulator, client_ip=client_ip))
    return session, base_url.rstrip("/")
