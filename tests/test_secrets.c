/* Tests for plugin/secrets.c and the secrets file in plugin/config.c:
 * secrets live in a file only the plugin's user can read; a main config
 * that others can read may not hold one (docs/INTEGRATING.md, "Secrets"). */
#include "testutil.h"

#include <sys/stat.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "config.h"
#include "payload.h"
#include "secrets.h"

#define KEY_HEX "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* Writes `text` to dir/name with `mode` (exactly, whatever the umask). */
static void put(char *path, size_t cap, const char *dir, const char *name, const char *text,
                mode_t mode)
{
    snprintf(path, cap, "%s/%s", dir, name);
    tu_write_file(path, text);
    assert_int_equal(chmod(path, mode), 0);
}

static tp_status load(const char *path, tp_config *c, tp_message *msg)
{
    memset(c, 0x5a, sizeof *c);
    return tp_config_load(c, path, msg);
}

static void expect_refused(const char *path, const char *needle)
{
    tp_config c;
    tp_message msg;
    assert_int_equal(load(path, &c, &msg), TP_ERR_CONFIG);
    if (!strstr(msg.text, needle))
        fail_msg("message '%s' lacks '%s'", msg.text, needle);
    assert_int_equal((unsigned char)c.location[0], 0x5a); /* untouched */
}

static void secrets_file_supplies_the_secret_settings(void **state)
{
    (void)state;
    char dir[256], conf[300], sec[300];
    tu_mkdtemp(dir, sizeof dir);
    /* The main file is group-readable (0640, as packaged) and holds none. */
    put(conf, sizeof conf, dir, "t.conf",
        "[store]\nsecrets = s.conf\n[sync]\npostgres = host=/run/pg dbname=tp user=till\n", 0640);
    put(sec, sizeof sec, dir, "s.conf",
        "; secrets\n[scan]\nreceipt_code_key = " KEY_HEX "\n[sync]\npassword = it's a \\ pw\n",
        0600);
    tp_config c;
    tp_message msg;
    assert_int_equal(load(conf, &c, &msg), TP_OK);
    assert_int_equal(c.scan.has_receipt_code_key, 1);
    assert_int_equal(c.scan.receipt_code_key[9], 0x99);
    /* The password reaches libpq as given, quotes and backslash included. */
    char *err = NULL;
    PQconninfoOption *o = PQconninfoParse(c.sync.postgres, &err);
    assert_non_null(o);
    int seen = 0;
    for (PQconninfoOption *p = o; p->keyword; p++) {
        if (strcmp(p->keyword, "password") == 0) {
            assert_string_equal(p->val, "it's a \\ pw");
            seen = 1;
        }
        if (strcmp(p->keyword, "user") == 0)
            assert_string_equal(p->val, "till");
    }
    PQconninfoFree(o);
    assert_true(seen);
    tu_rmdir(dir);
}

static void secrets_file_others_can_use_is_refused(void **state)
{
    (void)state;
    char dir[256], conf[300], sec[300];
    tu_mkdtemp(dir, sizeof dir);
    put(conf, sizeof conf, dir, "t.conf", "[store]\nsecrets = s.conf\n", 0644);
    const mode_t modes[] = {0640, 0604, 0620, 0602, 0644, 0660};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        put(sec, sizeof sec, dir, "s.conf", "[scan]\nreceipt_code_key = " KEY_HEX "\n", modes[i]);
        expect_refused(conf, "can be used by users other than its owner");
        expect_refused(conf, "chmod 600");
    }
    tu_rmdir(dir);
}

static void secrets_file_rule_checks_owner_and_kind(void **state)
{
    (void)state;
    struct stat st;
    tp_message msg;
    memset(&st, 0, sizeof st);
    st.st_mode = S_IFREG | 0600;
    st.st_uid = 1234;
    assert_int_equal(tp_secret_file_check(&st, "/s", 1234, &msg), TP_OK);
    st.st_uid = 0; /* root's file: fine for anyone who can open it */
    assert_int_equal(tp_secret_file_check(&st, "/s", 1234, &msg), TP_OK);
    st.st_uid = 999; /* someone else's */
    assert_int_equal(tp_secret_file_check(&st, "/s", 1234, &msg), TP_ERR_CONFIG);
    assert_non_null(strstr(msg.text, "belongs to uid 999"));
    assert_int_equal(tp_secret_file_check(&st, "/s", 0, &msg), TP_OK); /* root reads it */
    st.st_mode = S_IFREG | 0400;
    st.st_uid = 1234;
    assert_int_equal(tp_secret_file_check(&st, "/s", 1234, &msg), TP_OK);
    st.st_mode = S_IFREG | 0601; /* executable by others: still someone else */
    assert_int_equal(tp_secret_file_check(&st, "/s", 1234, &msg), TP_ERR_CONFIG);
    st.st_mode = S_IFDIR | 0700;
    assert_int_equal(tp_secret_file_check(&st, "/s", 1234, &msg), TP_ERR_CONFIG);
    assert_non_null(strstr(msg.text, "not a regular file"));
}

