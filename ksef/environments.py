"""KSeF API 2.0 environments (base URLs end with ``/v2``; endpoint paths are appended)."""

ENVIRONMENTS = {
    "test": "https://api-test.ksef.mf.gov.pl/v2",
    "demo": "https://api-demo.ksef.mf.gov.pl/v2",
    "prod": "https://api.ksef.mf.gov.pl/v2",
}


def base_url(environment_or_url):
    """Return the base URL for ``'test'``/``'demo'``/``'prod'`` or pass an explicit URL through."""
    if environment_or_url in ENVIRONMENTS:
        return ENVIRONMENTS[environment_or_url]
    if isinstance(environment_or_url, str) and environment_or_url.startswith(
        ("http://", "https://")
    ):
        return environment_or_url.rstrip("/")
    raise ValueError(f"unknown KSeF environment {environment_or_url!r}")
