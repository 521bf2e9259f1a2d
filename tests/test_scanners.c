/*
 * test_scanners.c — the scanner thread (plugin/scanners.c) through a real
 * plugin instance: [scanner "front"] sections in the config, the real
 * serial driver and the real libserialport 0.1.1, a pseudo-terminal as the
 * scanner's cable, and the host's side seen only through events and the
 * tillpoints.scanners/1 extension.
 *
 * Setup: tests/pty_harness.c (as root, a private mount namespace with the
 * serial seam preloaded; a PTY slave bound over a /dev/ttyS<N> node). Each
 * test plugs a fresh PTY in, starts a host + plugin on a fresh directory
 * whose config names that node, and writes what a scanner would send to
 * the PTY master. Unplugging is closing the master; replugging binds a new
 * PTY at the same node. A port that is missing at start is a by-id style
 * symlink that does not exist yet and is created later, as udev would.
 *
 * Events are delivered only from on_main_thread() (ext/events.h); tests
 * wait for them by calling on_main_thread() in a loop with a deadline
 * (wait_for), never by sleeping a fixed time before looking. Where a test
 * must show that something does NOT happen, it either sends a later
 * sentinel scan and waits for that (events keep their order), or waits
 * until the plugin reports (in tillpoints.scanners/1's error count) that
 * the reopen attempts in question have happened.
 *
 * The host records each event's device name next to testutil.h's record
 * (tu_event has no device field). Whether events arrived off the main
 * thread is checked by tu_stop().
 *
 * Environment: TP_SERIAL_SEAM and TP_ALLOW_SKIP, see tests/pty_harness.h.
 */
/* posix_openpt, grantpt, unlockpt, ptsname */
#define _XOPEN_SOURCE 700

#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include <sodium.h>

#include "pty_harness.h"
#include "tillpoints/ext/scanners.h"

/* Generous bound for anything that should take ms: it only stops a run that
 * is stuck, so a busy machine or a sanitizer build does not trip it. */
#define WAIT_MS 120000

static ph_env g_env;

/* ------------------------------------------------------------------ */
/* Host: testutil's recorder plus each event's device name            */
/* ------------------------------------------------------------------ */

typedef struct sc_host {
    tu_host tu; /* first: testutil's callbacks cast host_data to tu_host */
    char device[TU_MAX_EVENTS][40];
    char symbology[TU_MAX_EVENTS][24];
    const tp_scanners_ext *sx;
} sc_host;

static void sc_on_event(const tp_host *host, const tp_event *plugin_event)
{
    const tp_event ev = tp_event_read(plugin_event), *e = &ev;
    sc_host *h = host->host_data;

    /* the slot tu_on_event is about to fill, if it has room */
    if (h->tu.n_events < TU_MAX_EVENTS) {
        snprintf(h->device[h->tu.n_events], sizeof h->device[0], "%s", e->device);
        snprintf(h->symbology[h->tu.n_events], sizeof h->symbology[0], "%s",
                 e->symbology ? e->symbology : "(null)");
    }
    tu_on_event(host, e);
}

/* Like tu_start(), but an init() failure is returned, not a failed test:
 * *out is the host either way (its plugin NULL after a failed init). */
static tp_status try_start(const char *ini, sc_host **out, tp_message *msg)
{
    sc_host *h = calloc(1, sizeof *h);
    char text[4096];
    tp_status st;

    assert_non_null(h);
    tu_mkdtemp(h->tu.dir, sizeof h->tu.dir);
    snprintf(h->tu.config, sizeof h->tu.config, "%s/tillpoints.conf", h->tu.dir);
    snprintf(text, sizeof text, "[store]\ndatabase = test.db\n%s", ini);
    tu_write_file(h->tu.config, text);
    h->tu.main_thread = pthread_self();
    h->tu.events_ext.struct_size = sizeof h->tu.events_ext;
    h->tu.events_ext.on_event = sc_on_event;
    h->tu.host.abi = (tp_version)TP_VERSION_INIT;
    h->tu.host.struct_size = sizeof h->tu.host;
    h->tu.host.name = "cmocka";
    h->tu.host.vendor = "tillpoints tests";
    h->tu.host.version = "0";
    h->tu.host.host_data = h;
    h->tu.host.get_extension = tu_get_extension;
    h->tu.host.request_callback = tu_request_callback;
    h->tu.host.log = tu_log;
    assert_true(tillpoints_entry.init("test"));
    h->tu.plugin = tillpoints_entry.create(&h->tu.host, h->tu.config, msg);
    assert_non_null(h->tu.plugin);
    st = h->tu.plugin->init(h->tu.plugin, msg);
    if (st != TP_OK) {
        h->tu.plugin->destroy(h->tu.plugin);
        h->tu.plugin = NULL;
    } else {
        h->sx = h->tu.plugin->get_extension(h->tu.plugin, TP_EXT_SCANNERS);
        assert_non_null(h->sx);
    }
    *out = h;
    return st;
}

static sc_host *start(const char *ini)
{
    sc_host *h = NULL;
    tp_message msg;

    if (try_start(ini, &h, &msg) != TP_OK)
        fail_msg("init: %s", msg.text);
    return h;
}

