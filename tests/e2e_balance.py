#!/usr/bin/env python3
"""e2e_balance.py — the one balance through the real programs and a real
PostgreSQL 15 (tests/pg_fixture.sh; docs/DESIGN.md §8, "One balance").

Three shims (tillpoints-shim over stdio, the built plugin loaded with
dlopen), three SQLite files, two locations, one central database. After
sales at every terminal and a drain, every terminal answers admin.member_get
with the central ledger's sum as `balance` (its own share as
`ledger_balance`), and `tillpoints balance` on each terminal's database says
the same. Paced by what the programs answer; the bound only stops a stuck
run. Skipped (exit 0) when not root or PostgreSQL 15 is missing.
"""
import json
import re
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_shim as e  # noqa: E402  (the protocol client and helpers)

INITDB = "/usr/lib/postgresql/15/bin/initdb"
FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pg_fixture.sh")
MEMBERS = ["E-1001", "E-1002"]


TILL = os.path.join(e.BUILD, "tillpoints-till")


def fixture(cmd, pgdir):
    subprocess.run(["sh", FIXTURE, cmd, pgdir, str(os.getpid()), "off"], check=True)


def central_sum(pgdir, code):
    out = subprocess.run(["psql", f"host={pgdir} dbname=tp user=tillpoints password=secret",
                          "-tAc", "SELECT COALESCE(sum(points), 0) FROM ledger WHERE member = '"
                          + code + "'"], capture_output=True, check=True, timeout=e.TIMEOUT)
    return int(out.stdout.decode().strip())


def central_count(pgdir):
    out = subprocess.run(["psql", f"host={pgdir} dbname=tp user=tillpoints password=secret",
                          "-tAc", "SELECT count(*) FROM ledger"], capture_output=True,
                         check=True, timeout=e.TIMEOUT)
    return int(out.stdout.decode().strip())


def until(what, fn):
    deadline = time.monotonic() + e.TIMEOUT
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            e.check(what, False, "timed out")
            return None
        time.sleep(0.05)


def main():
    if os.geteuid() != 0 or not os.access(INITDB, os.X_OK):
        print("e2e_balance: skipped (needs root and PostgreSQL 15)")
        return 0
    work = tempfile.mkdtemp(prefix="tp-e2e-bal-")
    pgdir = tempfile.mkdtemp(prefix="tillpoints-pge2e-")
    fixture("start", pgdir)
    secrets = os.path.join(work, "secrets.conf")
    with open(secrets, "w") as f:
        f.write("[sync]\npassword = secret\n")
    os.chmod(secrets, 0o600)
    terms = [("store-A", "till-1"), ("store-A", "till-2"), ("store-B", "till-3")]
    confs, shims = [], []
    try:
        for i, (loc, tid) in enumerate(terms):
            conf = os.path.join(work, f"t{i}.conf")
            with open(conf, "w") as f:
                f.write(f"[store]\ndatabase = t{i}.db\nlocation = {loc}\nterminal = {tid}\n"
                        f"secrets = {secrets}\n[sync]\npostgres = host={pgdir} dbname=tp "
                        "user=tillpoints\npush_interval_ms = 50\npull_interval_ms = 200\n"
                        "backoff_min_ms = 50\nbackoff_max_ms = 400\n")
            confs.append(conf)
        r = subprocess.run([e.CLI, "--plugin", e.PLUGIN, "--config", confs[0], "central", "init"],
                           capture_output=True, timeout=e.TIMEOUT)
        e.check("central init", r.returncode == 0, r.stderr)
        for conf in confs:
            proc, c, _ = e.stdio_shim(conf)
            shims.append((proc, c))
            e.check("hello at 1.6", e.hello(c).get("result", {}).get("protocol") == "1.6")
        for code in MEMBERS:
            r = shims[0][1].call("admin.member_add", {"code": code, "name": "Chain Member"})
            e.check(f"member {code} added", "result" in r, r)
        # Every terminal knows the members (pulled from the central database).
        for i, (_, c) in enumerate(shims):
            for code in MEMBERS:
                until(f"terminal {i} pulled {code}",
                      lambda: "result" in c.call("admin.member_get", {"code": code}))
        # Sales at every terminal, unequal shares.
        for i, (_, c) in enumerate(shims):
            for k in range(i + 2):
                for code in MEMBERS:
                    txn = f"E{i}-{code}-{k}"
                    c.call("checkout.begin", {"txn": txn})
                    c.call("checkout.scan", {"txn": txn, "code": code})
                    r = c.call("checkout.complete", {"txn": txn, "receipt": e.receipt(
                        txn, [{"sku": "S", "amount_minor": 1500 + 500 * k + 700 * i}])})
                    e.check(f"sale {txn}", "result" in r, r)
            e.check(f"terminal {i} flushed", "result" in c.call("admin.flush", {}))
            ev = c.event("award.committed")
            e.check(f"terminal {i}: award.committed has the 1.4 fields",
                    ev is not None and {"ledger_balance", "balance_source",
                                        "balance_as_of_ms"} <= set(ev), ev)
        # The drain: every sale is in the central ledger.
        sales = sum(i + 2 for i in range(len(shims))) * len(MEMBERS)
        until("every sale reached the central database",
              lambda: central_count(pgdir) == sales)
        for code in MEMBERS:
            for i, (_, c) in enumerate(shims):
                def shows():
                    total = central_sum(pgdir, code)
                    m = c.call("admin.member_get", {"code": code}).get("result", {}).get("member")
                    return m if m and m["balance"] == total and \
                        m["balance_source"] == "central" else None
                m = until(f"terminal {i} shows the central sum for {code}", shows)
                if not m:
                    continue
                e.check(f"terminal {i}: its own share is ledger_balance",
                        m["ledger_balance"] < m["balance"], m)
                e.check(f"terminal {i}: as of a time", m["balance_as_of_ms"] > 0, m)
                out = subprocess.run([e.CLI, "--plugin", e.PLUGIN, "--config", confs[i],
                                      "--json", "balance", code], capture_output=True,
                                     timeout=e.TIMEOUT)
                d = json.loads(out.stdout or b"{}")
                e.check(f"CLI on terminal {i}: balance {code} is the central sum",
                        d.get("balance") == central_sum(pgdir, code), (d, out.stderr))
                # The reference till, on the same terminal's database.
                till = subprocess.run([TILL, "--plugin", e.PLUGIN, "--config", confs[i],
                                       "--script", "-"], input=f"member show {code}\n".encode(),
                                      capture_output=True, timeout=e.TIMEOUT)
                shown = re.search(rb"balance (-?\d+) points", till.stdout)
                e.check(f"till on terminal {i}: member show {code} is the central sum",
                        shown is not None and int(shown.group(1)) == central_sum(pgdir, code),
                        (till.stdout, till.stderr))
    finally:
        for proc, _ in shims:
            e.end_input(proc)
        try:
            fixture("destroy", pgdir)
        except subprocess.CalledProcessError:
            pass
        subprocess.run(["rm", "-rf", work])
    print(f"e2e_balance: {e.passed} passed, {e.failed} failed")
    return 1 if e.failed else 0


if __name__ == "__main__":
    sys.exit(main())
