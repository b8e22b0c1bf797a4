"""One typed exception family for everything the KSeF package raises.

Rules that every module of the package follows:

* messages are short English sentences meant for logs and for mapping to translated
  UI messages in the Odoo layer (by ``code`` / ``kind``), never shown raw to end users;
* no exception message, ``details`` entry or ``repr`` ever contains a KSeF token, a token
  secret, a JWT, a private key or a password: callers pass such values separately and the
  package only ever mentions reference numbers, codes and public identifiers;
* the package never sleeps through a rate limit: a 429 is raised as :class:`KsefRateLimited`
  carrying ``retry_after`` (seconds) for the caller to reschedule.
"""

from __future__ import annotations


class KsefError(Exception):
    """Base class. ``code`` is KSeF's numeric exception code when there is one, else a string."""

    #: whether repeating the same call later may succeed (network faults, 5xx, 429)
    retryable = False
    #: the HTTP method and path of the refused call (set for HTTP answers), e.g. ``'DELETE'``
    #: and ``'/tokens/20251010-EC-...'``: lets callers explain the refusal of one operation
    method = None
    path = None

    def __init__(self, message, *, code=None, http_status=None, details=(), reference_number=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.details = list(details or ())
        self.reference_number = reference_number

    def __str__(self):
        parts = [self.message]
        if self.code is not None:
            parts.append(f"[code {self.code}]")
        if self.details:
            parts.append("; ".join(str(d) for d in self.details))
        return " ".join(parts)


# --- transport ------------------------------------------------------------------------------


class KsefTransportError(KsefError):
    """The HTTP exchange did not complete: ``kind`` is ``'timeout'`` or ``'connection'``.

    The request may or may not have been acted on by KSeF (a dropped connection after KSeF
    created a token is possible): callers that create things must reconcile afterwards.
    """

    retryable = True

    def __init__(self, message, *, kind="connection", **kw):
        super().__init__(message, code=kind, **kw)
        self.kind = kind


class KsefServerError(KsefError):
    """KSeF answered 5xx (or an unreadable body)."""

    retryable = True


# --- API errors (4xx) -----------------------------------------------------------------------


class KsefApiError(KsefError):
    """KSeF refused the request (4xx).

    ``errors`` holds every ``(code, description, details)`` triple of the body, from either
    the legacy ``exception.exceptionDetailList`` format or Problem Details ``errors``;
    ``code`` is the first one's code.
    """

    def __init__(self, message, *, errors=(), **kw):
        errors = [tuple(e) for e in errors or ()]
        if errors and kw.get("code") is None:
            kw["code"] = errors[0][0]
        if errors and not kw.get("details"):
            kw["details"] = [d for e in errors for d in (e[2] or ())]
        super().__init__(message, **kw)
        self.errors = errors

    @property
    def codes(self):
        return [e[0] for e in self.errors]


class KsefBadRequest(KsefApiError):
    """400: validation or business rule (21405, 26001, 21111, 21301, ...)."""


class KsefUnauthorized(KsefApiError):
    """401: missing, invalid or expired bearer token."""


class KsefForbidden(KsefApiError):
    """403 with ``reason_code`` (missing-permissions, ip-not-allowed, ...) and ``security``."""

    def __init__(self, message, *, reason_code=None, security=None, **kw):
        super().__init__(message, **kw)
        self.reason_code = reason_code
        self.security = dict(security or {})

    @property
    def missing_permissions(self):
        """Permissions KSeF said were required (any of), when it said so."""
        return list(self.security.get("requiredAnyOfPermissions") or [])


class KsefNotFound(KsefApiError):
    """404."""


class KsefGone(KsefApiError):
    """410: an asynchronous status past its retention."""


class KsefRateLimited(KsefApiError):
    """429: ``retry_after`` is the number of seconds KSeF asked the caller to wait."""

    retryable = True

    def __init__(self, message, *, retry_after=None, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after


# --- authentication outcome -----------------------------------------------------------------


class KsefAuthFailed(KsefError):
    """An authentication operation ended with a non-200 status.

    KSeF's final statuses: 415, 425, 450, 460, 470, 480, 500, 550.

    ``status_code`` is that status; ``description``/``details`` are KSeF's texts.
    """

    def __init__(self, message, *, status_code, description=None, **kw):
        kw.setdefault("code", status_code)
        super().__init__(message, **kw)
        self.status_code = status_code
        self.description = description

    @property
    def retryable(self):  # 550: cancelled by the system, retry; 500: unknown
        return self.status_code in (500, 550)

    @property
    def token_unusable(self):
        """The KSeF token itself cannot authenticate (revoked, inactive, bad, wrong context)."""
        return self.status_code == 450


class KsefAuthTimeout(KsefError):
    """Authentication stayed in progress (status 100) longer than the caller allowed."""

    retryable = True


# --- local validation -----------------------------------------------------------------------


class KsefTokenFormatError(KsefError, ValueError):
    """A string is not a usable KSeF 2.0 token. ``kind`` says what it looks like instead.

    kinds: ``empty``, ``too_long``, ``multiple``, ``ksef1`` (64-hex KSeF 1.0 token), ``jwt``,
    ``reference_only`` (a bare token reference number), ``challenge``, ``bad_reference``,
    ``bad_context``, ``bad_context_checksum``, ``bad_secret``, ``malformed``.
    """

    def __init__(self, message, *, kind, **kw):
        kw.setdefault("code", kind)
        super().__init__(message, **kw)
        self.kind = kind


class KsefIdentifierError(KsefError, ValueError):
    """A NIP or InternalId is malformed or fails its check digit. ``kind`` as for tokens."""

    def __init__(self, message, *, kind, **kw):
        kw.setdefault("code", kind)
        super().__init__(message, **kw)
        self.kind = kind


class KsefXmlError(KsefError, ValueError):
    """An AuthTokenRequest (signed or not) is unacceptable. ``kind`` is one of:

    ``too_large``, ``malformed``, ``forbidden_dtd`` (DOCTYPE / entities / XXE), ``wrong_root``,
    ``schema`` (fails the AuthTokenRequest schema), ``unsigned``, ``multiple_signatures``,
    ``bad_signature``, ``bad_certificate``, ``wrong_challenge``, ``expired_challenge``,
    ``wrong_context``.
    """

    def __init__(self, message, *, kind, **kw):
        kw.setdefault("code", kind)
        super().__init__(message, **kw)
        self.kind = kind


class KsefCryptoError(KsefError):
    """Key or certificate material is unusable (wrong password, unsupported key, expired...)."""


class KsefTimeout(KsefAuthTimeout):
    """An asynchronous KSeF operation other than authentication (e.g. a certificate
    enrolment) stayed in progress longer than the caller allowed. ``code`` says which."""
