/* A host that carries its own SQLite: this program exports its own
 * sqlite3_libversion and sqlite3_initialize (linked with -rdynamic, as a
 * POS built with its own SQLite would), uses the system SQLite for a
 * database of its own, and loads the plugin with dlopen. The plugin's
 * SQLite is its own, linked in and hidden (Makefile, SQLITE_STATIC): none
 * of its calls reach the host's functions, no SQLite symbol is visible
 * through the plugin's handle, and both work on their own databases. */
#include <dlfcn.h>

#include "testutil.h"

#include "host.h"
#include "tillpoints/ext/about.h"

static int host_initialize_calls;

/* The host's own SQLite, as far as the plugin could ever see it: a
 * version string no real SQLite has, and a counted initialize. */
const char *sqlite3_libversion(void);
const char *sqlite3_libversion(void) { return "host-own-sqlite"; }

int sqlite3_initialize(void);
int sqlite3_initialize(void)
{
    host_initialize_calls++;
    int (*real)(void) = (int (*)(void))dlsym(RTLD_NEXT, "sqlite3_initialize");
    return real ? real() : SQLITE_ERROR;
}

static const char *plugin_path(void)
{
    const char *p = getenv("TILLPOINTS_PLUGIN");
    if (!p)
        fail_msg("set TILLPOINTS_PLUGIN to the built tillpoints.so");
    return p;
}

static void the_plugin_and_the_host_each_keep_their_own_sqlite(void **state)
{
    (void)state;
    char dir[256], host_db[300], conf[300];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(host_db, sizeof host_db, "%s/host.db", dir);
    snprintf(conf, sizeof conf, "%s/t.conf", dir);

    /* The host's own database, through the SQLite it links. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(host_db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE sales(id INTEGER PRIMARY KEY, total INTEGER);"
                                      "INSERT INTO sales(total) VALUES(450);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    int calls_before = host_initialize_calls;

    tu_write_file(conf, "[store]\ndatabase = t.db\n");
    tp_hostlib_options opt = {.plugin_path = plugin_path(), .config_path = conf};
    char err[512] = "";
    tp_hostlib *h = tp_hostlib_open(&opt, err, sizeof err);
    if (!h)
        fail_msg("%s", err);
    const tp_plugin *p = tp_hostlib_plugin(h);
    /* The plugin initialised its SQLite, not through the host's. */
    assert_int_equal(host_initialize_calls, calls_before);
    const tp_about_ext *about = p->get_extension(p, TP_EXT_ABOUT);
    assert_non_null(about);
    const char *plugin_sqlite = about->sqlite_version(p);
    assert_string_not_equal(plugin_sqlite, "host-own-sqlite");
    assert_string_equal(plugin_sqlite, SQLITE_VERSION); /* the version it was built with */

    /* Nothing of SQLite is reachable through the plugin's handle. */
    void *dl = dlopen(plugin_path(), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    assert_non_null(dl);
    assert_null(dlsym(dl, "sqlite3_open_v2"));
    assert_null(dlsym(dl, "sqlite3_libversion"));
    dlclose(dl);

    /* Both work on their own databases, side by side. */
    tp_member_new m = {.struct_size = sizeof m, .code = "M-0001", .name = "Ann"};
    tp_member_info info = {.struct_size = sizeof info};
    tp_message msg;
    assert_int_equal(tp_hostlib_admin(h)->members->member_add(p, &m, &info, &msg), TP_OK);
    assert_string_equal(info.code, "M-0001");
    assert_int_equal(sqlite3_exec(db, "INSERT INTO sales(total) VALUES(730);", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT sum(total) FROM sales", -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(q, 0), 1180);
    sqlite3_finalize(q);
    tp_hostlib_close(h);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_plugin_and_the_host_each_keep_their_own_sqlite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