static void stop(sc_host *h)
{
    tu_stop(&h->tu, 1);
}

/* ------------------------------------------------------------------ */
/* Config, cable, clock                                                */
/* ------------------------------------------------------------------ */

/* [scan] lines (may be "") first, then [scanner "front"] on `port` at
 * 9600 baud with suffix CR, then extra scanner lines (may be ""). */
static const char *front_ini(const char *scan, const char *port, const char *extra)
{
    static char ini[2048];

    snprintf(ini, sizeof ini,
             "%s"
             "[scanner \"front\"]\n"
             "driver = serial\n"
             "port = %.255s\n"
             "baud = 9600\n"
             "suffix = CR\n"
             "%s",
             scan, port, extra);
    return ini;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

typedef struct fixture {
    int master; /* the scanner's end of the cable; -1 when unplugged */
    sc_host *h;
} fixture;

static void plug(fixture *fx)
{
    fx->master = ph_plug(&g_env);
    if (fx->master < 0)
        fail_msg("plugging a PTY in at %s: %s", g_env.node, strerror(errno));
}

static void scan(const fixture *fx, const char *bytes)
{
    assert_int_equal(ph_send(fx->master, bytes, strlen(bytes)), 0);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);

    assert_non_null(fx);
    assert_int_equal(ph_set_lines(&g_env, "dsr=1 cd=1 cts=1\n"), 0);
    plug(fx);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;

    if (fx->h != NULL)
        stop(fx->h);
    ph_unplug(&fx->master);
    free(fx);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Looking at events                                                   */
/* ------------------------------------------------------------------ */

static int count(const sc_host *h, tp_event_kind kind)
{
    int n = 0;

    for (int i = 0; i < h->tu.n_events; i++)
        n += h->tu.ev[i].kind == kind;
    return n;
}

static int count_code(const sc_host *h, tp_event_kind kind, const char *code)
{
    int n = 0;

    for (int i = 0; i < h->tu.n_events; i++)
        n += h->tu.ev[i].kind == kind && strcmp(h->tu.ev[i].member_code, code) == 0;
    return n;
}

/* Index of the n-th (0-based) event of `kind`; fails the test if none. */
static int nth(const sc_host *h, tp_event_kind kind, int n)
{
    int seen = 0;

    for (int i = 0; i < h->tu.n_events; i++)
        if (h->tu.ev[i].kind == kind && seen++ == n)
            return i;
    fail_msg("no event #%d of kind %d among %d events", n, (int)kind, h->tu.n_events);
    return -1;
}

/* Delivers events on this (the main) thread until `want` events of `kind`
 * were seen or timeout_ms passed. True when they were. */
static bool wait_for(sc_host *h, tp_event_kind kind, int want, int timeout_ms)
{
    int64_t end = mono_ms() + timeout_ms;

    for (;;) {
        h->tu.plugin->on_main_thread(h->tu.plugin);
        if (count(h, kind) >= want)
            return true;
        if (mono_ms() >= end)
            return false;
        nap_ms(5);
    }
}

static void must_see(sc_host *h, tp_event_kind kind, int want, const char *what)
{
    if (!wait_for(h, kind, want, WAIT_MS))
        fail_msg("%s: %d event(s) of kind %d within %d ms, saw %d", what, want, (int)kind,
                 WAIT_MS, count(h, kind));
}

static void assert_mentions(const char *sentence, const char *part)
{
    if (strstr(sentence, part) == NULL)
        fail_msg("sentence does not mention '%s': %s", part, sentence);
}

static void assert_sentence(const char *s)
{
    size_t n = strlen(s);

    if (n < 20 || s[n - 1] != '.')
        fail_msg("not a sentence for a person: '%s'", s);
}

static tp_scanner_info front_info(const sc_host *h)
{
    tp_scanner_info info[2];
    size_t n = 0;
    tp_message msg;

    memset(info, 0, sizeof info);
    assert_int_equal(h->sx->list(h->tu.plugin, info, 2, sizeof info[0], &n, &msg), TP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(info[0].name, "front");
    assert_string_equal(info[0].driver, "serial");
    return info[0];
}

/* Delivers events until the scanner's error count (discarded frames and
 * failed opens) reaches `want`: the plugin's own account of its reopen
 * attempts. */
static void wait_errors(sc_host *h, uint64_t want, const char *what)
{
    int64_t end = mono_ms() + WAIT_MS;

    for (;;) {
        tp_scanner_info info = front_info(h);

        h->tu.plugin->on_main_thread(h->tu.plugin);
        if (info.errors >= want)
            return;
        if (mono_ms() >= end)
            fail_msg("%s: error count %llu, not %llu, within %d ms", what,
                     (unsigned long long)info.errors, (unsigned long long)want, WAIT_MS);
        nap_ms(5);
    }
}

static void start_online(fixture *fx, const char *scan_ini, const char *extra)
{
    fx->h = start(front_ini(scan_ini, g_env.node, extra));
    must_see(fx->h, TP_EVENT_SCANNER_ONLINE, 1, "scanner front online at start");
}

/* ------------------------------------------------------------------ */
/* Scans                                                               */
/* ------------------------------------------------------------------ */

static void member_code_on_the_port_reaches_the_host_as_scanned_from_front(void **state)
{
    fixture *fx = *state;
    const tu_event *e;
    int i;

    start_online(fx, "", "");
    i = nth(fx->h, TP_EVENT_SCANNER_ONLINE, 0);
    assert_string_equal(fx->h->device[i], "front");
    assert_int_equal(fx->h->tu.ev[i].status, TP_OK);
    assert_mentions(fx->h->tu.ev[i].message, g_env.node);

    scan(fx, "M-1001\r");
    must_see(fx->h, TP_EVENT_SCANNED, 1, "scan of M-1001");
    i = nth(fx->h, TP_EVENT_SCANNED, 0);
    e = &fx->h->tu.ev[i];
    assert_int_equal(e->status, TP_OK);
    assert_string_equal(e->member_code, "M-1001");
    assert_string_equal(fx->h->device[i], "front");
    assert_string_equal(fx->h->symbology[i], ""); /* aim = no: nothing said */
    assert_string_equal(e->txn, "");
    assert_mentions(e->message, "front");
    assert_mentions(e->message, "M-1001");
    assert_true(i > nth(fx->h, TP_EVENT_SCANNER_ONLINE, 0));
    assert_int_equal(count(fx->h, TP_EVENT_SCAN_REJECTED), 0);
    assert_int_equal(count(fx->h, TP_EVENT_SCANNER_ERROR), 0);

    {
        tp_scanner_info info = front_info(fx->h);
        int64_t now = tp_now_ms_for_tests();

        assert_int_equal(info.state, TP_SCANNER_ONLINE);
        assert_string_equal(info.device, g_env.node);
        assert_int_equal(info.scans, 1);
        assert_true(info.last_scan_ms > now - 60000 && info.last_scan_ms <= now + 1000);
    }
}

static void same_code_twice_within_dedup_window_counts_once_and_again_after_it(void **state)
{
    fixture *fx = *state;
    int64_t seen;

    start_online(fx, "[scan]\ndedup_ms = 200\n", "");
    /* a double read, then a different code as a sentinel: events keep
     * their order, so a duplicate would have arrived before M-3003 */
    scan(fx, "M-2002\rM-2002\rM-3003\r");
    must_see(fx->h, TP_EVENT_SCANNED, 2, "M-2002 and M-3003");
    seen = mono_ms(); /* the counted scan was read before this moment */
    assert_int_equal(count_code(fx->h, TP_EVENT_SCANNED, "M-2002"), 1);
    assert_int_equal(count_code(fx->h, TP_EVENT_SCANNED, "M-3003"), 1);
    assert_string_equal(fx->h->tu.ev[nth(fx->h, TP_EVENT_SCANNED, 0)].member_code, "M-2002");

    /* past the 200 ms window, anchored at the scan that counted: that scan
     * was read (same monotonic clock) before its event was delivered */
    while (mono_ms() - seen < 250)
        nap_ms(10);
    scan(fx, "M-2002\r");
    must_see(fx->h, TP_EVENT_SCANNED, 3, "M-2002 after the window");
    assert_int_equal(count_code(fx->h, TP_EVENT_SCANNED, "M-2002"), 2);
    assert_int_equal(front_info(fx->h).scans, 3);
    assert_int_equal(count(fx->h, TP_EVENT_SCAN_REJECTED), 0);
}

static void junk_is_rejected_with_a_sentence(void **state)
{
    fixture *fx = *state;
    const tu_event *e;
    int i;

    start_online(fx, "", "");
    scan(fx, "hello world\rM-1001\r");
    must_see(fx->h, TP_EVENT_SCANNED, 1, "the scan after the junk");
    assert_int_equal(count(fx->h, TP_EVENT_SCAN_REJECTED), 1);
    i = nth(fx->h, TP_EVENT_SCAN_REJECTED, 0);
    e = &fx->h->tu.ev[i];
    assert_true(i < nth(fx->h, TP_EVENT_SCANNED, 0));
    assert_string_equal(fx->h->device[i], "front");
    assert_int_not_equal(e->status, TP_OK);
    assert_string_equal(e->member_code, "");
    assert_sentence(e->message);
    assert_int_equal(count(fx->h, TP_EVENT_SCANNED), 1);
    assert_string_equal(fx->h->tu.ev[nth(fx->h, TP_EVENT_SCANNED, 0)].member_code, "M-1001");
    {
        tp_scanner_info info = front_info(fx->h);

        assert_int_equal(info.rejected, 1);
        assert_int_equal(info.scans, 1);
    }
}

/* The newest INFO log line must mention `part`. Logged before the event
 * is posted, so it is there once the event has been seen. */
static void assert_logged(sc_host *h, const char *part)
{
    char last[TP_MESSAGE_MAX + 1];

    assert_true(tu_logged(&h->tu, last, sizeof last) > 0);
    assert_mentions(last, part);
}

/* Scans `frame` as the scanner's n-th good read (from 1) and checks what
 * the host was told: the member code, the symbology, and the log line. */
static void expect_scanned(fixture *fx, const char *frame, int n, const char *code,
                           const char *symbology, const char *logged)
{
    scan(fx, frame);
    must_see(fx->h, TP_EVENT_SCANNED, n, frame);
    int i = nth(fx->h, TP_EVENT_SCANNED, n - 1);
    assert_string_equal(fx->h->tu.ev[i].member_code, code);
    assert_string_equal(fx->h->symbology[i], symbology);
    assert_logged(fx->h, logged);
}

static void aim_ids_reach_the_host_as_the_scan_events_symbology(void **state)
{
    fixture *fx = *state;
    int i;

    start_online(fx, "", "aim = yes\n");

    expect_scanned(fx, "]Q1M-1001\r", 1, "M-1001", "qr",
                   "scanner front read a member code (symbology qr, AIM id ]Q1)");
    expect_scanned(fx, "]E05901234123457\r", 2, "5901234123457", "ean13",
                   "symbology ean13, AIM id ]E0");
    /* A scanner that sends no id for this code: the event says nothing. */
    expect_scanned(fx, "M-1002\r", 3, "M-1002", "", "(symbology not reported)");
    /* A well-formed id of a symbology without a name: the event says
     * nothing, the log keeps the raw id for whoever sets the scanner up. */
    expect_scanned(fx, "]X0M-1003\r", 4, "M-1003", "", "(symbology not named, AIM id ]X0)");

    /* A refused code still says what it was: GS1-128 by its ]C1. */
    scan(fx, "]C1hello world\r");
    must_see(fx->h, TP_EVENT_SCAN_REJECTED, 1, "junk with an AIM id");
    i = nth(fx->h, TP_EVENT_SCAN_REJECTED, 0);
    assert_string_equal(fx->h->symbology[i], "gs1-128");
    assert_string_equal(fx->h->tu.ev[i].member_code, "");
    assert_logged(fx->h, "scanner front read a code that is no member code (symbology "
                         "gs1-128, AIM id ]C1)");

    /* Events of the device itself carry none. */
    assert_string_equal(fx->h->symbology[nth(fx->h, TP_EVENT_SCANNER_ONLINE, 0)], "");
}

static void url_scan_with_url_pattern_is_scanned_as_the_embedded_code(void **state)
{
    fixture *fx = *state;
    int i;

    start_online(fx, "[scan]\nurl_pattern = https://loyalty.example.com/m/{code}\n", "");
    scan(fx, "https://loyalty.example.com/m/M-4004\r");
    must_see(fx->h, TP_EVENT_SCANNED, 1, "the member link");
    i = nth(fx->h, TP_EVENT_SCANNED, 0);
    assert_string_equal(fx->h->tu.ev[i].member_code, "M-4004");
    assert_string_equal(fx->h->device[i], "front");

    /* someone else's link is not a member code */
    scan(fx, "https://evil.example.net/m/M-4004\r");
    must_see(fx->h, TP_EVENT_SCAN_REJECTED, 1, "a foreign link");
    assert_sentence(fx->h->tu.ev[nth(fx->h, TP_EVENT_SCAN_REJECTED, 0)].message);
    assert_int_equal(count(fx->h, TP_EVENT_SCANNED), 1);
}

/* [scan] require_signed = all: a plain code at the scanner is rejected
 * with the cashier's sentence; a signed pass comes out as its member code
 * (SCANNED), and that code, handed to checkout.scan as the host does,
 * counts as signed once. */
static void signed_pass_read_by_the_scanner_counts_as_signed_once_at_checkout(void **state)
{
    fixture *fx = *state;
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char pk_hex[2 * crypto_sign_PUBLICKEYBYTES + 1], ini[300], pass[300], body[64];
    unsigned char sig[crypto_sign_BYTES];
    char b64[sodium_base64_ENCODED_LEN(crypto_sign_BYTES,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    tp_message msg;

    assert_true(sodium_init() >= 0);
    crypto_sign_keypair(pk, sk);
    sodium_bin2hex(pk_hex, sizeof pk_hex, pk, sizeof pk);
    int n = snprintf(body, sizeof body, "v1|M-5005|4102444800000");
    crypto_sign_detached(sig, NULL, (const unsigned char *)body, (size_t)n, sk);
    sodium_bin2base64(b64, sizeof b64, sig, sizeof sig, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(pass, sizeof pass, "%s|%s\r", body, b64);
    snprintf(ini, sizeof ini, "[scan]\ntoken_public_key = %s\nrequire_signed = all\n", pk_hex);
    start_online(fx, ini, "");
    const tp_checkout_ext *co = fx->h->tu.plugin->get_extension(fx->h->tu.plugin, TP_EXT_CHECKOUT);

    scan(fx, "M-5005\r");
    scan(fx, pass);
    must_see(fx->h, TP_EVENT_SCANNED, 1, "the pass after the plain code");
    assert_int_equal(count(fx->h, TP_EVENT_SCAN_REJECTED), 1);
    assert_mentions(fx->h->tu.ev[nth(fx->h, TP_EVENT_SCAN_REJECTED, 0)].message,
                    "show the pass in the app");
    const char *code = fx->h->tu.ev[nth(fx->h, TP_EVENT_SCANNED, 0)].member_code;
    assert_string_equal(code, "M-5005");

    assert_int_equal(co->begin(fx->h->tu.plugin, "T-1", "staff", &msg), TP_OK);
    assert_int_equal(co->scan(fx->h->tu.plugin, "T-1", code, &msg), TP_OK);
    /* The same code typed for the next sale is a plain code again. */
    assert_int_equal(co->begin(fx->h->tu.plugin, "T-2", "staff", &msg), TP_OK);
    assert_int_equal(co->scan(fx->h->tu.plugin, "T-2", code, &msg), TP_ERR_UNSUPPORTED);
    assert_mentions(msg.text, "show the pass in the app");
    assert_int_equal(co->cancel(fx->h->tu.plugin, "T-1", &msg), TP_OK);
    assert_int_equal(co->cancel(fx->h->tu.plugin, "T-2", &msg), TP_OK);
}

/* ------------------------------------------------------------------ */
/* Unplug, replug, missing port, broken port                           */
/* ------------------------------------------------------------------ */

static void unplug_is_offline_once_and_replug_is_online_with_scans_flowing(void **state)
{
    fixture *fx = *state;
    char oversize[64];
    int i;

    start_online(fx, "", "max_length = 32\n");
    scan(fx, "M-5005\r");
    must_see(fx->h, TP_EVENT_SCANNED, 1, "scan before the unplug");
    /* one discarded frame (an error) and one reject, for the counts */
    memset(oversize, 'X', 40);
    oversize[40] = '\r';
    oversize[41] = '\0';
    scan(fx, oversize);
    must_see(fx->h, TP_EVENT_SCANNER_ERROR, 1, "the oversize frame");
    assert_sentence(fx->h->tu.ev[nth(fx->h, TP_EVENT_SCANNER_ERROR, 0)].message);
    assert_string_equal(fx->h->device[nth(fx->h, TP_EVENT_SCANNER_ERROR, 0)], "front");
    scan(fx, "hello world\r");
    must_see(fx->h, TP_EVENT_SCAN_REJECTED, 1, "the junk");

    ph_unplug(&fx->master);
    must_see(fx->h, TP_EVENT_SCANNER_OFFLINE, 1, "offline after the unplug");
    i = nth(fx->h, TP_EVENT_SCANNER_OFFLINE, 0);
    assert_string_equal(fx->h->device[i], "front");
    assert_int_not_equal(fx->h->tu.ev[i].status, TP_OK);
    assert_sentence(fx->h->tu.ev[i].message);
    /* two reopen attempts fail (the plugin counts each): still offline,
     * and said once */
    wait_errors(fx->h, front_info(fx->h).errors + 2, "two reopen attempts while unplugged");
    assert_int_equal(count(fx->h, TP_EVENT_SCANNER_OFFLINE), 1);
    assert_int_equal(count(fx->h, TP_EVENT_SCANNER_ONLINE), 1);
    {
        tp_scanner_info info = front_info(fx->h);

        assert_int_equal(info.state, TP_SCANNER_OFFLINE);
        assert_true(info.last_error[0] != '\0');
    }

    plug(fx);
    must_see(fx->h, TP_EVENT_SCANNER_ONLINE, 2, "online after the replug");
    assert_string_equal(fx->h->device[nth(fx->h, TP_EVENT_SCANNER_ONLINE, 1)], "front");
    scan(fx, "M-6006\r");
    must_see(fx->h, TP_EVENT_SCANNED, 2, "scan after the replug");
    assert_string_equal(fx->h->tu.ev[nth(fx->h, TP_EVENT_SCANNED, 1)].member_code, "M-6006");
    assert_int_equal(count(fx->h, TP_EVENT_SCANNER_OFFLINE), 1);
    {
        tp_scanner_info info = front_info(fx->h);

        assert_int_equal(info.state, TP_SCANNER_ONLINE);
        assert_string_equal(info.device, g_env.node);
        assert_int_equal(info.scans, 2);
        assert_int_equal(info.rejected, 1);
        /* one discarded frame, plus each reopen attempt while unplugged */
        assert_true(info.errors >= 2);
        assert_int_equal(info.reconnects, 1);
        /* the last error is kept after recovery: why it was offline */
        assert_sentence(info.last_error);
        assert_mentions(info.last_error, g_env.node);
    }
}

static void port_missing_at_start_is_offline_then_online_when_it_appears(void **state)
{
    fixture *fx = *state;
    char link[160];
    int i;

    snprintf(link, sizeof link, "%s/usb-Late_Scanner_0042-if00", g_env.tmpdir);
    (void)unlink(link);
    fx->h = start(front_ini("", link, ""));
    must_see(fx->h, TP_EVENT_SCANNER_OFFLINE, 1, "offline: the port is not there");
    i = nth(fx->h, TP_EVENT_SCANNER_OFFLINE, 0);
    assert_string_equal(fx->h->device[i], "front");
    assert_mentions(fx->h->tu.ev[i].message, "usb-Late_Scanner_0042-if00");
    assert_mentions(fx->h->tu.ev[i].message, "plugged in");
    assert_int_equal(count(fx->h, TP_EVENT_SCANNER_ONLINE), 0);
    assert_int_equal(count(fx->h, TP_EVENT_SCANNER_ERROR), 0);
    assert_int_equal(front_info(fx->h).state, TP_SCANNER_OFFLINE);

    /* the scanner is plugged in: udev makes the by-id link */
    assert_int_equal(symlink(g_env.node, link), 0);
    must_see(fx->h, TP_EVENT_SCANNER_ONLINE, 1, "online once the port appeared");
    assert_mentions(fx->h->tu.ev[nth(fx->h, TP_EVENT_SCANNER_ONLINE, 0)].message,
                    "usb-Late_Scanner_0042-if00");
    scan(fx, "M-7007\r");
    must_see(fx->h, TP_EVENT_SCANNED, 1, "scan on the late port");
    assert_string_equal(fx->h->tu.ev[nth(fx->h, TP_EVENT_SCANNED, 0)].member_code, "M-7007");
    assert_int_equal(count(fx->h, TP_EVENT_SCANNER_OFFLINE), 1);
    {
        tp_scanner_info info = front_info(fx->h);

        assert_int_equal(info.state, TP_SCANNER_ONLINE);
        assert_string_equal(info.device, link);
        assert_int_equal(info.reconnects, 0); /* it arrived; it did not come back */
    }
    stop(fx->h);
    fx->h = NULL;
    unlink(link);
}

static void port_that_is_not_a_serial_port_is_a_scanner_error(void **state)
{
    fixture *fx = *state;
    char path[160];
    int i;

    snprintf(path, sizeof path, "%s/not-a-tty", g_env.tmpdir);
    tu_write_file(path, "");
    fx->h = start(front_ini("", path, ""));
    must_see(fx->h, TP_EVENT_SCANNER_ERROR, 1, "error: not a serial port");
    i = nth(fx->h, TP_EVENT_SCANNER_ERROR, 0);
    assert_string_equal(fx->h->device[i], "front");
    assert_mentions(fx->h->tu.ev[i].message, "not-a-tty");
    assert_sentence(fx->h->tu.ev[i].message);
    {
        tp_scanner_info info = front_info(fx->h);

        assert_int_equal(info.state, TP_SCANNER_ERROR);
        assert_mentions(info.last_error, "not-a-tty");
    }
    assert_int_equal(count(fx->h, TP_EVENT_SCANNER_ONLINE), 0);
    stop(fx->h);
    fx->h = NULL;
    unlink(path);
}

/* ------------------------------------------------------------------ */
/* Virtual ports, refusals that get fixed, line noise                  */
/* ------------------------------------------------------------------ */

/* A pseudo-terminal of its own (not the harness's node): the slave is a
 * /dev/pts/<n> without a /sys/class/tty entry, as a socat or ser2net link
 * is. Returns the master; the slave's name goes to `name`. */
static int open_pty(char *name, size_t cap)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);

    if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0 || ptsname(m) == NULL)
        fail_msg("opening a pseudo-terminal: %s", strerror(errno));
    snprintf(name, cap, "%s", ptsname(m));
    return m;
}

static void pty_without_a_sysfs_entry_scans_a_member_code(void **state)
{
    fixture *fx = *state;
    char slave[64];
    int m = open_pty(slave, sizeof slave);
    int i;

    fx->h = start(front_ini("", slave, ""));
    must_see(fx->h, TP_EVENT_SCANNER_ONLINE, 1, "online on a PTY");
    assert_int_equal(ph_send(m, "M-1001\r", 7), 0);
    must_see(fx->h, TP_EVENT_SCANNED, 1, "a scan through the PTY");
    i = nth(fx->h, TP_EVENT_SCANNED, 0);
    assert_string_equal(fx->h->tu.ev[i].member_code, "M-1001");
    assert_string_equal(fx->h->device[i], "front");
    assert_int_equal(count(fx->h, TP_EVENT_SCANNER_ERROR), 0);
    assert_int_equal(front_info(fx->h).state, TP_SCANNER_ONLINE);
    assert_string_equal(front_info(fx->h).device, slave);

    /* the bridge closes its end: offline, as a pulled cable */
    close(m);
    must_see(fx->h, TP_EVENT_SCANNER_OFFLINE, 1, "offline when the bridge closes");
    stop(fx->h);
    fx->h = NULL;
}

/* A device that is not a tty is an error with a sentence, retried; when
 * the configured name later leads to a tty (here a symlink replaced, as a
 * fixed udev rule or a started bridge would), it comes online by itself. */
static void scanner_in_error_at_start_comes_back_when_fixed(void **state)
{
    fixture *fx = *state;
    char link[160], tmp[176], slave[64];
    int m = open_pty(slave, sizeof slave);
    int i;

    snprintf(link, sizeof link, "%s/bridge", g_env.tmpdir);
    snprintf(tmp, sizeof tmp, "%s/bridge.new", g_env.tmpdir);
    (void)unlink(link);
    assert_int_equal(symlink("/dev/null", link), 0);
    fx->h = start(front_ini("", link, "reconnect_max_ms = 200\n"));
    must_see(fx->h, TP_EVENT_SCANNER_ERROR, 1, "error: /dev/null is no terminal");
    i = nth(fx->h, TP_EVENT_SCANNER_ERROR, 0);
    assert_mentions(fx->h->tu.ev[i].message, "bridge");
    assert_mentions(fx->h->tu.ev[i].message, "not a serial port");
    assert_sentence(fx->h->tu.ev[i].message);
    assert_int_equal(front_info(fx->h).state, TP_SCANNER_ERROR);

    /* it is retried (the failed opens are counted), reported once */
    wait_errors(fx->h, 3, "three refused opens");
    assert_int_equal(count(fx->h, TP_EVENT_SCANNER_ERROR), 1);

    assert_int_equal(symlink(slave, tmp), 0);
    assert_int_equal(rename(tmp, link), 0);
    must_see(fx->h, TP_EVENT_SCANNER_ONLINE, 1, "online once the port is a tty");
    assert_int_equal(ph_send(m, "M-2002\r", 7), 0);
    must_see(fx->h, TP_EVENT_SCANNED, 1, "a scan after the fix");
    assert_string_equal(fx->h->tu.ev[nth(fx->h, TP_EVENT_SCANNED, 0)].member_code, "M-2002");
    assert_int_equal(front_info(fx->h).state, TP_SCANNER_ONLINE);
    stop(fx->h);
    fx->h = NULL;
    close(m);
    unlink(link);
}

static void reconnect_max_ms_out_of_range_fails_init_with_a_sentence(void **state)
{
    static const char *const bad[] = {"0", "99", "300001", "2s", "", "-5"};
    (void)state;

    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char extra[64];
        sc_host *h = NULL;
        tp_message msg;

        snprintf(extra, sizeof extra, "reconnect_max_ms = %s\n", bad[k]);
        if (try_start(front_ini("", g_env.node, extra), &h, &msg) != TP_ERR_CONFIG)
            fail_msg("reconnect_max_ms = '%s' was accepted", bad[k]);
        assert_mentions(msg.text, "front");
        assert_mentions(msg.text, "reconnect_max_ms");
        assert_sentence(msg.text);
        stop(h);
    }
}

/* How many discarded frames one SCANNER_ERROR event stands for: itself,
 * plus the ones it says went unreported (plugin/scanners.c's two forms). */
static uint64_t frames_in(const char *message)
{
    const char *p;
    unsigned long long n;

    if ((p = strstr(message, "discarded ")) != NULL &&
        sscanf(p, "discarded %llu more frame", &n) == 1)
        return n; /* the summary: only the unreported ones */
    if ((p = strstr(message, ": ")) != NULL && sscanf(p, ": %llu more discarded frames", &n) == 1)
        return n + 1;
    return 1;
}

/* Line noise: every frame is discarded and counted, but the host gets at
 * most one error event a second, and the events account for every frame. */
static void line_noise_is_counted_exactly_and_reported_at_most_once_a_second(void **state)
{
    enum { FRAMES = 20000 };
    static const char frame[] = "A\x01" "B\r"; /* a control byte: BAD_DATA */
    fixture *fx = *state;
    char *noise = malloc(FRAMES * 4);
    uint64_t reported = 0;
    int64_t t0, elapsed, end;
    int events;

    assert_non_null(noise);
    for (int k = 0; k < FRAMES; k++)
        memcpy(noise + 4 * k, frame, 4);
    start_online(fx, "", "");
    t0 = mono_ms();
    assert_int_equal(ph_send(fx->master, noise, FRAMES * 4), 0);
    free(noise);
    wait_errors(fx->h, FRAMES, "every noisy frame counted");
    /* the summary for the last second's frames follows by itself */
    end = mono_ms() + WAIT_MS;
    for (;;) {
        fx->h->tu.plugin->on_main_thread(fx->h->tu.plugin);
        reported = 0;
        for (int i = 0; i < fx->h->tu.n_events; i++)
            if (fx->h->tu.ev[i].kind == TP_EVENT_SCANNER_ERROR)
                reported += frames_in(fx->h->tu.ev[i].message);
        if (reported >= FRAMES || mono_ms() >= end)
            break;
        nap_ms(5);
    }
    elapsed = mono_ms() - t0;
    assert_int_equal(reported, FRAMES);
    assert_int_equal(front_info(fx->h).errors, FRAMES);
    events = count(fx->h, TP_EVENT_SCANNER_ERROR);
    /* one a second, plus the first and the closing summary */
    if (events > elapsed / 1000 + 2)
        fail_msg("%d error events in %lld ms", events, (long long)elapsed);
    assert_true(events >= 2); /* the first frame's, and a summary */
    assert_mentions(fx->h->tu.ev[nth(fx->h, TP_EVENT_SCANNER_ERROR, 0)].message,
                    "control characters");
    /* a good scan still gets through */
    scan(fx, "M-3003\r");
    must_see(fx->h, TP_EVENT_SCANNED, 1, "a scan after the noise");
}

/* ------------------------------------------------------------------ */
/* Config refused at init                                              */
/* ------------------------------------------------------------------ */

static void bad_scanner_config_fails_init_with_a_sentence_naming_the_scanner(void **state)
{
    static const struct {
        const char *ini, *mention;
    } bad[] = {
        {"[scanner \"front\"]\ndriver = serial\nport = %s\nbaud = fast\n", "baud"},
        {"[scanner \"front\"]\ndriver = bluetooth\nport = %s\n", "bluetooth"},
        {"[scanner \"front\"]\nport = %s\nbaud = 9600\n", "driver"},
        {"[scanner \"front\"]\ndriver = serial\nport = %s\ncolour = red\n", "colour"},
        {"[scanner \"front\"]\ndriver = serial\nport = ttyS0\n", "absolute"},
        {"[scanner \"front\"]\ndriver = serial\nsuffix = CR\n", "port"},
    };
    (void)state;

    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char ini[512];
        sc_host *h = NULL;
        tp_message msg;
        tp_status st;

        snprintf(ini, sizeof ini, bad[k].ini, g_env.node);
        st = try_start(ini, &h, &msg);
        if (st != TP_ERR_CONFIG)
            fail_msg("case %zu: init gave %d, not TP_ERR_CONFIG (%s)", k, (int)st, msg.text);
        assert_null(h->tu.plugin);
        assert_mentions(msg.text, "front");
        assert_mentions(msg.text, bad[k].mention);
        assert_sentence(msg.text);
        assert_int_equal(h->tu.n_events, 0);
        stop(h);
    }
}

