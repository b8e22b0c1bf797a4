#!/usr/bin/env python3
"""Benchmark of the Odoo token sync (``make bench``, via tools/run_bench_odoo.sh).

Needs a database with the addon installed (the script makes a throwaway one). Starts the KSeF
simulator over HTTP on 127.0.0.1 with KSeF Test's rate limits ON (``SimulatorConfig()``
defaults), creates 1,000 tokens in one context with ``sim.create_token`` (the first of them,
able to manage credentials, is also stored in Odoo), then syncs that context once through the
Odoo sync service (``ksef.token.sync._ksef_sync_all``, what the cron and the Sync button run).

Reports and asserts: exactly ceil(1000 / 100) = 10 ``GET /tokens`` calls; at most 30 calls
in any minute in the rate-limit group of ``/tokens`` (``other``: 30 per minute) and no 429;
every token of KSeF known to Odoo afterwards; the seconds taken. Exit status 1 when an
assertion fails.

Usage: ``python bench/bench_odoo.py -c odoo.conf -d DB [--tokens 1000]``
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import odoo
from odoo import api
from odoo.modules.registry import Registry

NIP = "5265877635"
PAGE_SIZE = 100
LIST = "GET /tokens"
ADMIN_PERMISSIONS = ["CredentialsManage", "CredentialsRead", "InvoiceRead", "InvoiceWrite"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("-d", "--database", required=True)
    parser.add_argument("--tokens", type=int, default=1000)
    return parser.parse_args()


def setup(registry, sim, count):
    """``count`` tokens in KSeF's context of NIP; the first one also stored in Odoo."""
    admin_text = sim.create_token(NIP, NIP, ADMIN_PERMISSIONS, "Bench administrator token")
    for i in range(1, count):
        sim.create_token(NIP, NIP, ["InvoiceRead"], f"Bench token {i:04d}")
    with registry.cursor() as cr:
        env = api.Environment(cr, odoo.SUPERUSER_ID, {})
        company = env.ref("base.main_company")
        company.vat = f"PL{NIP}"
        token = env["ksef.token"].create(
            {
                "name": "Bench administrator token",
                "company_id": company.id,
                "context_type": "Nip",
                "context_value": NIP,
                "environment": "test",
                "reference_number": admin_text.split("|")[0],
                "state": "active",
                "permission_ids": [(6, 0, env["ksef.permission"]._by_names(ADMIN_PERMISSIONS).ids)],
                "assigned_company_ids": [(6, 0, company.ids)],
            }
        )
        token._ksef_store_secret(admin_text)
        return company.id


def max_per_minute(times):
    """The most calls within any 60 s window of ``times`` (sorted epoch seconds)."""
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 60:
            start += 1
        best = max(best, end - start + 1)
    return best


def main():
    args = parse_args()
    odoo.tools.config.parse_config(["-c", args.config, "-d", args.database])
    from odoo.addons.l10n_pl_ksef_token.ksef.simulator import (
        KsefSimulator,
        SimulatorConfig,
        SimulatorServer,
    )
    from odoo.addons.l10n_pl_ksef_token.ksef.simulator.app import ROUTES

    config = SimulatorConfig()  # KSeF Test defaults, rate limits on
    assert config.rate_limits is True
    limits = config.effective_rate_limits()
    list_group = next(r.group for r in ROUTES if (r.method, r.template) == ("GET", "/tokens"))
    group_routes = {f"{r.method} {r.template}" for r in ROUTES if r.group == list_group}
    per_minute_limit = limits[list_group][1]
    sim = KsefSimulator(config)
    failures = []
    with SimulatorServer(sim) as server:
        assert server.base_url.startswith("http://127.0.0.1:"), server.base_url
        odoo.tools.config["ksef_url_test"] = server.base_url
        registry = Registry(args.database)
        started = time.perf_counter()
        company_id = setup(registry, sim, args.tokens)
        prepared = time.perf_counter() - started
        sim.calls.clear()
        sim.request_log.clear()

        started = time.perf_counter()
        with registry.cursor() as cr:
            env = api.Environment(cr, odoo.SUPERUSER_ID, {})
            company = env["res.company"].browse(company_id)
            totals = env["ksef.token.sync"]._ksef_sync_all(company)
        elapsed = time.perf_counter() - started

        with registry.cursor() as cr:
            env = api.Environment(cr, odoo.SUPERUSER_ID, {})
            known = env["ksef.token"].with_context(active_test=False).search_count([])
        log = list(sim.request_log)
        expected_lists = math.ceil(args.tokens / PAGE_SIZE)
        group_times = sorted(at for at, route, _s, _ip in log if route in group_routes)
        busiest = max_per_minute(group_times)
        status_429 = sum(1 for entry in log if entry[2] == 429)
        other_calls = {k: v for k, v in sorted(sim.calls.items()) if k != LIST}
        print(
            f"sync of {args.tokens} KSeF tokens in one context through the Odoo sync service "
            f"(simulator on {server.base_url}, KSeF Test rate limits on; set-up {prepared:.1f} s)"
        )
        print(
            f"  {sim.calls[LIST]} x {LIST} (expected ceil({args.tokens}/{PAGE_SIZE}) = "
            f"{expected_lists}); other calls: {other_calls}"
        )
        print(
            f"  rate-limit group '{list_group}' of /tokens: {len(group_times)} call(s), at most "
            f"{busiest} in any minute (limit {per_minute_limit}/min); HTTP 429 answers: "
            f"{status_429}"
        )
        print(
            f"  {totals['updated']} updated, {totals['found']} found in KSeF; Odoo now knows "
            f"{known} token(s); elapsed {elapsed:.2f} s"
        )
        if sim.calls[LIST] != expected_lists:
            failures.append(f"expected {expected_lists} x {LIST}, got {sim.calls[LIST]}")
        if busiest > per_minute_limit:
            failures.append(f"{busiest} calls in one minute on '{list_group}'")
        if status_429:
            failures.append(f"KSeF answered 429 {status_429} times")
        if known != args.tokens or totals["updated"] + totals["found"] != args.tokens:
            failures.append(f"Odoo knows {known} of the {args.tokens} tokens of KSeF")
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