static void secret_in_a_main_config_others_can_read_is_refused(void **state)
{
    (void)state;
    char dir[256], conf[300];
    tu_mkdtemp(dir, sizeof dir);
    const char *texts[] = {
        "[store]\nlocation = a\n\n[scan]\nreceipt_code_key = " KEY_HEX "\n",
        "[sync]\npostgres = host=/x dbname=tp\npassword = pw\n",
        "[sync]\npostgres = host=/x dbname=tp password=pw\n",
        "[sync]\npostgres = postgresql://till:pw@db.example/tp\n",
    };
    const char *what[] = {"line 5: [scan] receipt_code_key is a secret",
                          "line 3: [sync] password is a secret",
                          "line 2: [sync] postgres (its password) is a secret",
                          "line 2: [sync] postgres (its password) is a secret"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        put(conf, sizeof conf, dir, "t.conf", texts[i], 0640);
        expect_refused(conf, what[i]);
        expect_refused(conf, "move it to the secrets file");
        put(conf, sizeof conf, dir, "t.conf", texts[i], 0604);
        expect_refused(conf, what[i]);
        /* Readable by its owner only: accepted, as before secrets files. */
        put(conf, sizeof conf, dir, "t.conf", texts[i], 0600);
        tp_config c;
        tp_message msg;
        if (load(conf, &c, &msg) != TP_OK)
            fail_msg("case %zu at 0600: %s", i, msg.text);
    }
    /* A connection string without a password, and an empty key, are no
     * secrets. */
    put(conf, sizeof conf, dir, "t.conf",
        "[sync]\npostgres = host=/x dbname=tp user=till\n[scan]\nreceipt_code_key =\n", 0644);
    tp_config c;
    tp_message msg;
    assert_int_equal(load(conf, &c, &msg), TP_OK);
    tu_rmdir(dir);
}

static void secrets_file_holds_secrets_only(void **state)
{
    (void)state;
    char dir[256], conf[300], sec[300];
    tu_mkdtemp(dir, sizeof dir);
    put(conf, sizeof conf, dir, "t.conf", "[store]\nsecrets = s.conf\n", 0644);
    put(sec, sizeof sec, dir, "s.conf", "[scan]\nreceipt_code_key = " KEY_HEX "\n[store]\n"
                                        "location = elsewhere\n", 0600);
    expect_refused(conf, "s.conf line 4: [store] location is not a secret");
    put(sec, sizeof sec, dir, "s.conf", "[store]\nsecrets = other.conf\n", 0600);
    expect_refused(conf, "[store] secrets is not a secret");
    /* Its own values are checked like any setting, without echoing them. */
    put(sec, sizeof sec, dir, "s.conf", "[scan]\nreceipt_code_key = 0011zz\n", 0600);
    expect_refused(conf, "receipt_code_key must be 64 hex digits");
    tp_config c;
    tp_message msg;
    assert_int_equal(load(conf, &c, &msg), TP_ERR_CONFIG);
    assert_null(strstr(msg.text, "0011zz"));
    /* A FIFO named by mistake is refused, not waited on. */
    char fifo[300];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    put(conf, sizeof conf, dir, "t.conf", "[store]\nsecrets = fifo\n", 0644);
    expect_refused(conf, "is not a regular file");
    /* Missing: said, with the file and who named it. */
    put(conf, sizeof conf, dir, "t.conf", "[store]\nsecrets = /nonexistent/s.conf\n", 0644);
    expect_refused(conf, "Cannot open the secrets file /nonexistent/s.conf ([store] secrets in");
    tu_rmdir(dir);
}

static void systemd_credential_takes_the_place_of_the_secrets_file(void **state)
{
    (void)state;
    char dir[256], conf[300], cred[300], sub[300];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(sub, sizeof sub, "%s/creds", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    put(conf, sizeof conf, dir, "t.conf", "[store]\nsecrets = /nonexistent/s.conf\n", 0640);
    /* systemd may grant the unit's user through an ACL, which shows as
     * group bits: the credential's mode is systemd's business. */
    put(cred, sizeof cred, sub, TP_SECRETS_CREDENTIAL,
        "[scan]\nreceipt_code_key = " KEY_HEX "\n", 0440);
    setenv("CREDENTIALS_DIRECTORY", sub, 1);
    tp_config c;
    tp_message msg;
    tp_status st = load(conf, &c, &msg);
    unsetenv("CREDENTIALS_DIRECTORY");
    if (st != TP_OK)
        fail_msg("%s", msg.text);
    assert_int_equal(c.scan.has_receipt_code_key, 1);
    /* The rules for the file's contents still hold. */
    put(cred, sizeof cred, sub, TP_SECRETS_CREDENTIAL, "[store]\nlocation = x\n", 0400);
    setenv("CREDENTIALS_DIRECTORY", sub, 1);
    st = load(conf, &c, &msg);
    unsetenv("CREDENTIALS_DIRECTORY");
    assert_int_equal(st, TP_ERR_CONFIG);
    assert_non_null(strstr(msg.text, "is not a secret"));
    tu_rmdir(dir);
}

static void password_joins_either_spelling_of_the_connection_string(void **state)
{
    (void)state;
    const char *base[] = {"host=/run/pg dbname=tp password=old",
                          "postgresql://till:old@db.example:5433/tp",
                          "postgres://till@db.example/tp?sslmode=disable", ""};
    const char *pw = "p@ss w'o\\rd/?&%=";
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++) {
        char ci[1024];
        tp_message msg;
        snprintf(ci, sizeof ci, "%s", base[i]);
        assert_int_equal(tp_secret_conninfo_add_password(ci, sizeof ci, pw, &msg), TP_OK);
        assert_true(tp_secret_conninfo_has_password(ci));
        char *err = NULL;
        PQconninfoOption *o = PQconninfoParse(ci, &err);
        if (!o)
            fail_msg("%s: %s", ci, err);
        for (PQconninfoOption *p = o; p->keyword; p++)
            if (strcmp(p->keyword, "password") == 0)
                assert_string_equal(p->val, pw);
        PQconninfoFree(o);
    }
    char small[40] = "host=/run/pg dbname=tp";
    tp_message msg;
    assert_int_equal(tp_secret_conninfo_add_password(small, sizeof small, "longer-than-fits",
                                                     &msg),
                     TP_ERR_CONFIG);
    assert_string_equal(small, "host=/run/pg dbname=tp");
    assert_false(tp_secret_conninfo_has_password("host=/x dbname=tp"));
    assert_false(tp_secret_conninfo_has_password("not a = valid ' string"));
}

