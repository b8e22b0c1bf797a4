"""Error answers of the simulator, shaped exactly as the OpenAPI components of KSeF 2.6.0.

* 400 (and other business errors): legacy ``ExceptionResponse`` by default, Problem
  Details ``BadRequestProblemDetails`` (``application/problem+json``) when the request has
  ``X-Error-Format: problem-details``;
* 401 / 403 / 410: always problem+json (``UnauthorizedProblemDetails``,
  ``ForbiddenProblemDetails`` with ``reasonCode`` / ``security``, ``GoneProblemDetails``);
* 429: legacy ``TooManyRequestsResponse`` or ``TooManyRequestsProblemDetails`` per the
  header, always with an integer ``Retry-After`` header.

Handlers raise :class:`SimError` subclasses; :func:`render` turns them into
``(status, headers, body)``.  Messages never contain secrets: only codes, reference numbers
and public identifiers.
"""

from __future__ import annotations

import json
import secrets
import uuid

#: exceptionCode -> exceptionDescription, verbatim from the OpenAPI 400 tables.
DESCRIPTIONS = {
    9101: "Nieprawidłowy dokument.",
    9102: "Brak podpisu.",
    9103: "Przekroczona liczba dozwolonych podpisów.",
    9105: "Nieprawidłowy podpis.",
    21001: "Nieczytelna treść.",
    21111: "Nieprawidłowe wyzwanie autoryzacyjne.",
    21115: "Nieprawidłowy certyfikat.",
    21117: "Nieprawidłowy identyfikator podmiotu dla wskazanego typu kontekstu.",
    21183: "Zakres filtrowania wykracza poza dostępny zakres danych.",
    21217: "Nieprawidłowe kodowanie znaków.",
    21301: "Brak autoryzacji.",
    21304: "Brak uwierzytelnienia.",
    21308: "Próba wykorzystania metod autoryzacyjnych osoby zmarłej.",
    21401: "Dokument nie jest zgodny ze schemą (xsd).",
    21405: "Błąd walidacji danych wejściowych.",
    21406: "Konflikt podpisu i typu uwierzytelnienia.",
    21418: "Przekazany token kontynuacji ma nieprawidłowy format.",
    21470: "Przesłany identyfikator klucza jest nieznany lub wskazuje na wycofany klucz.",
    26001: "Nie można nadać tokenowi uprawnień których nie posiadasz.",
    26002: "Nie można wygenerować tokena dla obecnego typu kontekstu.",
    30001: "Podmiot lub uprawnienie już istnieje.",
}

PROBLEM_JSON = "application/problem+json"
JSON = "application/json"

FORBIDDEN_DETAILS = {
    "missing-permissions": "Brak wymaganych uprawnień do wykonania operacji w bieżącym kontekście.",
    "ip-not-allowed": "Żądanie pochodzi z adresu IP innego niż wskazany podczas uwierzytelnienia.",
    "insufficient-resource-access": "Brak dostępu do wskazanego zasobu.",
    "auth-method-not-allowed": "Ta operacja nie jest dostępna dla użytej metody uwierzytelnienia.",
    "security-service-blocked": "Żądanie zostało zablokowane przez mechanizmy bezpieczeństwa.",
    "context-type-not-allowed": "Operacja nie jest dostępna dla uwierzytelnionego typu kontekstu.",
}


class SimError(Exception):
    """Base of every error answer. ``status`` is the HTTP status."""

    status = 400

    def headers(self):
        return []


class ApiError(SimError):
    """A 4xx business error with one or more ``(code, details)`` entries."""

    def __init__(self, code, *details, status=400, errors=None):
        super().__init__(f"KSeF error {code}")
        self.status = status
        self.errors = errors or [(code, [str(d) for d in details])]

    @property
    def code(self):
        return self.errors[0][0]


def bad_request(code, *details):
    return ApiError(code, *details)


def validation(*details):
    """400 21405 with validator messages."""
    return ApiError(21405, *details)


class Unauthorized(SimError):
    status = 401

    def __init__(self, detail="Wymagane jest uwierzytelnienie."):
        super().__init__(detail)
        self.detail = detail


class Forbidden(SimError):
    status = 403

    def __init__(self, reason_code, security=None, detail=None, *, with_timestamp=True):
        super().__init__(reason_code)
        self.reason_code = reason_code
        self.with_timestamp = with_timestamp  # API 2.8: timestamp is optional on 403
        self.security = security
        self.detail = detail or FORBIDDEN_DETAILS.get(reason_code, "Brak dostępu.")


class Gone(SimError):
    status = 410

    def __init__(self, detail="Operacja wygasła i nie jest już dostępna."):
        super().__init__(detail)
        self.detail = detail


class NotFound(SimError):
    status = 404


class MethodNotAllowed(SimError):
    status = 405

    def __init__(self, allowed):
        super().__init__("method not allowed")
        self.allowed = sorted(set(allowed))

    def headers(self):
        return [("Allow", ", ".join(self.allowed))]


