/*
 * bench_redeem.c — spending points, behind `make bench` (issue 20).
 *
 * What it measures, printed as one table:
 *
 *  1. Host-thread cost of checkout.redeem(): the time the POS's main thread
 *     spends inside redeem() for a reward on a 5-line basket, member
 *     identified (p50, p99, max); against it, in the same run and the same
 *     sales, the time inside complete() (the baseline: the call the
 *     checkout budget was set for). Both only validate, compute and queue
 *     (docs/DESIGN.md §5, "Spending points").
 *
 *  2. redeem() to its REDEEM_CONFIRMED event, standalone: the writer's
 *     reservation (one write transaction, fsync) and the event's delivery.
 *
 *  3. The same with a central PostgreSQL 15 on this machine (started for
 *     the run by tests/pg_fixture.sh, fsync on): the reservation, then the
 *     confirmation thread's hold in the central ledger. Every confirmation
 *     must say "central"; one that does not is counted and fails the run.
 *     Skipped (said so) without root or PostgreSQL 15.
 *
 * The host loop is a real one: it delivers events when the plugin asks
 * (request_callback), polling that request every 20 µs, so a latency
 * includes at most that much of the host's own reaction time.
 * Usage: bench_redeem [--quick] [--n N]. Exit status 0 when the
 * measurement ran and every redemption landed; 1 otherwise.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tillpoints/ext/admin.h"
#include "tillpoints/ext/checkout.h"
#include "tillpoints/ext/events.h"
#include "tillpoints/tillpoints.h"
#include "bench.h"
#include "hostabi.h"
#include "benchhost.h"

#define TARGET_REDEEM_P99_US 10.0
#define TARGET_CENTRAL_P99_MS 20.0
#define MEMBERS 200
#define LINES 5
#define WAIT_NS (60LL * 1000000000)

/* The host, and what the events said. */
typedef struct bhost {
    bench_host h; /* first: the events come with it */
    long identified, confirmed, refused, committed, other_source;
    int64_t confirmed_at_ns;
    char last_refusal[TP_MESSAGE_MAX + 1];
    const char *want_source;
} bhost;

static void b_on_event(bench_host *h, const tp_event *given)
{
    bhost *b = (bhost *)h;
    const tp_event e = tp_event_read(given);
    switch (e.kind) {
    case TP_EVENT_MEMBER_IDENTIFIED:
        b->identified++;
        break;
    case TP_EVENT_REDEEM_CONFIRMED:
        b->confirmed++;
        b->confirmed_at_ns = bench_now_ns();
        if (strcmp(e.redeem_source, b->want_source) != 0)
            b->other_source++;
        break;
    case TP_EVENT_REDEEM_REFUSED:
        b->refused++;
        snprintf(b->last_refusal, sizeof b->last_refusal, "%s", e.message);
        break;
    case TP_EVENT_AWARD_COMMITTED:
        b->committed++;
        break;
    default:
        break;
    }
}

static void pump(bhost *b)
{
    bench_host_pump(&b->h);
}

static void nap_us(long us)
{
    struct timespec ts = {0, us * 1000L};
    nanosleep(&ts, NULL);
}

/* Pumps until *counter reaches `want`; -1 after WAIT_NS. */
static int wait_for(bhost *b, const long *counter, long want)
{
    int64_t end = bench_now_ns() + WAIT_NS;
    for (;;) {
        pump(b);
        if (*counter >= want || b->refused > 0)
            return *counter >= want ? 0 : -1;
        if (bench_now_ns() > end)
            return -1;
        nap_us(20);
    }
}

static int start(bhost *b, const char *config, const char *source)
{
    memset(b, 0, sizeof *b);
    b->want_source = source;
    b->h.on_event = b_on_event;
    if (bench_host_start(&b->h, "bench_redeem", config) != 0)
        return -1;
    if (!TP_HAS_FIELD(b->h.co, tp_checkout_ext, redeem)) {
        fprintf(stderr, "bench: the plugin's checkout has no redeem (ABI before 2.5).\n");
        return -1;
    }
    return 0;
}

static void stop(bhost *b)
{
    bench_host_stop(&b->h);
    tillpoints_entry.deinit();
}

