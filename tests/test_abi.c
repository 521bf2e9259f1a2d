/* ABI tests against the built tillpoints.so, loaded with dlopen as a real
 * host loads it ($TILLPOINTS_PLUGIN names the file). */
#include <dlfcn.h>

#include "testutil.h"

#include "host.h"

static const char *plugin_path(void)
{
    const char *p = getenv("TILLPOINTS_PLUGIN");
    if (!p)
        fail_msg("set TILLPOINTS_PLUGIN to the built tillpoints.so");
    return p;
}

/* The host library refuses a plugin of another major before it calls
 * anything in it, naming both versions. Here the host claims 1.x or 3.x
 * against the 2.0 plugin. */
static void host_of_another_major_refuses_the_plugin(void **state)
{
    (void)state;
    const tp_version claims[] = {{1, 2, 0}, {TP_ABI_MAJOR + 1, 0, 0}};
    for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++) {
        tp_hostlib_options opt = {.plugin_path = plugin_path(), .abi = claims[i]};
        char err[512] = "", want[64];
        assert_null(tp_hostlib_open(&opt, err, sizeof err));
        snprintf(want, sizeof want, "was built for tillpoints ABI %d.%d; this host needs ABI %u.x",
                 TP_ABI_MAJOR, TP_ABI_MINOR, claims[i].major);
        if (!strstr(err, want))
            fail_msg("'%s' does not say '%s'", err, want);
        assert_non_null(strstr(err, plugin_path()));
    }
}

/* create() refuses a host of 1.x or 3.x with a sentence naming both
 * versions. It reads nothing of the host but `abi` (first in every major):
 * a 1.x tp_host has no struct_size, so none is set here. */
static void plugin_refuses_a_host_of_another_major(void **state)
{
    (void)state;
    void *dl = dlopen(plugin_path(), RTLD_NOW | RTLD_LOCAL);
    assert_non_null(dl);
    const tp_entry *entry = dlsym(dl, TP_ENTRY_SYMBOL);
    assert_non_null(entry);
    assert_int_equal(entry->abi.major, TP_ABI_MAJOR);
    assert_true(entry->init(plugin_path()));
    const tp_version hosts[] = {{1, 2, 0}, {TP_ABI_MAJOR + 1, 0, 0}};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        tp_host host;
        memset(&host, 0, sizeof host);
        host.abi = hosts[i];
        tp_message msg;
        memset(&msg, 0, sizeof msg);
        assert_null(entry->create(&host, NULL, &msg));
        char theirs[16], ours[16];
        snprintf(theirs, sizeof theirs, "%u.%u", hosts[i].major, hosts[i].minor);
        snprintf(ours, sizeof ours, "ABI %d", TP_ABI_MAJOR);
        if (!strstr(msg.text, theirs) || !strstr(msg.text, ours))
            fail_msg("'%s' does not name both %s and %s", msg.text, theirs, ours);
    }
    entry->deinit();
    dlclose(dl);
}

/* What lets either side refuse the other: `abi` comes first in tp_entry
 * and tp_host in every major version, and every 2.0 struct that may grow
 * starts with (after `abi`) its size. */
_Static_assert(offsetof(tp_entry, abi) == 0, "tp_entry starts with abi");
_Static_assert(offsetof(tp_host, abi) == 0, "tp_host starts with abi");
_Static_assert(offsetof(tp_entry, struct_size) == sizeof(tp_version),
               "tp_entry.struct_size follows abi");
_Static_assert(offsetof(tp_host, struct_size) == sizeof(tp_version),
               "tp_host.struct_size follows abi");
_Static_assert(offsetof(tp_event, struct_size) == 0, "tp_event starts with its size");

