#!/usr/bin/env python3
"""Benchmarks of the pure KSeF package (``make bench``); prints a short report.

(a) a full KSeF-token authentication round trip (challenge, public keys, ksef-token, status,
    redeem) by :class:`ksef.client.KsefClient` against the simulator over HTTP on 127.0.0.1:
    median / p95 milliseconds, with a client reused across runs (keys cached) and with a new
    client per run (keys fetched every time);
(b) XAdES ``sign_auth_token_request`` + ``verify_signed_auth_request`` per second, for RSA-2048
    and EC P-256 test certificates;
(c) a sync of 1,000 tokens from KSeF through ``iter_tokens``: the HTTP calls made (asserted to be
    ceil(N / 100) list calls) and the seconds taken.

Self-contained and bounded (well under a minute): only 127.0.0.1 is contacted, the simulator
runs in a background thread of this process and stops at the end. Exit status 1 when an
assertion fails.

Usage: ``python bench/bench_ksef.py [--runs N] [--tokens N] [--xades-seconds S]``
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # import ``ksef`` as a top-level package, without Odoo

import requests  # noqa: E402

from ksef import testing_certs, xades  # noqa: E402
from ksef.client import KsefClient  # noqa: E402
from ksef.identifiers import ContextIdentifier  # noqa: E402
from ksef.simulator import KsefSimulator, SimulatorServer, fast_test_config  # noqa: E402

NIP = "5265877635"
PAGE_SIZE = 100


def local_session(counter=None):
    """A session that never uses an environment proxy and optionally counts list calls."""
    session = requests.Session()
    session.trust_env = False  # no HTTP(S)_PROXY: traffic stays on 127.0.0.1
    if counter is not None:

        def count(response, *args, **kwargs):
            counter.append((response.request.method, urlsplit(response.request.url).path))

        session.hooks["response"].append(count)
    return session


def percentile(values, fraction):
    """Nearest-rank percentile of ``values`` (0 < fraction <= 1)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def timed(function):
    started = time.perf_counter()
    result = function()
    return result, (time.perf_counter() - started) * 1000


# --- (a) ----------------------------------------------------------------------------------------


def bench_auth(server, sim, runs):
    token = sim.create_token(NIP, NIP, ["InvoiceRead", "InvoiceWrite"], "Benchmark token")
    warm = KsefClient(server.base_url, session=local_session())
    warm.authenticate_with_ksef_token(token, poll_interval=0.01)  # connect, fetch keys
    results = {}
    for label, make in (("reused client", lambda: warm), ("new client/run", None)):
        samples = []
        for _ in range(runs):
            client = make() if make else KsefClient(server.base_url, session=local_session())
            tokens, ms = timed(
                lambda c=client: c.authenticate_with_ksef_token(token, poll_interval=0.01)
            )
            assert tokens.access_token and tokens.refresh_token
            samples.append(ms)
            if not make:
                client.session.close()
        results[label] = samples
    warm.session.close()
    return results


# --- (b) ----------------------------------------------------------------------------------------


def bench_xades(seconds):
    results = {}
    context = ContextIdentifier.nip(NIP)
    for key_type in ("rsa", "ec"):
        key, certificate = testing_certs.generate_test_certificate(
            NIP, kind="person", key_type=key_type
        )
        unsigned = xades.build_auth_token_request("20250514-CR-226FB7B000-3ACF9BE4C0-10", context)
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds or count < 3:
            signed = xades.sign_auth_token_request(unsigned, key, certificate)
            xades.verify_signed_auth_request(signed)
            count += 1
        elapsed = time.perf_counter() - started
        results[key_type] = (count, elapsed)
    return results


# --- (c) ----------------------------------------------------------------------------------------


def bench_sync(server, sim, count):
    viewer = sim.create_token(NIP, NIP, ["CredentialsRead"], "Benchmark sync")
    for i in range(count - 1):
        sim.create_token(NIP, NIP, ["InvoiceRead"], f"Token {i:04d}")
    calls = []
    client = KsefClient(server.base_url, session=local_session(calls))
    session = client.authenticate_with_ksef_token(viewer, poll_interval=0.01)
    calls.clear()
    tokens, ms = timed(lambda: list(client.iter_tokens(session.access_token, page_size=PAGE_SIZE)))
    client.session.close()
    list_calls = sum(1 for method, path in calls if method == "GET" and path.endswith("/tokens"))
    expected = math.ceil(count / PAGE_SIZE)
    assert len(tokens) == count, f"synced {len(tokens)} tokens, expected {count}"
    assert len({t.reference_number for t in tokens}) == count, "duplicate tokens in the sync"
    assert (
        list_calls == expected == len(calls)
    ), f"{len(calls)} HTTP calls ({list_calls} list calls), expected {expected}"
    return len(tokens), len(calls), list_calls, expected, ms


# --- report -------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50, help="authentications per variant")
    parser.add_argument("--tokens", type=int, default=1000, help="tokens to sync")
    parser.add_argument("--xades-seconds", type=float, default=3.0, help="per key type")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    sim = KsefSimulator(fast_test_config())
    with SimulatorServer(sim) as server:
        assert urlsplit(server.base_url).hostname == "127.0.0.1", server.base_url
        python = sys.version.split()[0]
        print(f"KSeF package benchmark (simulator at {server.base_url}, Python {python})")

        auth = bench_auth(server, sim, args.runs)
        print(f"\n(a) KSeF-token authentication round trip over HTTP, {args.runs} runs each")
        print("    challenge + POST /auth/ksef-token + status + redeem (4 calls; a new client")
        print("    also fetches the public-key certificates: 5 calls)")
        for label, samples in auth.items():
            print(
                f"    {label:<15} median {statistics.median(samples):7.1f} ms   "
                f"p95 {percentile(samples, 0.95):7.1f} ms   min {min(samples):6.1f} ms"
            )

        sim.reset()
        xades_results = bench_xades(args.xades_seconds)
        print("\n(b) XAdES sign + verify of an AuthTokenRequest")
        for key_type, (count, elapsed) in xades_results.items():
            label = "RSA-2048" if key_type == "rsa" else "EC P-256"
            print(
                f"    {label:<9} {count / elapsed:7.1f} sign+verify/s   "
                f"({count} in {elapsed:.2f} s, {1000 * elapsed / count:.1f} ms each)"
            )

        sim.reset()
        synced, http_calls, list_calls, expected, ms = bench_sync(server, sim, args.tokens)
        print(f"\n(c) sync of {synced} tokens with iter_tokens (page size {PAGE_SIZE})")
        print(
            f"    HTTP calls {http_calls} (GET /tokens: {list_calls}; "
            f"ceil({synced}/{PAGE_SIZE}) = {expected}) -- OK"
        )
        print(f"    {ms / 1000:.3f} s ({ms / list_calls:.1f} ms per page)")

    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as exc:
        print(f"\nBENCHMARK CHECK FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