static int write_file(const char *path, const char *text, int private_file)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = (!private_file || fchmod(fileno(f), 0600) == 0) && fputs(text, f) != EOF;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Members M000001.. with a million points each (one bulk adjustment). */
static int seed_members(bhost *b)
{
    tp_message msg;
    char code[32];
    for (int i = 0; i < MEMBERS; i++) {
        snprintf(code, sizeof code, "M%06d", i + 1);
        tp_member_new m = {.struct_size = sizeof m, .code = code, .name = "Bench"};
        if (b->h.admin.members->member_add(b->h.p, &m, NULL, &msg) != TP_OK) {
            fprintf(stderr, "bench: member_add: %s\n", msg.text);
            return -1;
        }
    }
    tp_bulk_adjustment bulk = {.struct_size = sizeof bulk, .all_members = 1, .points = 1000000,
                               .reason = "bench balance", .staff = "bench"};
    tp_bulk_result res = {.struct_size = sizeof res};
    if (b->h.admin.ledger->bulk_adjust(b->h.p, &bulk, NULL, NULL, &res, &msg) != TP_OK) {
        fprintf(stderr, "bench: bulk_adjust: %s\n", msg.text);
        return -1;
    }
    return 0;
}

/* `n` sales: begin, scan, (identified), redeem (timed), (confirmed, timed
 * from the call), complete (timed). -1 on any refusal or timeout. */
static int sales(bhost *b, const char *tag, size_t n, int64_t *redeem_ns, int64_t *confirm_ns,
                 int64_t *complete_ns, int64_t *floor_ns)
{
    static const char *const skus[LINES] = {"SKU-BREAD", "SKU-MILK", "SKU-COFFEE", "SKU-FRUIT",
                                            "SKU-JAM"};
    tp_line lines[LINES];
    for (int l = 0; l < LINES; l++)
        lines[l] = (tp_line){.sku = skus[l], .amount_minor = 250 + 100 * l};
    tp_receipt rc = {.struct_size = sizeof rc, .currency = "EUR", .lines = lines,
                     .line_count = LINES, .line_stride = sizeof(tp_line)};
    tp_redeem_request rq = {.struct_size = sizeof rq, .reward = "euro", .lines = lines,
                            .line_count = LINES, .line_stride = sizeof(tp_line)};
    tp_message msg;
    char txn[48], code[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(txn, sizeof txn, "%s-%06zu", tag, i + 1);
        snprintf(code, sizeof code, "M%06d", (int)(i % MEMBERS) + 1);
        long want_id = b->identified + 1, want_conf = b->confirmed + 1;
        if (b->h.co->begin(b->h.p, txn, "bench", &msg) != TP_OK ||
            b->h.co->scan(b->h.p, txn, code, &msg) != TP_OK || wait_for(b, &b->identified, want_id)) {
            fprintf(stderr, "bench: sale %s: %s\n", txn, msg.text);
            return -1;
        }
        tp_redemption out = {.struct_size = sizeof out};
        if (floor_ns) {
            int64_t f0 = bench_now_ns();
            volatile int spin = 0;
            for (int k = 0; k < 50; k++)
                spin += k;
            floor_ns[i] = bench_now_ns() - f0;
        }
        int64_t t0 = bench_now_ns();
        tp_status st = b->h.co->redeem(b->h.p, txn, &rq, &out, &msg);
        int64_t t1 = bench_now_ns();
        if (st != TP_OK || wait_for(b, &b->confirmed, want_conf) != 0) {
            fprintf(stderr, "bench: redeem on %s: %s %s\n", txn, msg.text, b->last_refusal);
            return -1;
        }
        redeem_ns[i] = t1 - t0;
        confirm_ns[i] = b->confirmed_at_ns - t0;
        rc.receipt_id = txn;
        int64_t c0 = bench_now_ns();
        st = b->h.co->complete(b->h.p, txn, &rc, NULL, &msg);
        int64_t c1 = bench_now_ns();
        if (st != TP_OK) {
            fprintf(stderr, "bench: complete %s: %s\n", txn, msg.text);
            return -1;
        }
        complete_ns[i] = c1 - c0;
        pump(b);
    }
    if (b->h.admin.checkout->flush(b->h.p, 120000, &msg) != TP_OK) {
        fprintf(stderr, "bench: flush: %s\n", msg.text);
        return -1;
    }
    pump(b);
    return 0;
}