class TooManyRequests(SimError):
    status = 429

    def __init__(self, retry_after, limit, window):
        super().__init__("rate limited")
        self.retry_after = max(1, int(retry_after))
        self.limit = limit
        self.window = window

    def message(self):
        unit = {1: "sekundę", 60: "minutę", 3600: "godzinę"}.get(self.window, f"{self.window} s")
        return (
            f"Przekroczono limit {self.limit} żądań na {unit}. "
            f"Spróbuj ponownie po {self.retry_after} sekundach."
        )

    def headers(self):
        return [("Retry-After", str(self.retry_after))]


class ServerFault(SimError):
    """An injected 5xx answer (fault injection only; the simulator itself never 5xx's)."""

    def __init__(self, status=503):
        super().__init__(f"injected {status}")
        self.status = int(status)


class NotImplementedBySimulator(SimError):
    """501: an operation of the official API that the simulator does not serve."""

    status = 501

    def __init__(self, method, template):
        super().__init__(f"{method} {template} not implemented")
        self.operation = f"{method} /v2{template}"


class ConnectionDropped(Exception):
    """Raised by the WSGI app when a ``drop_after``/``drop_before`` fault fires.

    The HTTP server closes the socket without an answer; the in-process adapter turns it
    into ``requests.exceptions.ConnectionError``.  Other WSGI servers will see an exception
    and drop or 500 the request.
    """


def trace_id():
    return secrets.token_hex(16)


def _legacy_body(errors, timestamp):
    return {
        "exception": {
            "exceptionDetailList": [
                {
                    "exceptionCode": code,
                    "exceptionDescription": DESCRIPTIONS.get(code, "Błąd."),
                    "details": list(details) or None,
                }
                for code, details in errors
            ],
            "referenceNumber": str(uuid.uuid4()),
            "serviceCode": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00",
            "serviceCtx": "srvKSEFSIM",
            "serviceName": "KsefSimulator",
            "timestamp": timestamp,
        }
    }


def _problem(title, status, instance, detail, timestamp, **extra):
    body = {"title": title, "status": status, "instance": instance, "detail": detail}
    body.update(extra)
    body["timestamp"] = timestamp
    body["traceId"] = trace_id()
    return body


def render(error, *, instance, problem_details, timestamp):
    """Turn a :class:`SimError` into ``(status, headers, body_bytes)``."""
    status = error.status
    headers = list(error.headers())
    if isinstance(error, ApiError):
        if problem_details:
            body = _problem(
                "Bad Request",
                status,
                instance,
                "Żądanie jest nieprawidłowe.",
                timestamp,
                errors=[
                    {
                        "code": code,
                        "description": DESCRIPTIONS.get(code, "Błąd."),
                        "details": list(details) or None,
                    }
                    for code, details in error.errors
                ],
            )
            ctype = PROBLEM_JSON
        else:
            body, ctype = _legacy_body(error.errors, timestamp), JSON
    elif isinstance(error, Unauthorized):
        body, ctype = _problem("Unauthorized", 401, instance, error.detail, timestamp), PROBLEM_JSON
    elif isinstance(error, Forbidden):
        body = _problem(
            "Forbidden", 403, instance, error.detail, timestamp, reasonCode=error.reason_code
        )
        if error.security is not None:
            body["security"] = error.security
        if not error.with_timestamp:
            del body["timestamp"]
        ctype = PROBLEM_JSON
    elif isinstance(error, Gone):
        body, ctype = _problem("Gone", 410, instance, error.detail, timestamp), PROBLEM_JSON
    elif isinstance(error, TooManyRequests):
        if problem_details:
            body, ctype = (
                _problem("Too Many Requests", 429, instance, error.message(), timestamp),
                PROBLEM_JSON,
            )
        else:
            body = {
                "status": {
                    "code": 429,
                    "description": "Too Many Requests",
                    "details": [error.message()],
                }
            }
            ctype = JSON
    elif isinstance(error, NotFound):
        body, ctype = (
            _problem("Not Found", 404, instance, "Nie znaleziono zasobu.", timestamp),
            PROBLEM_JSON,
        )
    elif isinstance(error, MethodNotAllowed):
        body, ctype = (
            _problem(
                "Method Not Allowed", 405, instance, "Metoda nie jest obsługiwana.", timestamp
            ),
            PROBLEM_JSON,
        )
    elif isinstance(error, NotImplementedBySimulator):
        body, ctype = (
            _problem(
                "Not Implemented",
                501,
                instance,
                f"Symulator KSeF nie obsługuje operacji {error.operation} (jest w specyfikacji "
                "API 2.8.1).",
                timestamp,
                reasonCode="simulator-not-implemented",
            ),
            PROBLEM_JSON,
        )
    elif isinstance(error, ServerFault):
        title = {
            500: "Internal Server Error",
            502: "Bad Gateway",
            503: "Service Unavailable",
            504: "Gateway Timeout",
        }.get(status, "Server Error")
        body, ctype = (
            _problem(
                title, status, instance, "Usługa chwilowo niedostępna (symulacja).", timestamp
            ),
            PROBLEM_JSON,
        )
    else:  # pragma: no cover - every SimError subclass is handled above
        body, ctype = _problem("Error", status, instance, "Błąd.", timestamp), PROBLEM_JSON
    headers.append(("Content-Type", f"{ctype}; charset=utf-8"))
    return status, headers, json.dumps(body, ensure_ascii=False).encode("utf-8")
