/*
 * compat_host.c — a host that keeps the rules of "The ABI contract"
 * (tillpoints.h), built against the headers of include/ (2.N) or against
 * the made-up next minor's (2.N+1, tests/abi/next.py, which alone define
 * TP_EXT_CODES), and run by tests/abi/compat.sh
 * against a plugin built against either: every pairing must work exactly
 * as the rules say. It loads the plugin with dlopen like any host and
 * uses nothing of the project but the public headers.
 *
 * TILLPOINTS_PLUGIN names the plugin; TP_EXPECT_PLUGIN_MINOR says which
 * minor the script built it for, so a mix-up cannot pass as a pairing.
 */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tillpoints/ext/admin.h"
#include "tillpoints/ext/checkout.h"
#include "tillpoints/ext/events.h"
#include "tillpoints/ext/images.h"

#define CANARY 0xA5

typedef struct host_fixture {
    void *dl;
    const tp_entry *entry;
    const tp_plugin *plugin;
    tp_host host;
    tp_host_events_ext events;
    char dir[64];
    int callbacks;
    int awards;
    uint32_t award_event_size;
    int64_t award_points;
    char award_receipt[TP_RECEIPT_ID_MAX + 1];
} host_fixture;

static const char *plugin_path(void)
{
    const char *p = getenv("TILLPOINTS_PLUGIN");
    if (!p)
        fail_msg("set TILLPOINTS_PLUGIN to the plugin to load");
    return p;
}

static uint32_t expected_plugin_minor(void)
{
    const char *m = getenv("TP_EXPECT_PLUGIN_MINOR");
    if (!m)
        fail_msg("set TP_EXPECT_PLUGIN_MINOR to the minor the plugin was built for");
    return (uint32_t)atoi(m);
}

/* The plugin is loaded once and stays loaded until the process ends, as
 * in a POS. (Unloading it would also unload libraries that hold
 * thread-local storage, which LeakSanitizer's check at exit cannot walk.) */
static void *loaded_plugin(void)
{
    static void *dl;
    if (!dl && !(dl = dlopen(plugin_path(), RTLD_NOW | RTLD_LOCAL)))
        fail_msg("%s", dlerror());
    return dl;
}

static void on_request_callback(const tp_host *host)
{
    host_fixture *f = host->host_data;
    f->callbacks++;
}

static void on_log(const tp_host *host, tp_log_level level, const char *msg)
{
    (void)host;
    (void)level;
    (void)msg;
}

static void on_event(const tp_host *host, const tp_event *ev)
{
    host_fixture *f = host->host_data;
    if (ev->kind != TP_EVENT_AWARD_COMMITTED)
        return;
    f->awards++;
    f->award_event_size = ev->struct_size;
    f->award_points = ev->points;
    /* A field is read only when the plugin's event has it. */
    if (TP_HAS_FIELD(ev, tp_event, receipt_id))
        snprintf(f->award_receipt, sizeof f->award_receipt, "%s", ev->receipt_id);
}

static const void *host_extension(const tp_host *host, const char *id)
{
    host_fixture *f = host->host_data;
    return strcmp(id, TP_HOST_EXT_EVENTS) == 0 ? &f->events : NULL;
}

static void fill_host(host_fixture *f, tp_version abi)
{
    memset(&f->host, 0, sizeof f->host);
    f->host.abi = abi;
    f->host.struct_size = sizeof f->host;
    f->host.name = "compat host";
    f->host.vendor = "tillpoints tests";
    f->host.version = "2";
    f->host.host_data = f;
    f->host.get_extension = host_extension;
    f->host.request_callback = on_request_callback;
    f->host.log = on_log;
    f->events.struct_size = sizeof f->events;
    f->events.on_event = on_event;
}