static void sort3(int64_t *a, int64_t *b, int64_t *c, size_t n)
{
    qsort(a, n, sizeof *a, bench_cmp_i64);
    qsort(b, n, sizeof *b, bench_cmp_i64);
    qsort(c, n, sizeof *c, bench_cmp_i64);
}

static int fixture(const char *cmd, const char *dir)
{
    char line[512];
    snprintf(line, sizeof line, "sh tests/pg_fixture.sh %s %s %ld on", cmd, dir, (long)getpid());
    return system(line);
}

#define REWARD_INI                                                                            \
    "[reward \"euro\"]\ncost = 100\namount_off = 1.00\nmax_per_receipt = 1\n"

int main(int argc, char **argv)
{
    size_t n = 5000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            n = 500;
        else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
            n = (size_t)atol(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_redeem [--quick] [--n N]\n");
            return 2;
        }
    }
    if (n < 10) {
        fprintf(stderr, "bench_redeem: --n must be at least 10\n");
        return 2;
    }
    int status = 1, central_ran = 0;
    char dir[64], pgdir[96], config[160], ini[768], secrets[200];
    snprintf(dir, sizeof dir, "/tmp/tillpoints-bench-redeem-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(pgdir, sizeof pgdir, "/tmp/tillpoints-bench-rpg-%ld", (long)getpid());
    snprintf(config, sizeof config, "%s/tillpoints.conf", dir);
    snprintf(secrets, sizeof secrets, "%s/secrets.conf", dir);
    int64_t *rd = calloc(n, sizeof *rd), *cf = calloc(n, sizeof *cf), *cp = calloc(n, sizeof *cp);
    int64_t *fl = calloc(n, sizeof *fl);
    int64_t *rd2 = calloc(n, sizeof *rd2), *cf2 = calloc(n, sizeof *cf2),
            *cp2 = calloc(n, sizeof *cp2);
    bhost b;
    memset(&b, 0, sizeof b);
    long other = 0;
    if (!rd || !cf || !cp || !fl || !rd2 || !cf2 || !cp2)
        goto out;

    /* 1 and 2: standalone. */
    snprintf(ini, sizeof ini, "[store]\ndatabase = local.db\n" REWARD_INI);
    if (write_file(config, ini, 0) != 0 || start(&b, config, "local") != 0 ||
        seed_members(&b) != 0)
        goto out;
    fprintf(stderr, "bench: %zu sales with a redemption, standalone\n", n);
    if (sales(&b, "L", n, rd, cf, cp, fl) != 0)
        goto out;
    other += b.other_source;
    stop(&b);
    sort3(rd, cf, cp, n);
    qsort(fl, n, sizeof *fl, bench_cmp_i64);

    /* 3: with a central database on this machine. */
    if (geteuid() == 0 && access("/usr/lib/postgresql/15/bin/initdb", X_OK) == 0) {
        if (fixture("start", pgdir) != 0 ||
            write_file(secrets, "[sync]\npassword = secret\n", 1) != 0)
            goto out;
        snprintf(ini, sizeof ini,
                 "[store]\ndatabase = central.db\nsecrets = secrets.conf\n"
                 "[sync]\npostgres = host=%s dbname=tp user=tillpoints\n"
                 "push_interval_ms = 20\npull_interval_ms = 500\n"
                 "backoff_min_ms = 20\nbackoff_max_ms = 200\n" REWARD_INI
                 "[redeem]\nconfirm_timeout_ms = 2000\n",
                 pgdir);
        tp_message msg;
        int32_t from, to;
        uint64_t reset;
        if (write_file(config, ini, 0) != 0 || start(&b, config, "central") != 0)
            goto out;
        if (b.h.admin.queue->central_init(b.h.p, &from, &to, &msg) != TP_OK) {
            fprintf(stderr, "bench: central init: %s\n", msg.text);
            goto out;
        }
        b.h.admin.queue->queue_retry(b.h.p, &reset, &msg);
        if (seed_members(&b) != 0)
            goto out;
        /* The members and their points reach the central ledger first. */
        int64_t end = bench_now_ns() + WAIT_NS;
        for (;;) {
            tp_queue_status qs = {.struct_size = sizeof qs};
            if (b.h.admin.queue->queue_status(b.h.p, &qs, &msg) == TP_OK && qs.pending == 0)
                break;
            if (bench_now_ns() > end) {
                fprintf(stderr, "bench: the outbox did not drain\n");
                goto out;
            }
            pump(&b);
            nap_us(5000);
        }
        fprintf(stderr, "bench: %zu sales with a redemption, central database local\n", n);
        if (sales(&b, "C", n, rd2, cf2, cp2, NULL) != 0)
            goto out;
        other += b.other_source;
        stop(&b);
        sort3(rd2, cf2, cp2, n);
        central_ran = 1;
    } else {
        fprintf(stderr, "bench_redeem: the central rows need root and PostgreSQL 15; skipped\n");
    }

    char machine[160];
    bench_machine(machine, sizeof machine);
    printf("bench_redeem: %zu sales each redeeming a 100-point reward on a 5-line basket, %d "
           "members; %s\n", n, MEMBERS, machine);
    const int w = 46;
    bench_row(w, "figure", "value", "unit", "target", "ratio", "verdict");
    bench_row(w, "------", "-----", "----", "------", "-----", "-------");
    const char *names[3] = {"p50", "p99", "max"};
    double ps[3] = {0.5, 0.99, 1.0};
    for (int k = 0; k < 3; k++) {
        char fig[64];
        double base = bench_pct_us(cp, n, ps[k]), v = bench_pct_us(rd, n, ps[k]);
        snprintf(fig, sizeof fig, "complete() %s, host thread (baseline)", names[k]);
        bench_row_num(w, fig, base, 2, "us", "-", 0, -1);
        snprintf(fig, sizeof fig, "redeem() %s, host thread", names[k]);
        bench_row_num(w, fig, v, 2, "us", k == 1 ? "< 10" : "-", base,
                      k == 1 ? v < TARGET_REDEEM_P99_US : -1);
    }
    bench_row_num(w, "50 additions on the host thread p50 (floor)", bench_pct_us(fl, n, 0.5), 2,
                  "us", "-", 0, -1);
    bench_row_num(w, "50 additions on the host thread p99 (floor)", bench_pct_us(fl, n, 0.99), 2,
                  "us", "-", 0, -1);
    double local50 = bench_pct_ms(cf, n, 0.5), local99 = bench_pct_ms(cf, n, 0.99);
    bench_row_num(w, "redeem -> confirmed p50, standalone", local50, 2, "ms", "-", 0, -1);
    bench_row_num(w, "redeem -> confirmed p99, standalone (baseline)", local99, 2, "ms", "-", 0,
                  -1);
    if (central_ran) {
        double p50 = bench_pct_ms(cf2, n, 0.5), p99 = bench_pct_ms(cf2, n, 0.99);
        double host99 = bench_pct_us(rd2, n, 0.99);
        bench_row_num(w, "redeem -> confirmed p50, central", p50, 2, "ms", "-", local50, -1);
        bench_row_num(w, "redeem -> confirmed p99, central", p99, 2, "ms", "< 20", local99,
                      p99 < TARGET_CENTRAL_P99_MS);
        bench_row_num(w, "redeem() p99, host thread, central", host99, 2, "us", "< 10",
                      bench_pct_us(cp2, n, 0.99), host99 < TARGET_REDEEM_P99_US);
    }
    char value[32];
    snprintf(value, sizeof value, "%ld", other);
    bench_row(w, "confirmations by another source", value, "sales", "= 0", "-",
              other == 0 ? "ok" : "WRONG");
    status = other == 0 ? 0 : 1;
out:
    if (b.h.p)
        stop(&b);
    fixture("destroy", pgdir);
    bench_remove_dir(dir);
    free(fl);
    free(rd);
    free(cf);
    free(cp);
    free(rd2);
    free(cf2);
    free(cp2);
    return status;
}