/* Through the ABI: the plugin starts on a group-readable config whose
 * secrets file holds the receipt key, and prints keyed receipt codes;
 * the same config with the key inline does not start. */
static void plugin_uses_the_key_from_the_secrets_file(void **state)
{
    (void)state;
    char dir[256], sec[300];
    tu_mkdtemp(dir, sizeof dir);
    put(sec, sizeof sec, dir, "s.conf", "[scan]\nreceipt_code_key = " KEY_HEX "\n", 0600);
    char ini[600];
    snprintf(ini, sizeof ini, "location = shop-1\nsecrets = %s\n", sec);
    tu_host *h = tu_start(ini); /* its config file is 0644 */
    tp_message msg;
    assert_int_equal(tu_sale(h, "R-1", NULL, 500, &msg), TP_OK);
    tu_settle(h);
    const tu_event *e = tu_last(h);
    assert_int_equal(e->kind, TP_EVENT_AWARD_COMMITTED);
    tp_payload_config keyed = tp_payload_config_default(), plain = tp_payload_config_default();
    char why[TP_MESSAGE_MAX + 1];
    assert_int_equal(tp_payload_config_set(&keyed, "receipt_code_key", KEY_HEX, why, sizeof why),
                     TP_OK);
    char want[TP_RECEIPT_CODE_MAX + 1], unkeyed[TP_RECEIPT_CODE_MAX + 1];
    assert_int_equal(tp_receipt_code_format(&keyed, "shop-1", "R-1", want, sizeof want), TP_OK);
    assert_int_equal(tp_receipt_code_format(&plain, "shop-1", "R-1", unkeyed, sizeof unkeyed),
                     TP_OK);
    assert_string_equal(e->receipt_code, want);
    assert_string_not_equal(e->receipt_code, unkeyed);
    tu_stop(h, 1);

    /* The key inline in a config others can read: init refuses. */
    char conf[300];
    put(conf, sizeof conf, dir, "inline.conf",
        "[store]\ndatabase = i.db\n[scan]\nreceipt_code_key = " KEY_HEX "\n", 0644);
    tu_host host;
    memset(&host, 0, sizeof host);
    host.main_thread = pthread_self();
    host.host.abi = (tp_version)TP_VERSION_INIT;
    host.host.struct_size = sizeof host.host;
    host.host.name = "cmocka";
    host.host.host_data = &host;
    host.host.get_extension = tu_get_extension;
    host.host.request_callback = tu_request_callback;
    host.host.log = tu_log;
    assert_true(tillpoints_entry.init("test"));
    const tp_plugin *p = tillpoints_entry.create(&host.host, conf, &msg);
    assert_non_null(p);
    assert_int_equal(p->init(p, &msg), TP_ERR_CONFIG);
    assert_non_null(strstr(msg.text, "[scan] receipt_code_key is a secret"));
    p->destroy(p);
    tillpoints_entry.deinit();
    char db[320];
    snprintf(db, sizeof db, "%s/i.db", dir);
    assert_int_equal(access(db, F_OK), -1); /* nothing was opened */
    tu_rmdir(dir);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(secrets_file_supplies_the_secret_settings),
        cmocka_unit_test(secrets_file_others_can_use_is_refused),
        cmocka_unit_test(secrets_file_rule_checks_owner_and_kind),
        cmocka_unit_test(secret_in_a_main_config_others_can_read_is_refused),
        cmocka_unit_test(secrets_file_holds_secrets_only),
        cmocka_unit_test(systemd_credential_takes_the_place_of_the_secrets_file),
        cmocka_unit_test(password_joins_either_spelling_of_the_connection_string),
        cmocka_unit_test(plugin_uses_the_key_from_the_secrets_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
