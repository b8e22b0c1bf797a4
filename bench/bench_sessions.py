#!/usr/bin/env python3
"""Benchmark of the KSeF session service (``make bench``, via tools/run_bench_odoo.sh).

Needs a database with the addon installed (the script makes a throwaway one). Starts the KSeF
simulator over HTTP on 127.0.0.1 (KSeF Test rate limits on), commits one token for the main
company, then forks ``--workers`` OS processes that each open their own Odoo registry and
database cursors, like Odoo's prefork workers:

(a) ``--requests`` session requests (``get_client(company, 'fetch')``, one cursor each) spread
    over the workers, started together: asserted to cause exactly ONE full authentication and
    no refresh (the access token lives 15 minutes); reports the median / p95 cost of a request
    and of a cached one;
(b) for ``--short-seconds`` seconds the simulator issues access tokens living 62 s, i.e. usable
    for 2 s after the service's 60 s margin; the workers ask as fast as they can: asserted to
    cause no new full authentication and at most one refresh per usable lifetime.

Exit status 1 when an assertion fails.

Usage: ``python bench/bench_sessions.py -c odoo.conf -d DB [--workers 4] [--requests 1000]``
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import statistics
import sys
import time

import odoo
from odoo import api
from odoo.modules.registry import Registry

NIP = "5265877635"
AUTH = "POST /auth/ksef-token"
REFRESH = "POST /auth/token/refresh"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("-d", "--database", required=True)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--short-seconds", type=float, default=6.0)
    return parser.parse_args()


def setup_token(registry, sim):
    """Commit one usable token of the main company; return (company id, admin uid)."""
    text = sim.create_token(NIP, NIP, ["InvoiceRead"], "Bench session token")
    with registry.cursor() as cr:
        env = api.Environment(cr, odoo.SUPERUSER_ID, {"tracking_disable": True})
        company = env.ref("base.main_company")
        admin = env.ref("base.user_admin")
        token = env["ksef.token"].create(
            {
                "name": "Bench session token",
                "company_id": company.id,
                "context_type": "Nip",
                "context_value": NIP,
                "environment": "test",
                "reference_number": text.split("|")[0],
                "state": "active",
                "permission_ids": [(6, 0, env["ksef.permission"]._by_names(["InvoiceRead"]).ids)],
                "assigned_company_ids": [(6, 0, company.ids)],
            }
        )
        token._ksef_store_secret(text)
        return company.id, admin.id, token.id


def worker(database, company_id, uid, count, seconds, barrier, results):
    """One OS process: its own registry and cursors; returns per-request seconds."""
    registry = Registry(database)
    timings = []
    barrier.wait(timeout=120)
    until = time.time() + seconds if seconds else 0
    done = 0
    while (count and done < count) or (until and time.time() < until):
        with registry.cursor() as cr:
            env = api.Environment(cr, uid, {})
            service = env["ksef.session.service"]
            company = env["res.company"].browse(company_id)
            started = time.perf_counter()
            with service.get_client(company, "fetch") as session:
                assert session.access_token
            timings.append(time.perf_counter() - started)
        done += 1
    results.put(timings)


def run_workers(args, company_id, uid, *, per_worker=0, seconds=0.0):
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(args.workers)
    results = ctx.Queue()
    # no database connection crosses the fork: each worker opens its own
    odoo.sql_db.close_all()
    processes = [
        ctx.Process(
            target=worker,
            args=(args.database, company_id, uid, per_worker, seconds, barrier, results),
        )
        for _ in range(args.workers)
    ]
    started = time.perf_counter()
    for process in processes:
        process.start()
    timings = [t for _ in processes for t in results.get(timeout=600)]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0, f"a worker failed (exit {process.exitcode})"
    return timings, time.perf_counter() - started


def session_counts(registry, token_id):
    with registry.cursor() as cr:
        cr.execute(
            "SELECT auth_count, refresh_count FROM ksef_session WHERE token_id = %s", [token_id]
        )
        return cr.fetchone()


def ms(seconds):
    return f"{seconds * 1000:.2f} ms"


def main():
    args = parse_args()
    odoo.tools.config.parse_config(["-c", args.config, "-d", args.database])
    from odoo.addons.l10n_pl_ksef_token.ksef.simulator import (
        KsefSimulator,
        SimulatorServer,
        fast_test_config,
    )

    sim = KsefSimulator(fast_test_config(rate_limits=True))
    failures = []
    with SimulatorServer(sim) as server:
        odoo.tools.config["ksef_url_test"] = server.base_url
        registry = Registry(args.database)
        company_id, uid, token_id = setup_token(registry, sim)

        # (a) many requests, default token lifetimes
        per_worker = math.ceil(args.requests / args.workers)
        timings, elapsed = run_workers(args, company_id, uid, per_worker=per_worker)
        auths, refreshes = session_counts(registry, token_id)
        timings.sort()
        cached = timings[: len(timings) - 1]  # all but the slowest (the authentication)
        print(
            f"(a) {len(timings)} session requests from {args.workers} worker processes in "
            f"{elapsed:.1f} s: {sim.calls[AUTH]} full authentication(s), "
            f"{sim.calls[REFRESH]} refresh(es) (session row: {auths} / {refreshes})"
        )
        print(
            f"    per request: median {ms(statistics.median(timings))}, "
            f"p95 {ms(timings[int(len(timings) * 0.95) - 1])}, max {ms(timings[-1])}; "
            f"cached request median {ms(statistics.median(cached))}"
        )
        if sim.calls[AUTH] != 1 or auths != 1:
            failures.append(f"expected exactly 1 full authentication, got {sim.calls[AUTH]}")
        if sim.calls[REFRESH] != 0:
            failures.append(
                f"expected no refresh within one access-token lifetime, got {refreshes}"
            )

        # (b) short access tokens: one refresh per usable lifetime at most
        from odoo.addons.l10n_pl_ksef_token.models import ksef_session as service_module

        ttl = service_module.ACCESS_MARGIN + 2
        sim.config.access_ttl = ttl
        with registry.cursor() as cr:  # the 15-minute access token of (a) is now stale
            cr.execute(
                "UPDATE ksef_session SET access_valid_until = now() at time zone 'UTC' "
                "WHERE token_id = %s",
                [token_id],
            )
        before = sim.calls[REFRESH]
        timings, elapsed = run_workers(args, company_id, uid, seconds=args.short_seconds)
        refreshed = sim.calls[REFRESH] - before
        usable = ttl - service_module.ACCESS_MARGIN
        allowed = math.ceil(elapsed / usable) + 1
        print(
            f"(b) access tokens usable {usable} s: {len(timings)} requests in {elapsed:.1f} s "
            f"caused {refreshed} refresh(es) (at most {allowed} allowed) and "
            f"{sim.calls[AUTH] - 1} new full authentication(s); "
            f"median {ms(statistics.median(timings))}"
        )
        if sim.calls[AUTH] != 1:
            failures.append("short access tokens caused a new full authentication")
        if not 1 <= refreshed <= allowed:
            failures.append(f"{refreshed} refreshes for {elapsed:.1f} s (allowed {allowed})")
        status_429 = sum(1 for entry in sim.request_log if entry[2] == 429)
        if status_429:
            failures.append(f"KSeF answered 429 {status_429} times")
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
