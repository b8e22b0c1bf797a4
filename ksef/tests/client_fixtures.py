"""Test helpers of the KSeF client tests (imported by ``test_client_*.py``, ``test_scenarios.py``
and ``test_openapi_conformance.py``; not a conftest so that the shared conftest stays the
simulator's).

* :class:`OpenApiSpec` / :class:`OpenApiRecorder`: a ``requests`` response hook that validates
  every answer the client receives against the operation's response schema in
  ``openapi.json`` (``$ref`` resolved, OpenAPI ``nullable`` honoured, ``date-time`` and
  ``byte`` formats checked) and counts the calls;
* :class:`FakeTransport`: a scripted ``requests`` adapter for unit tests without a simulator;
* :func:`assert_no_secrets`: no token / JWT text in log records or exception strings.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from urllib.parse import urlsplit

import jsonschema
import pytest
import requests
from requests.adapters import BaseAdapter

from ksef.client import KsefClient, parse_datetime

# --- OpenAPI response validation --------------------------------------------------------------


def _openapi_to_jsonschema(node):
    """Copy of an OpenAPI 3.0 schema with ``nullable: true`` turned into ``anyOf [.., null]``."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _openapi_to_jsonschema(value) for key, value in node.items()}
    if out.pop("nullable", False):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _check_date_time(value):
    if not isinstance(value, str):
        return True
    parse_datetime(value)  # raises ValueError
    return True


def _check_byte(value):
    if not isinstance(value, str):
        return True
    base64.b64decode(value, validate=True)
    return True


FORMAT_CHECKER = jsonschema.FormatChecker(formats=())
FORMAT_CHECKER.checks("date-time", raises=ValueError)(_check_date_time)
FORMAT_CHECKER.checks("byte", raises=(binascii.Error, ValueError))(_check_byte)


