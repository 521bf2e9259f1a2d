/* Unit tests for plugin/sidejournal.c, and init() reading the journal back
 * (replay after a bounded shutdown, torn and corrupt files). */
#include "testutil.h"

#include <sys/stat.h>

#include "sidejournal.h"

static tp_write_job award(int i)
{
    tp_write_job j;
    memset(&j, 0, sizeof j);
    j.kind = TP_JOB_AWARD;
    tp_award_job *a = &j.u.award;
    snprintf(a->txn, sizeof a->txn, "T-%d", i);
    snprintf(a->receipt, sizeof a->receipt, "J-%d", i);
    snprintf(a->code, sizeof a->code, "M-0001");
    snprintf(a->staff, sizeof a->staff, "staff-1");
    snprintf(a->currency, sizeof a->currency, "EUR");
    a->time_ms = tp_now_ms_for_tests();
    a->total_minor = a->eligible_minor = 1000 + i;
    a->points = 10;
    a->line_count = 1;
    return j;
}

static tp_write_job refund(const char *receipt)
{
    tp_write_job j;
    memset(&j, 0, sizeof j);
    j.kind = TP_JOB_REFUND;
    snprintf(j.u.refund.refund, sizeof j.u.refund.refund, "R-%s", receipt);
    snprintf(j.u.refund.receipt, sizeof j.u.refund.receipt, "%s", receipt);
    snprintf(j.u.refund.currency, sizeof j.u.refund.currency, "EUR");
    j.u.refund.full = 1;
    j.u.refund.time_ms = tp_now_ms_for_tests();
    return j;
}

static long file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (long)st.st_size;
}

static void read_back(const char *path, tp_write_job **jobs, size_t *n, int *corrupt)
{
    tp_message msg;
    assert_int_equal(tp_sidejournal_read(path, jobs, n, corrupt, &msg), TP_OK);
}

static void jobs_round_trip_and_the_file_is_private(void **state)
{
    (void)state;
    char dir[256], path[300];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/x.db.pending", dir);
    tp_write_job in[5] = {award(1), award(2), refund("J-1"), award(4), award(5)};
    memset(in[1].u.award.code, 0, sizeof in[1].u.award.code); /* a sale without a member */
    /* A sale that spent points keeps its redemption. */
    tp_award_job *a3 = &in[3].u.award;
    a3->redeem_n = 2;
    a3->redeem_reward[0] = 1;
    a3->redeem_points_of[0] = 400;
    a3->redeem_minor_of[0] = 500;
    a3->redeem_reward[1] = -1;
    a3->redeem_points_of[1] = 150;
    a3->redeem_minor_of[1] = 150;
    a3->redeem_points = 550;
    a3->redeem_minor = 650;
    /* A reservation is never journaled: its sale ends with the process. */
    memset(&in[4], 0, sizeof in[4]);
    in[4].kind = TP_JOB_RESERVE;
    snprintf(in[4].u.reserve.txn, sizeof in[4].u.reserve.txn, "T-9");
    tp_message msg;
    assert_int_equal(tp_sidejournal_write(path, in, 5, &msg), TP_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    tp_write_job *out;
    size_t n;
    int corrupt;
    read_back(path, &out, &n, &corrupt);
    assert_int_equal(corrupt, 0);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < 4; i++) {
        /* seq/after are of the instance that wrote it, not carried over */
        in[i].seq = out[i].seq;
        in[i].after = out[i].after;
        assert_memory_equal(&in[i].u, &out[i].u, sizeof in[i].u);
        assert_int_equal(in[i].kind, out[i].kind);
    }
    free(out);
    /* Writing no jobs removes the file; a missing file reads as empty. */
    assert_int_equal(tp_sidejournal_write(path, NULL, 0, &msg), TP_OK);
    assert_int_equal(access(path, F_OK), -1);
    read_back(path, &out, &n, &corrupt);
    assert_int_equal(n, 0);
    assert_null(out);
    tu_rmdir(dir);
}

static void a_torn_last_record_is_left_out_and_the_rest_is_read(void **state)
{
    (void)state;
    char dir[256], path[300];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/x.db.pending", dir);
    tp_write_job in[3] = {award(1), award(2), award(3)};
    tp_message msg;
    assert_int_equal(tp_sidejournal_write(path, in, 2, &msg), TP_OK);
    long two = file_size(path);
    assert_int_equal(tp_sidejournal_write(path, in, 3, &msg), TP_OK);
    long three = file_size(path);
    /* Every cut inside the third record: two good records, not corrupt. */
    for (long cut = two + 1; cut < three; cut += 7) {
        assert_int_equal(tp_sidejournal_write(path, in, 3, &msg), TP_OK);
        assert_int_equal(truncate(path, cut), 0);
        tp_write_job *out;
        size_t n;
        int corrupt;
        read_back(path, &out, &n, &corrupt);
        assert_int_equal(corrupt, 0);
        assert_int_equal(n, 2);
        assert_string_equal(out[1].u.award.receipt, "J-2");
        free(out);
    }
    tu_rmdir(dir);
}

