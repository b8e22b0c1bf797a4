"""A threaded HTTP server for the simulator (standard library only).

``with SimulatorServer(sim) as srv: requests.post(srv.base_url + '/auth/challenge')``.
It binds 127.0.0.1 by default; a ``drop_before`` / ``drop_after`` fault closes the TCP
connection without an answer, so the client really sees a ``ConnectionError``.
"""

from __future__ import annotations

import io
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .app import KsefSimulator

_log = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once (no 40 ms delayed-ACK stall)
    server_version = "KsefSimulator/2.6"

    def version_string(self):
        return self.server_version

    def _serve(self):
        simulator = self.server.simulator
        path, _, query = self.path.partition("?")
        if path.startswith(("http://", "https://")):  # absolute-form request target
            path = "/" + path.split("/", 3)[-1] if path.count("/") >= 3 else "/"
        environ = {
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REMOTE_ADDR": self.client_address[0],
            "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
            "wsgi.url_scheme": "http",
        }
        for name, value in self.headers.items():
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif key == "CONTENT_LENGTH":
                environ["CONTENT_LENGTH"] = value
            else:
                environ["HTTP_" + key] = value
        limit = simulator.config.max_body_bytes
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body, complete = self._read_chunked(limit)
            environ["CONTENT_LENGTH"] = str(len(body)) if complete else str(limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            if not complete:
                self.close_connection = True
        else:
            environ["wsgi.input"] = self.rfile
            try:
                if int(self.headers.get("Content-Length") or 0) > limit:
                    self.close_connection = True  # the unread body would corrupt the next request
            except ValueError:
                environ["CONTENT_LENGTH"] = "0"
                self.close_connection = True

        status, headers, body, drop = simulator.handle(environ)
        if drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                _log.debug("the client had already closed the connection")
            return
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD" and body:
            self._headers_buffer.append(body)  # one write for headers and body
        self.flush_headers()

    def _read_chunked(self, limit):
        data = bytearray()
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            except ValueError:
                return bytes(data), False
            if size == 0:
                while self.rfile.readline(65537).strip():  # trailers
                    pass
                return bytes(data), True
            if len(data) + size > limit:
                return bytes(data), False
            data += self.rfile.read(size)
            self.rfile.readline(65537)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        if self.server.verbose:
            _log.info("%s - %s", self.client_address[0], format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address, simulator, verbose):
        self.simulator = simulator
        self.verbose = verbose
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address):  # a client vanishing is not an error
        _log.debug("connection from %s ended abruptly", client_address[0])


class SimulatorServer:
    """Serve ``simulator`` on ``host:port`` (port 0 = a free one) in a background thread.

    ``base_url`` is ``http://host:port/v2``.  Use as a context manager or call
    :meth:`start` / :meth:`stop`.
    """

    def __init__(self, simulator=None, host="127.0.0.1", port=0, *, verbose=False):
        self.simulator = simulator or KsefSimulator()
        self._server = _Server((host, port), self.simulator, verbose)
        self._thread = None

    @property
    def host(self):
        return self._server.server_address[0]

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def base_url(self):
        return f"http://{self.host}:{self.port}/v2"

    def start(self):
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"ksef-simulator:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self):
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def serve(host="127.0.0.1", port=8090, simulator=None, *, verbose=True, on_ready=None):
    """Serve in the foreground until interrupted (Ctrl-C).

    ``on_ready(base_url)`` is called once the socket is bound (e.g. to print a banner).
    """
    server = _Server((host, port), simulator or KsefSimulator(), verbose)
    if on_ready is not None:
        on_ready(f"http://{host}:{server.server_address[1]}/v2")
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        _log.info("KSeF simulator stopped")
    finally:
        server.server_close()