class OpenApiSpec:
    """The operations and response schemas of ``openapi.json``."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as handle:
            self.document = json.load(handle)
        server = self.document.get("servers", [{}])[0].get("url", "")
        self.base_path = urlsplit(server).path.rstrip("/")  # '/v2'
        self.components = _openapi_to_jsonschema(self.document.get("components", {}))
        self._routes = []
        for template, operations in self.document["paths"].items():
            pattern = re.escape(template)
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", pattern)
            placeholders = template.count("{")
            self._routes.append((placeholders, re.compile(pattern + r"\Z"), template, operations))
        self._routes.sort(key=lambda route: route[0])  # literal segments win over {params}

    def operation(self, method, path):
        """``(template, operation)`` for a request path below the server URL, or ``None``."""
        if self.base_path and path.startswith(self.base_path):
            path = path[len(self.base_path) :]
        for _count, regex, template, operations in self._routes:
            if regex.match(path) and method.lower() in operations:
                return template, operations[method.lower()]
        return None

    def response_problems(self, method, path, status, content_type, body):
        """A list of problems (empty when the answer conforms)."""
        found = self.operation(method, path)
        if found is None:
            return [f"{method} {path}: not an operation of the spec"]
        template, operation = found
        where = f"{method} {template} -> {status}"
        spec = operation.get("responses", {}).get(str(status)) or operation["responses"].get(
            "default"
        )
        if spec is None:
            if 500 <= status <= 599:
                return []  # injected server failures are not documented per operation
            return [f"{where}: status not documented"]
        contents = spec.get("content") or {}
        if not contents:
            return [] if not body else [f"{where}: body sent where the spec has none"]
        media = (content_type or "").split(";")[0].strip().lower()
        if media not in contents:
            return [f"{where}: content type {media!r} not in {sorted(contents)}"]
        schema = contents[media].get("schema")
        if schema is None or not media.endswith("json"):
            return []
        try:
            data = json.loads(body)
        except ValueError:
            return [f"{where}: body is not JSON"]
        return self.validate(schema, data, where)

    def validate(self, schema, data, where="body"):
        """Problems of ``data`` against one OpenAPI schema (``$ref``s into components)."""
        root = {"allOf": [_openapi_to_jsonschema(schema)], "components": self.components}
        validator = jsonschema.Draft4Validator(root, format_checker=FORMAT_CHECKER)
        return [
            f"{where}: {'/'.join(str(p) for p in error.absolute_path) or '<root>'}: "
            f"{error.message[:300]}"
            for error in validator.iter_errors(data)
        ]


class OpenApiRecorder:
    """A response hook: validates every answer and records ``(method, path, status)``.

    Install with :meth:`install` on the client's session. ``problems`` collects every
    mismatch; the fixtures fail the test when it is not empty.
    """

    #: what API 2.6.0 cannot represent: answers with these are checked against the latest only
    NEWER_THAN_2_6 = ("CollectiveIdentifierManage",)

    def __init__(self, spec, *, legacy=None):
        self.spec = spec
        self.legacy = legacy  # optional older spec (2.6.0), checked where shapes are compatible
        self.calls = []
        self.problems = []
        self._lock = threading.Lock()

    def install(self, session):
        session.hooks.setdefault("response", []).append(self.hook)
        return session

    def hook(self, response, *args, **kwargs):
        request = response.request
        path = urlsplit(request.url).path
        problems = self.spec.response_problems(
            request.method,
            path,
            response.status_code,
            response.headers.get("Content-Type"),
            response.content,
        )
        if self.legacy is not None:
            problems.extend(
                f"[2.6.0] {p}"
                for p in self.legacy_problems(
                    request.method,
                    path,
                    response.status_code,
                    response.headers.get("Content-Type"),
                    response.content,
                )
            )
        if response.status_code == 429 and "Retry-After" not in response.headers:
            problems.append(f"{request.method} {path} -> 429 without Retry-After")
        with self._lock:
            self.calls.append((request.method, path, response.status_code))
            self.problems.extend(problems)
        return response

    def legacy_problems(self, method, path, status, content_type, body):
        """Problems against the older spec, skipping what only the newer one can express: an
        operation the older spec lacks, or an answer carrying a value added later."""
        if self.legacy.operation(method, path) is None:
            return []
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
        if any(value in text for value in self.NEWER_THAN_2_6):
            return []
        if status == 403 and '"timestamp"' not in text:
            return []  # ForbiddenProblemDetails.timestamp is optional since API 2.8.0
        return self.legacy.response_problems(method, path, status, content_type, body)

    def count(self, method, path_suffix):
        """How many recorded calls had this method and a path ending with ``path_suffix``."""
        return sum(1 for m, p, _s in self.calls if m == method and p.endswith(path_suffix))

    def reset(self):
        with self._lock:
            self.calls.clear()

    def assert_clean(self):
        assert not self.problems, "answers not conforming to the KSeF OpenAPI:\n" + "\n".join(
            self.problems
        )


# --- a scripted transport ---------------------------------------------------------------------


class FakeTransport(BaseAdapter):
    """``requests`` adapter answering from a script, recording every request.

    ``fake.add('GET', '/tokens', 200, {...})`` queues an answer for that method and path (below
    ``/v2``); queued answers are used once each in order, the last one repeats. An answer
    may also be an exception instance (raised by ``send``) or a callable ``(request) ->
    (status, body, headers)``.
    """

    def __init__(self):
        super().__init__()
        self.routes = {}
        self.requests = []

    def add(self, method, path, status=200, body=None, headers=None):
        self.routes.setdefault((method, path), []).append((status, body, headers or {}))
        return self

    def fail(self, method, path, exc):
        self.routes.setdefault((method, path), []).append(exc)
        return self

    def send(self, request, **kwargs):
        self.requests.append((request, kwargs))
        path = urlsplit(request.url).path
        path = path[3:] if path.startswith("/v2") else path
        queue = self.routes.get((request.method, path))
        if not queue:
            return self._response(request, 599, {"unscripted": f"{request.method} {path}"}, {})
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            answer = answer(request)
        return self._response(request, *answer)

    @staticmethod
    def _response(request, status, body, headers):
        response = requests.Response()
        response.status_code = status
        if isinstance(body, bytes | str):
            response._content = body.encode() if isinstance(body, str) else body
        elif body is None:
            response._content = b""
        else:
            response._content = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **headers}
        response.headers.update(headers)
        response.request = request
        response.url = request.url
        response.encoding = "utf-8"
        return response

    def close(self):
        pass

    def session(self):
        session = requests.Session()
        session.mount("http://", self)
        session.mount("https://", self)
        return session

    def last(self):
        return self.requests[-1][0]


# --- secrets ----------------------------------------------------------------------------------


def assert_no_secrets(secrets, *, records=(), exceptions=(), texts=()):
    """Fail if any secret (token, JWT, ...) appears in log records, exceptions or texts."""
    haystacks = [record.getMessage() for record in records]
    haystacks += [f"{exc!s} {exc!r} {getattr(exc, 'details', '')}" for exc in exceptions]
    haystacks += list(texts)
    for secret in secrets:
        if not secret:
            continue
        probes = {secret}
        if "|" in secret:
            probes.add(secret.rsplit("|", 1)[1])  # the secret part of a KSeF token
        for probe in probes:
            for haystack in haystacks:
                if probe in haystack:  # no assert: its introspection would print the secret
                    pytest.fail("a secret leaked into a log line or an error", pytrace=False)


# --- pytest fixtures (import them into a test module to use them) ------------------------------


class NoSleep:
    """A ``sleep`` stand-in that records the requested pauses without pausing."""

    def __init__(self):
        self.calls = []

    def __call__(self, seconds):
        self.calls.append(seconds)


@pytest.fixture(scope="session")
def spec(openapi_latest_path):
    """The parsed ``openapi-latest.json`` (API 2.8.1)."""
    return OpenApiSpec(openapi_latest_path)


@pytest.fixture(scope="session")
def spec_2_6(openapi_path):
    """The parsed ``openapi.json`` (API 2.6.0)."""
    return OpenApiSpec(openapi_path)


@pytest.fixture
def recorder(spec, spec_2_6):
    """Validates every answer of the test's clients against API 2.8.1 and, where compatible,
    2.6.0; fails the test on any mismatch."""
    recorder = OpenApiRecorder(spec, legacy=spec_2_6)
    yield recorder
    recorder.assert_clean()


@pytest.fixture
def make_client(sim_server, recorder):
    """``make_client(**kw)``: a :class:`KsefClient` on the HTTP simulator, answers recorded."""
    sessions = []

    def make(**kwargs):
        session = requests.Session()
        session.trust_env = False  # never through an environment proxy: 127.0.0.1 only
        recorder.install(session)
        sessions.append(session)
        kwargs.setdefault("timeout", (2, 5))
        return KsefClient(sim_server.base_url, session=session, **kwargs)

    yield make
    for session in sessions:
        session.close()


@pytest.fixture
def http_client(make_client):
    """A client talking to ``sim_server`` over real HTTP, every answer validated."""
    return make_client()


@pytest.fixture
def no_sleep():
    return NoSleep()


@pytest.fixture
def owner(http_client, owner_cert, test_nip, no_sleep):
    """:class:`AuthTokens` of the context owner, authenticated with XAdES (person certificate)."""
    pytest.importorskip("ksef.xades")
    from ksef.identifiers import ContextIdentifier

    key, certificate = owner_cert
    return http_client.authenticate_with_certificate(
        ContextIdentifier.nip(test_nip), key, certificate, poll_interval=0.01, sleep=no_sleep
    )