static void a_damaged_record_before_the_end_or_a_foreign_header_is_corrupt(void **state)
{
    (void)state;
    char dir[256], path[300];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/x.db.pending", dir);
    tp_write_job in[3] = {award(1), award(2), award(3)};
    tp_message msg;
    assert_int_equal(tp_sidejournal_write(path, in, 1, &msg), TP_OK);
    long one = file_size(path);
    assert_int_equal(tp_sidejournal_write(path, in, 3, &msg), TP_OK);
    /* Flip a byte inside the second record's payload. */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, one + 10, SEEK_SET), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, one + 10, SEEK_SET), 0);
    fputc(c ^ 0x5a, f);
    fclose(f);
    tp_write_job *out;
    size_t n;
    int corrupt;
    read_back(path, &out, &n, &corrupt);
    assert_int_equal(corrupt, 1);
    assert_int_equal(n, 1); /* the good record before it */
    assert_string_equal(out[0].u.award.receipt, "J-1");
    free(out);

    /* A record whose checksum holds but whose content checkout would never
     * have accepted (negative points) was not written by this plugin. */
    in[1].u.award.points = -500;
    assert_int_equal(tp_sidejournal_write(path, in, 3, &msg), TP_OK);
    read_back(path, &out, &n, &corrupt);
    assert_int_equal(corrupt, 1);
    assert_int_equal(n, 1);
    free(out);

    tu_write_file(path, "not a journal at all\n");
    read_back(path, &out, &n, &corrupt);
    assert_int_equal(corrupt, 1);
    assert_int_equal(n, 0);
    tu_rmdir(dir);
}

/* Destroys the instance, puts `jobs` (or `raw` bytes) where its journal
 * goes, and starts a new instance on the same files. */
static void restart_with_journal(tu_host *h, const tp_write_job *jobs, size_t n, const char *raw)
{
    h->plugin->destroy(h->plugin);
    char pending[400];
    snprintf(pending, sizeof pending, "%s/test.db.pending", h->dir);
    tp_message msg;
    if (raw)
        tu_write_file(pending, raw);
    else
        assert_int_equal(tp_sidejournal_write(pending, jobs, n, &msg), TP_OK);
    h->plugin = tillpoints_entry.create(&h->host, h->config, &msg);
    assert_non_null(h->plugin);
    if (h->plugin->init(h->plugin, &msg) != TP_OK)
        fail_msg("init with a side journal: %s", msg.text);
    tu_attach(h);
}

static void init_saves_the_journal_once_and_removes_it(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tu_add_member(h, "M-0001", "Journal Member");
    tp_message msg;
    /* J-1 is already in the database: the replay must not double it. */
    assert_int_equal(tu_sale(h, "J-1", "M-0001", 1500, &msg), TP_OK);
    tu_settle(h);
    int64_t before = tu_balance(h, "M-0001");
    tp_write_job jobs[3] = {award(1), award(2), award(3)};
    /* What destroy() would have kept of the sale J-1 had its commit hung. */
    jobs[0].u.award.total_minor = jobs[0].u.award.eligible_minor = 1500;
    restart_with_journal(h, jobs, 3, NULL);
    tu_settle(h);
    char pending[400];
    snprintf(pending, sizeof pending, "%s/test.db.pending", h->dir);
    assert_int_equal(access(pending, F_OK), -1);
    assert_int_equal(tu_find(h, TP_EVENT_AWARD_COMMITTED, "J-1")->replayed, 1);
    assert_int_equal(tu_find(h, TP_EVENT_AWARD_COMMITTED, "J-2")->replayed, 0);
    assert_int_equal(tu_find(h, TP_EVENT_AWARD_COMMITTED, "J-3")->replayed, 0);
    int64_t after = tu_balance(h, "M-0001");
    assert_true(after > before);
    /* Once saved, a second start has nothing to replay. */
    int events = h->n_events;
    tu_restart(h);
    tu_settle(h);
    assert_int_equal(tu_balance(h, "M-0001"), after);
    for (int i = events; i < h->n_events; i++)
        assert_int_not_equal(h->ev[i].kind, TP_EVENT_AWARD_COMMITTED);
    tp_verify_result vr = {.struct_size = sizeof vr};
    assert_int_equal(h->ad->audit->verify(h->plugin, NULL, NULL, NULL, NULL, &vr, NULL, &msg),
                     TP_OK);
    assert_int_equal(vr.problems, 0);
    tu_stop(h, 1);
}

static void a_corrupt_journal_is_set_aside_logged_and_init_goes_on(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    int logs = tu_logged(h, NULL, 0);
    restart_with_journal(h, NULL, 0, "TPPEND\x09\x09 from a future version\n");
    char last[TP_MESSAGE_MAX + 1];
    /* init logs "...is kept as <file>" then "tillpoints ready"; the error
     * line is among them: look for the file it names. */
    assert_true(tu_logged(h, last, sizeof last) > logs);
    char pending[400];
    snprintf(pending, sizeof pending, "%s/test.db.pending", h->dir);
    assert_int_equal(access(pending, F_OK), -1);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q '^test.db.pending.corrupt-'", h->dir);
    assert_int_equal(system(cmd), 0);
    /* The instance works. */
    tp_message msg;
    assert_int_equal(tu_sale(h, "J-9", NULL, 500, &msg), TP_OK);
    tu_settle(h);
    tu_find(h, TP_EVENT_AWARD_COMMITTED, "J-9");
    tu_stop(h, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jobs_round_trip_and_the_file_is_private),
        cmocka_unit_test(a_torn_last_record_is_left_out_and_the_rest_is_read),
        cmocka_unit_test(a_damaged_record_before_the_end_or_a_foreign_header_is_corrupt),
        cmocka_unit_test(init_saves_the_journal_once_and_removes_it),
        cmocka_unit_test(a_corrupt_journal_is_set_aside_logged_and_init_goes_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