static void plugin_says_it_speaks_abi_2_4(void **state)
{
    (void)state;
    void *dl = dlopen(plugin_path(), RTLD_NOW | RTLD_LOCAL);
    assert_non_null(dl);
    const tp_entry *entry = dlsym(dl, TP_ENTRY_SYMBOL);
    assert_non_null(entry);
    assert_int_equal(entry->abi.major, 2);
    assert_int_equal(entry->abi.minor, 5);
    assert_int_equal(entry->struct_size, sizeof(tp_entry));
    dlclose(dl);
}

static int64_t last_points;
static int n_refund_events;
static char refund_seen[2][TP_RECEIPT_ID_MAX + 1];
static tp_event_kind refund_kind[2];
static void record(void *user, const tp_event *ev)
{
    (void)user;
    if (ev->kind == TP_EVENT_AWARD_COMMITTED)
        last_points = ev->points;
    if ((ev->kind == TP_EVENT_REFUND_COMMITTED || ev->kind == TP_EVENT_REFUND_FAILED) &&
        n_refund_events < 2) {
        snprintf(refund_seen[n_refund_events], sizeof refund_seen[0], "%s", ev->refund_id);
        refund_kind[n_refund_events++] = ev->kind;
    }
}

static void loaded_plugin_runs_a_checkout(void **state)
{
    (void)state;
    char dir[256], conf[300];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(conf, sizeof conf, "%s/t.conf", dir);
    tu_write_file(conf, "[store]\ndatabase = t.db\n");
    tp_hostlib_options opt = {.plugin_path = plugin_path(), .config_path = conf,
                              .on_event = record};
    char err[512] = "";
    tp_hostlib *h = tp_hostlib_open(&opt, err, sizeof err);
    if (!h)
        fail_msg("%s", err);
    const tp_plugin *p = tp_hostlib_plugin(h);
    const tp_checkout_ext *co = tp_hostlib_checkout(h);
    tp_member_new m = {.struct_size = sizeof m, .code = "M-0001", .name = "Ann"};
    tp_message msg;
    assert_int_equal(tp_hostlib_admin(h)->members->member_add(p, &m, NULL, &msg), TP_OK);
    assert_int_equal(co->begin(p, "T", NULL, &msg), TP_OK);
    assert_int_equal(co->scan(p, "T", "M-0001", &msg), TP_OK);
    tp_line l = {.amount_minor = 4321};
    tp_receipt r = {.struct_size = sizeof r, .line_stride = sizeof(tp_line), .receipt_id = "R",
                    .currency = "EUR", .lines = &l, .line_count = 1};
    assert_int_equal(co->complete(p, "T", &r, NULL, &msg), TP_OK);
    assert_int_equal(tp_hostlib_settle(h, 10000, &msg), TP_OK);
    assert_int_equal(last_points, 43);

    /* Two refunds of the receipt in flight at once: the events name each. */
    tp_refund a = {.struct_size = sizeof a, .refund_id = "RF-A", .receipt_id = "R",
                   .currency = "EUR", .amount_minor = 1000};
    tp_refund b = {.struct_size = sizeof b, .refund_id = "RF-B", .receipt_id = "R",
                   .currency = "EUR", .full = 1};
    assert_int_equal(co->refund(p, &a, &msg), TP_OK);
    assert_int_equal(co->refund(p, &b, &msg), TP_OK);
    assert_int_equal(tp_hostlib_settle(h, 10000, &msg), TP_OK);
    assert_int_equal(n_refund_events, 2);
    assert_string_equal(refund_seen[0], "RF-A");
    assert_string_equal(refund_seen[1], "RF-B");
    assert_int_equal(refund_kind[0], TP_EVENT_REFUND_COMMITTED);
    assert_int_equal(refund_kind[1], TP_EVENT_REFUND_COMMITTED);
    tp_hostlib_close(h);
    tu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(host_of_another_major_refuses_the_plugin),
        cmocka_unit_test(plugin_refuses_a_host_of_another_major),
        cmocka_unit_test(plugin_says_it_speaks_abi_2_4),
        cmocka_unit_test(loaded_plugin_runs_a_checkout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