/* ------------------------------------------------------------------ */
/* Shutdown                                                            */
/* ------------------------------------------------------------------ */

static void destroy_while_online_joins_the_scanner_thread_promptly(void **state)
{
    fixture *fx = *state;
    int64_t t0, took;

    start_online(fx, "", "frame_timeout_ms = 60000\n");
    scan(fx, "M-8008\r");
    must_see(fx->h, TP_EVENT_SCANNED, 1, "scan before destroy");
    scan(fx, "M-80"); /* a partial frame: a long timer is pending */
    nap_ms(50);
    t0 = mono_ms();
    fx->h->tu.plugin->destroy(fx->h->tu.plugin);
    took = mono_ms() - t0;
    fx->h->tu.plugin = NULL;
    /* the pending frame's timer is 60 s away */
    if (took >= 10000)
        fail_msg("destroy() took %lld ms with the scanner online", (long long)took);
}

static void destroy_while_waiting_to_reopen_is_prompt(void **state)
{
    fixture *fx = *state;
    int64_t t0, took;

    start_online(fx, "", "");
    ph_unplug(&fx->master);
    must_see(fx->h, TP_EVENT_SCANNER_OFFLINE, 1, "offline after the unplug");
    /* four failed reopens (at +0.5, +1, +2 and +4 s): the next is at least
     * 4 s away, in backoff */
    wait_errors(fx->h, front_info(fx->h).errors + 4, "four reopen attempts while unplugged");
    t0 = mono_ms();
    fx->h->tu.plugin->destroy(fx->h->tu.plugin);
    took = mono_ms() - t0;
    fx->h->tu.plugin = NULL;
    if (took >= 3000)
        fail_msg("destroy() took %lld ms with the scanner offline, waiting to reopen",
                 (long long)took);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            member_code_on_the_port_reaches_the_host_as_scanned_from_front, setup, teardown),
        cmocka_unit_test_setup_teardown(
            same_code_twice_within_dedup_window_counts_once_and_again_after_it, setup, teardown),
        cmocka_unit_test_setup_teardown(junk_is_rejected_with_a_sentence, setup, teardown),
        cmocka_unit_test_setup_teardown(
            aim_ids_reach_the_host_as_the_scan_events_symbology, setup, teardown),
        cmocka_unit_test_setup_teardown(
            url_scan_with_url_pattern_is_scanned_as_the_embedded_code, setup, teardown),
        cmocka_unit_test_setup_teardown(
            signed_pass_read_by_the_scanner_counts_as_signed_once_at_checkout, setup, teardown),
        cmocka_unit_test_setup_teardown(
            unplug_is_offline_once_and_replug_is_online_with_scans_flowing, setup, teardown),
        cmocka_unit_test_setup_teardown(
            port_missing_at_start_is_offline_then_online_when_it_appears, setup, teardown),
        cmocka_unit_test_setup_teardown(port_that_is_not_a_serial_port_is_a_scanner_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(pty_without_a_sysfs_entry_scans_a_member_code, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(scanner_in_error_at_start_comes_back_when_fixed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reconnect_max_ms_out_of_range_fails_init_with_a_sentence,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            line_noise_is_counted_exactly_and_reported_at_most_once_a_second, setup, teardown),
        cmocka_unit_test_setup_teardown(
            bad_scanner_config_fails_init_with_a_sentence_naming_the_scanner, setup, teardown),
        cmocka_unit_test_setup_teardown(destroy_while_online_joins_the_scanner_thread_promptly,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(destroy_while_waiting_to_reopen_is_prompt, setup,
                                        teardown),
    };
    int failed;

    (void)argc;
    if (!ph_inside())
        return ph_reexec_inside("test_scanners", argv);
    if (ph_env_setup(&g_env, "test_scanners", true) != 0)
        return 1;
    printf("test_scanners: PTY slaves bound over %s%s, seam %s\n", g_env.node,
           g_env.placeholder ? " (placeholder file)" : "", getenv("LD_PRELOAD"));
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    ph_env_teardown(&g_env);
    return failed == 0 ? 0 : 1;
}