static int setup(void **state)
{
    host_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tp-compat-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char conf[128];
    snprintf(conf, sizeof conf, "%s/t.conf", f->dir);
    FILE *c = fopen(conf, "w");
    assert_non_null(c);
    fprintf(c, "[store]\ndatabase = %s/t.db\n", f->dir);
    fclose(c);
    f->dl = loaded_plugin();
    f->entry = dlsym(f->dl, TP_ENTRY_SYMBOL);
    assert_non_null(f->entry);
    assert_true(f->entry->init(plugin_path()));
    fill_host(f, (tp_version)TP_VERSION_INIT);
    tp_message msg;
    f->plugin = f->entry->create(&f->host, conf, &msg);
    if (!f->plugin)
        fail_msg("create: %s", msg.text);
    if (f->plugin->init(f->plugin, &msg) != TP_OK)
        fail_msg("init: %s", msg.text);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    host_fixture *f = *state;
    f->plugin->destroy(f->plugin);
    f->entry->deinit();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

static const tp_members_ext *members_of(const host_fixture *f)
{
    const tp_members_ext *m = f->plugin->get_extension(f->plugin, TP_EXT_MEMBERS);
    assert_non_null(m);
    assert_true(TP_HAS_FIELD(m, tp_members_ext, member_balance));
    return m;
}

static void add_member(const host_fixture *f, const char *code, const char *name,
                       const char *app_id)
{
    tp_member_new m = {.struct_size = sizeof m, .code = code, .name = name, .app_id = app_id};
    tp_message msg;
    tp_status st = members_of(f)->member_add(f->plugin, &m, NULL, &msg);
    if (st != TP_OK)
        fail_msg("member_add %s: %s", code, msg.text);
}

/* The struct_size a member_info comes back with: the smaller of this
 * host's and the plugin's size (the plugin's, when it is older). */
static void check_filled_size(uint32_t got)
{
    long plugin_minor = (long)expected_plugin_minor(), host_minor = TP_ABI_MINOR;
    if (plugin_minor >= host_minor)
        assert_int_equal(got, sizeof(tp_member_info)); /* the plugin knows all of ours */
    else {
        assert_true(got < sizeof(tp_member_info));
        assert_true(got >= TP_FIELD_END(tp_member_info, created_ms));
    }
}

static void the_plugin_is_the_one_the_script_built(void **state)
{
    host_fixture *f = *state;
    assert_int_equal(f->entry->abi.major, 2);
    assert_int_equal(f->entry->abi.minor, expected_plugin_minor());
    assert_true(f->entry->struct_size >= TP_FIELD_END(tp_entry, create));
    assert_true(f->plugin->struct_size >= TP_FIELD_END(tp_plugin, on_main_thread));
    print_message("host built for ABI %d.%d, plugin for %u.%u\n", TP_ABI_MAJOR, TP_ABI_MINOR,
                  f->entry->abi.major, f->entry->abi.minor);
}

static void an_output_struct_is_filled_up_to_the_smaller_size(void **state)
{
    host_fixture *f = *state;
    add_member(f, "M-0001", "Ann", "app-ann");
    struct {
        tp_member_info info;
        unsigned char after[64];
    } buf;
    memset(&buf, CANARY, sizeof buf);
    buf.info.struct_size = sizeof buf.info;
    tp_message msg;
    assert_int_equal(members_of(f)->member_get(f->plugin, "M-0001", &buf.info, &msg), TP_OK);
    for (size_t i = 0; i < sizeof buf.after; i++)
        assert_int_equal(buf.after[i], CANARY); /* nothing written past our struct */
    check_filled_size(buf.info.struct_size);
    assert_string_equal(buf.info.code, "M-0001");
    assert_string_equal(buf.info.app_id, "app-ann");
#ifdef TP_EXT_CODES
    /* A next-minor field: filled by a plugin of that minor; an older
     * plugin leaves it as we set it and says so through struct_size. */
    if (TP_HAS_FIELD(&buf.info, tp_member_info, has_app_id))
        assert_int_equal(buf.info.has_app_id, 1);
    else {
        assert_true(expected_plugin_minor() < TP_ABI_MINOR);
        const unsigned char *raw = (const unsigned char *)&buf.info.has_app_id;
        for (size_t i = 0; i < sizeof buf.info.has_app_id; i++)
            assert_int_equal(raw[i], CANARY);
    }
#endif
}

static void an_output_array_steps_by_the_hosts_stride(void **state)
{
    host_fixture *f = *state;
    add_member(f, "C-0001", "Compat Ann", NULL);
    add_member(f, "C-0002", "Compat Bob", "app-bob");
    add_member(f, "C-0003", "Compat Cy", NULL);
    struct {
        tp_member_info rows[3];
        unsigned char after[64];
    } buf;
    memset(&buf, CANARY, sizeof buf);
    size_t n = 0;
    tp_message msg;
    assert_int_equal(members_of(f)->member_find(f->plugin, "Compat", buf.rows, 3,
                                                sizeof buf.rows[0], &n, &msg),
                     TP_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < sizeof buf.after; i++)
        assert_int_equal(buf.after[i], CANARY);
    const char *codes[] = {"C-0001", "C-0002", "C-0003"};
    for (size_t i = 0; i < 3; i++) {
        check_filled_size(buf.rows[i].struct_size);
        int found = 0;
        for (size_t k = 0; k < 3; k++)
            found |= strcmp(buf.rows[i].code, codes[k]) == 0;
        assert_true(found);
#ifdef TP_EXT_CODES
        if (TP_HAS_FIELD(&buf.rows[i], tp_member_info, has_app_id))
            assert_int_equal(buf.rows[i].has_app_id, strcmp(buf.rows[i].code, "C-0002") == 0);
#endif
    }
}

static void an_extension_the_plugin_lacks_is_null(void **state)
{
    host_fixture *f = *state;
    assert_null(f->plugin->get_extension(f->plugin, "tillpoints.nothing/1"));
#ifdef TP_EXT_CODES
    const tp_codes_ext *codes = f->plugin->get_extension(f->plugin, TP_EXT_CODES);
    if (expected_plugin_minor() < TP_ABI_MINOR) {
        assert_null(codes); /* an older plugin: the host falls back */
        return;
    }
    assert_non_null(codes);
    assert_true(TP_HAS_FIELD(codes, tp_codes_ext, length_range));
    uint32_t lo = 0, hi = 0;
    tp_message msg;
    assert_int_equal(codes->length_range(f->plugin, &lo, &hi, &msg), TP_OK);
    assert_int_equal(lo, 4); /* [scan] defaults */
    assert_int_equal(hi, 64);
#endif
}

/* 2.1 added tillpoints.images/1: a plugin of 2.1 or later offers it. */
static void the_images_extension_is_there_from_2_1(void **state)
{
    host_fixture *f = *state;
    const tp_images_ext *x = f->plugin->get_extension(f->plugin, TP_EXT_IMAGES);
    if (expected_plugin_minor() < 1) {
        assert_null(x);
        return;
    }
    assert_non_null(x);
    assert_true(TP_HAS_FIELD(x, tp_images_ext, decode_png));
    static const uint8_t white[16 * 16] = {0};
    tp_grey_frame fr = {.struct_size = sizeof fr, .width = 16, .height = 16,
                        .bytes_per_row = 16, .pixels = white};
    tp_image_result r = {.struct_size = sizeof r};
    tp_message msg;
    assert_int_equal(x->decode_grey(f->plugin, &fr, &r, &msg), TP_OK);
    assert_int_equal(r.verdict, TP_IMAGE_NO_CODE);
}

static void deliver_until_award(host_fixture *f)
{
    const tp_checkout_ext *co = f->plugin->get_extension(f->plugin, TP_EXT_CHECKOUT);
    tp_message msg;
    assert_int_equal(co->flush(f->plugin, 30000, &msg), TP_OK);
    for (int i = 0; i < 1000 && f->awards == 0; i++) {
        f->plugin->on_main_thread(f->plugin);
        if (f->awards == 0)
            usleep(1000);
    }
    assert_int_equal(f->awards, 1);
}

static void bigger_inputs_are_read_as_far_as_the_plugin_knows(void **state)
{
    host_fixture *f = *state;
    /* A host of a later minor: structs and array elements with fields
     * this plugin has never heard of. */
    struct {
        tp_member_new m;
        unsigned char future[32];
    } nm;
    memset(&nm, 0, sizeof nm);
    nm.m.struct_size = sizeof nm;
    nm.m.code = "M-0100";
    nm.m.name = "Dee";
    memset(nm.future, 0xFF, sizeof nm.future);
    tp_message msg;
    assert_int_equal(members_of(f)->member_add(f->plugin, &nm.m, NULL, &msg), TP_OK);

    struct wide_line {
        tp_line line;
        int64_t future[3];
    } lines[2];
    memset(lines, 0xFF, sizeof lines);
    lines[0].line = (tp_line){.sku = "A", .amount_minor = 1250};
    lines[1].line = (tp_line){.sku = "B", .amount_minor = 750, .discount_minor = 100};
    struct {
        tp_receipt r;
        unsigned char future[16];
    } rc;
    memset(&rc, 0xFF, sizeof rc);
    rc.r = (tp_receipt){.struct_size = sizeof rc, .receipt_id = "R-1", .currency = "EUR",
                        .lines = &lines[0].line, .line_count = 2,
                        .line_stride = sizeof lines[0]};
    const tp_checkout_ext *co = f->plugin->get_extension(f->plugin, TP_EXT_CHECKOUT);
    assert_true(TP_HAS_FIELD(co, tp_checkout_ext, flush));
    assert_int_equal(co->begin(f->plugin, "T1", NULL, &msg), TP_OK);
    assert_int_equal(co->scan(f->plugin, "T1", "M-0100", &msg), TP_OK);
    tp_award_preview pv;
    memset(&pv, 0, sizeof pv);
    pv.struct_size = sizeof pv;
    assert_int_equal(co->complete(f->plugin, "T1", &rc.r, &pv, &msg), TP_OK);
    assert_int_equal(pv.eligible_minor, 1250 + 750 - 100); /* both lines, by stride */
    assert_int_equal(pv.struct_size, sizeof pv);
    deliver_until_award(f);
    assert_true(f->award_event_size >= TP_FIELD_END(tp_event, symbology));
    assert_string_equal(f->award_receipt, "R-1");
    assert_int_equal(f->award_points, pv.points);
}

static void smaller_than_2_0_is_refused_with_a_sentence(void **state)
{
    host_fixture *f = *state;
    tp_member_new m = {.struct_size = 8, .code = "M-0200"};
    tp_message msg;
    assert_int_equal(members_of(f)->member_add(f->plugin, &m, NULL, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg.text, "sizeof(tp_member_new)"));
    tp_member_info rows[2];
    size_t n = 0;
    assert_int_equal(members_of(f)->member_find(f->plugin, "M", rows, 2, 16, &n, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg.text, "stride"));
    tp_member_info info;
    memset(&info, 0, sizeof info); /* struct_size 0: not set */
    add_member(f, "M-0201", "Eve", NULL);
    assert_int_equal(members_of(f)->member_get(f->plugin, "M-0201", &info, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg.text, "struct_size 0"));
}

static void hosts_of_other_majors_are_refused_naming_both_versions(void **state)
{
    host_fixture *f = *state;
    const tp_version others[] = {{1, 2, 0}, {3, 0, 0}};
    for (size_t i = 0; i < 2; i++) {
        host_fixture g;
        memset(&g, 0, sizeof g);
        fill_host(&g, others[i]);
        tp_message msg;
        assert_null(f->entry->create(&g.host, NULL, &msg));
        char want[64];
        snprintf(want, sizeof want, "host was built for ABI %u.%u", others[i].major,
                 others[i].minor);
        assert_non_null(strstr(msg.text, want));
        assert_non_null(strstr(msg.text, "speaks tillpoints ABI 2."));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(the_plugin_is_the_one_the_script_built, setup, teardown),
        cmocka_unit_test_setup_teardown(an_output_struct_is_filled_up_to_the_smaller_size, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_output_array_steps_by_the_hosts_stride, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_extension_the_plugin_lacks_is_null, setup, teardown),
        cmocka_unit_test_setup_teardown(the_images_extension_is_there_from_2_1, setup, teardown),
        cmocka_unit_test_setup_teardown(bigger_inputs_are_read_as_far_as_the_plugin_knows, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(smaller_than_2_0_is_refused_with_a_sentence, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(hosts_of_other_majors_are_refused_naming_both_versions,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
