"""Request parsing and the small validation helpers shared by the endpoint modules."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from urllib.parse import parse_qs

from . import errors

REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    410: "Gone",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclasses.dataclass
class Request:
    """What a handler sees of one HTTP request."""

    method: str
    path: str  # below /v2, e.g. '/tokens/2025...'
    full_path: str  # as requested, e.g. '/v2/tokens/...'
    query: dict  # name -> [values]
    headers: dict  # lower-case name -> value
    body: bytes = dataclasses.field(repr=False)
    client_ip: str
    body_too_large: bool = False
    params: dict = dataclasses.field(default_factory=dict)
    principal: object = None  # set by the app after authentication
    prepared: object = None  # what the route's ``prepare`` step computed outside the lock
    fault_outcome: object = None  # an injected ``auth_outcome`` fault: (status, detail)

    @property
    def problem_details(self):
        return self.headers.get("x-error-format", "").strip().lower() == "problem-details"

    def json(self, *, required=True):
        """The body as a JSON object; 400 21405 when it is not one."""
        if self.body_too_large:
            raise errors.validation("Treść żądania jest zbyt duża.")
        if not self.body.strip():
            if required:
                raise errors.validation("Brak treści żądania.")
            return {}
        try:
            value = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise errors.validation("Treść żądania nie jest poprawnym dokumentem JSON.") from None
        if not isinstance(value, dict):
            raise errors.validation("Treść żądania musi być obiektem JSON.")
        return value

    def arg(self, name):
        """A single query parameter (the last one when repeated) or ``None``."""
        values = self.query.get(name)
        return values[-1] if values else None

    def int_arg(self, name, default, minimum, maximum):
        raw = self.arg(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise errors.validation(f"Parametr {name} musi być liczbą całkowitą.") from None
        if not minimum <= value <= maximum:
            raise errors.validation(
                f"Parametr {name} musi mieścić się w zakresie {minimum}–{maximum}."
            )
        return value


def parse_query(query_string):
    try:
        return parse_qs(query_string or "", keep_blank_values=True, max_num_fields=200)
    except ValueError:
        raise errors.validation("Zbyt wiele parametrów zapytania.") from None


def headers_from_environ(environ):
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    return headers


def read_body(environ, limit):
    """Read at most ``limit`` bytes; return ``(body, too_large)``."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b"", False
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length < 0:
        length = 0
    if length > limit:
        return b"", True
    if length == 0:
        if environ.get("wsgi.input_terminated"):
            data = stream.read(limit + 1)
            return (b"", True) if len(data) > limit else (data, False)
        return b"", False
    return stream.read(length), False


# --- validation helpers -------------------------------------------------------------------------


def require_str(obj, name, *, min_len=1, max_len=None, required=True, where=""):
    value = obj.get(name)
    label = f"{where}{name}"
    if value is None:
        if required:
            raise errors.validation(f"Pole {label} jest wymagane.")
        return None
    if not isinstance(value, str):
        raise errors.validation(f"Pole {label} musi być tekstem.")
    if len(value) < min_len or (max_len is not None and len(value) > max_len):
        bounds = f"{min_len}–{max_len}" if max_len is not None else f"co najmniej {min_len}"
        raise errors.validation(f"Pole {label} musi mieć długość {bounds} znaków.")
    return value


def require_obj(obj, name, *, required=True, where=""):
    value = obj.get(name)
    if value is None:
        if required:
            raise errors.validation(f"Pole {where}{name} jest wymagane.")
        return None
    if not isinstance(value, dict):
        raise errors.validation(f"Pole {where}{name} musi być obiektem.")
    return value


def require_enum_list(obj, name, allowed, *, required=True, where=""):
    value = obj.get(name)
    if value is None:
        if required:
            raise errors.validation(f"Pole {where}{name} jest wymagane.")
        return None
    if not isinstance(value, list) or len(value) > 100:
        raise errors.validation(f"Pole {where}{name} musi być listą.")
    for item in value:
        if not isinstance(item, str) or item not in allowed:
            shown = item if isinstance(item, str) and len(item) <= 40 else "?"
            raise errors.validation(f"Nieprawidłowa wartość {shown!r} w polu {where}{name}.")
    return value


def b64decode_strict(text, name):
    if not isinstance(text, str) or not text:
        raise errors.validation(f"Pole {name} jest wymagane.")
    try:
        return base64.b64decode(text.strip().encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise errors.validation(f"Pole {name} nie jest poprawnym ciągiem Base64.") from None


@dataclasses.dataclass
class Response:
    """A handler's answer: ``body`` is a JSON-able object (``None`` for no body)."""

    status: int = 200
    body: object = None
    headers: tuple = ()
