/*
 * anchor.c — the audit log against heads kept outside the terminal (see
 * anchor.h), and the audit extension (ext/audit.h).
 *
 * Why a head elsewhere: the chain (audit.c) shows any record changed in
 * place, but someone who can write the file can also recompute every hash
 * after a change, or delete the newest records, and the chain then looks
 * intact. A head written down elsewhere before that — by the central
 * database as records arrive, or by the manager on the end-of-day report —
 * pins the record with that number to that hash: if the record is gone,
 * the newest records were deleted (or an old copy restored); if it has
 * another hash, it or a record before it was rewritten. Whatever verify's
 * chain walk says about the records up to it then holds for the history
 * the head vouches for.
 *
 * The central head is read before verify's first read transaction begins
 * (a network round trip must not hold up the forms; verify takes no admin
 * lock at all): the central database only ever holds records this
 * terminal had already committed, so every snapshot taken afterwards
 * contains them all.
 */
#include "anchor.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "abi.h"
#include "instance.h"
#include "tillpoints/ext/audit.h"
#include "util.h"
#include "verify.h"

tp_status tp_anchor_parse(const char *text, tp_anchor *out, tp_message *msg)
{
    memset(out, 0, sizeof *out);
    size_t n = text ? tp_bounded_len(text, 96) : (size_t)-1;
    const char *colon = n == (size_t)-1 ? NULL : strchr(text, ':');
    const char *hex = colon ? colon + 1 : text;
    int ok = n != (size_t)-1;
    if (ok && colon) {
        uint64_t seq = 0;
        ok = colon > text && colon - text <= 19;
        for (const char *p = text; ok && p < colon; p++) {
            ok = *p >= '0' && *p <= '9';
            seq = seq * 10 + (uint64_t)(*p - '0');
        }
        ok = ok && seq > 0;
        out->has_seq = 1;
        out->seq = seq;
    }
    size_t h = ok ? strlen(hex) : 0;
    ok = ok && h >= TP_AUDIT_ANCHOR_MIN_HEX && h <= TP_AUDIT_HASH_HEX;
    for (size_t i = 0; ok && i < h; i++) {
        ok = isxdigit((unsigned char)hex[i]) != 0;
        out->hash[i] = (char)tolower((unsigned char)hex[i]);
    }
    if (!ok) {
        memset(out, 0, sizeof *out);
        tp_msg_set(msg, "An audit head is written SEQ:HASH, as `tillpoints audit head` prints "
                   "it (e.g. 42:3fa9c0d1e2f3a4b5...): the record number, a colon and at least "
                   "the first %d of the hash's 64 hex digits.", TP_AUDIT_ANCHOR_MIN_HEX);
        return TP_ERR_INVALID_ARGUMENT;
    }
    out->hash[h] = '\0';
    return TP_OK;
}

/* Record `seq` must exist and its hash start with `hash`. `central`: the
 * head is the central database's, else a person's anchor. */
static int64_t check_head(tp_store *s, uint64_t seq, const char *hash, uint64_t local_seq,
                          int central, tp_audit_problem_fn problem, void *user)
{
    char here[TP_AUDIT_HASH_HEX + 1];
    int f = tp_audit_hash_of(s, seq, here);
    if (f < 0)
        return -1;
    const char *holder = central ? "the central database received" : "the anchor recorded";
    if (f == 0 && seq > local_seq) {
        char gone[64];
        if (seq == local_seq + 1)
            tp_buf_set(gone, sizeof gone, "record %llu was", (unsigned long long)seq);
        else
            tp_buf_set(gone, sizeof gone, "records %llu to %llu were",
                       (unsigned long long)local_seq + 1, (unsigned long long)seq);
        char end[48] = "is empty";
        if (local_seq)
            tp_buf_set(end, sizeof end, "ends at record %llu", (unsigned long long)local_seq);
        tp_audit_say(problem, user, 0,
            "%s audit record %llu, but the log here %s: %s deleted, or the database was "
            "restored from an older copy.",
            central ? "The central database holds this terminal's" : "The anchor names",
            (unsigned long long)seq, end, gone);
        return 1;
    }
    if (f == 0) {
        tp_audit_say(problem, user, 0, "Audit record %llu, which %s, is missing here: it was deleted.",
            (unsigned long long)seq, holder);
        return 1;
    }
    if (strncmp(here, hash, strlen(hash)) != 0) {
        tp_audit_say(problem, user, 0,
            "Audit record %llu is not the one %s (its hash begins %.16s here, %.16s there): "
            "it, or a record before it, was altered and the hashes recomputed.",
            (unsigned long long)seq, holder, here, hash);
        return 1;
    }
    return 0;
}

int64_t tp_anchor_check(tp_store *s, const tp_anchor *a, uint64_t local_seq, uint64_t *found,
                        tp_audit_problem_fn problem, void *user)
{
    *found = 0;
    if (a->has_seq) {
        int64_t n = check_head(s, a->seq, a->hash, local_seq, 0, problem, user);
        if (n == 0)
            *found = a->seq;
        return n;
    }
    char hash[TP_AUDIT_HASH_HEX + 1];
    int f = tp_audit_find_hash(s, a->hash, found, hash);
    if (f < 0)
        return -1;
    if (f == 0) {
        tp_audit_say(problem, user, 0,
            "No audit record has the hash the anchor recorded (%.16s...): that record, or one "
            "before it, was altered, or it was deleted.", a->hash);
        return 1;
    }
    if (f == 2) {
        *found = 0;
        tp_audit_say(problem, user, 0, "More than one audit record's hash begins %s: give the anchor as "
            "SEQ:HASH.", a->hash);
        return 1;
    }
    return 0;
}

int64_t tp_anchor_check_central(tp_store *s, const tp_central_head *c, uint64_t local_seq,
                                tp_audit_problem_fn problem, void *user)
{
    if (c->state != TP_AUDIT_CENTRAL_COMPARED)
        return 0;
    return check_head(s, c->seq, c->hash, local_seq, 1, problem, user);
}

/* ---- the extension ------------------------------------------------------ */

static tp_status ready(const tp_plugin *plugin, tp_instance **in, tp_message *msg)
{
    return tp_instance_ready(plugin, in, msg);
}

static void head_from_tip(const tp_instance *in, const tp_audit_tip *t, tp_audit_head *out)
{
    memset(out, 0, sizeof *out);
    out->seq = t->seq;
    tp_copy(out->hash, sizeof out->hash, t->hash);
    out->time_ms = t->time_ms;
    tp_copy(out->action, sizeof out->action, t->action);
    tp_copy(out->location, sizeof out->location, in->cfg.location);
    tp_copy(out->terminal, sizeof out->terminal, in->cfg.terminal);
}

static tp_status audit_head(const tp_plugin *plugin, tp_audit_head *out, tp_message *msg)
{
    tp_instance *in;
    tp_status st = ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (!out) {
        tp_msg_set(msg, "No place for the answer was given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if ((st = tp_abi_check_out(out, TP_MIN_AUDIT_HEAD, "tp_audit_head", msg)) != TP_OK)
        return st;
    tp_audit_tip tip;
    pthread_mutex_lock(&in->admin_lock);
    st = tp_audit_tip_get(in->admin_store, &tip, msg);
    pthread_mutex_unlock(&in->admin_lock);
    if (st == TP_OK) {
        tp_audit_head head;
        head_from_tip(in, &tip, &head);
        tp_abi_write_out(out, &head, sizeof head);
    }
    return st;
}

static tp_status audit_verify(const tp_plugin *plugin, const char *anchor,
                              tp_progress_fn progress, tp_problem_fn problem, void *user,
                              tp_verify_result *result_out, tp_audit_report *report_out,
                              tp_message *msg)
{
    tp_instance *in;
    tp_status st = ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if ((result_out && (st = tp_abi_check_out(result_out, TP_MIN_VERIFY_RESULT,
                                              "tp_verify_result", msg)) != TP_OK) ||
        (report_out && (st = tp_abi_check_out(report_out, TP_MIN_AUDIT_REPORT,
                                              "tp_audit_report", msg)) != TP_OK))
        return st;
    tp_anchor a;
    if (anchor && (st = tp_anchor_parse(anchor, &a, msg)) != TP_OK)
        return st;
    tp_central_head central;
    tp_central_audit_head(&in->cfg, &central); /* before verify reads: see above */
    tp_verify_result result;
    tp_audit_report report;
    memset(&result, 0, sizeof result);
    memset(&report, 0, sizeof report);
    /* A connection of verify's own: the admin lock stays free. */
    st = tp_verify_database(&in->cfg, &central, anchor ? &a : NULL, &report, progress, problem,
                            user, &result, NULL, msg);
    tp_copy(report.local.location, sizeof report.local.location, in->cfg.location);
    tp_copy(report.local.terminal, sizeof report.local.terminal, in->cfg.terminal);
    report.local.struct_size = sizeof report.local;
    if (result_out)
        tp_abi_write_out(result_out, &result, sizeof result);
    if (report_out)
        tp_abi_write_out(report_out, &report, sizeof report);
    return st;
}

static tp_status audit_seal(const tp_plugin *plugin, const char *staff, const char *reason,
                            tp_audit_head *out, tp_message *msg)
{
    tp_instance *in;
    tp_status st = ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (out && (st = tp_abi_check_out(out, TP_MIN_AUDIT_HEAD, "tp_audit_head", msg)) != TP_OK)
        return st;
    if (!staff || !*staff) {
        tp_msg_set(msg, "Say which staff member seals the entries (1 to 64 characters).");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (!reason || !*reason) {
        tp_msg_set(msg, "Give a reason of 1 to %d characters: where the entries came from.",
                   TP_REASON_MAX);
        return TP_ERR_INVALID_ARGUMENT;
    }
    if ((st = tp_check_text(staff, 64, "staff id", msg)) != TP_OK ||
        (st = tp_check_text(reason, TP_REASON_MAX, "reason", msg)) != TP_OK)
        return st;
    tp_audit_tip tip;
    memset(&tip, 0, sizeof tip);
    pthread_mutex_lock(&in->admin_lock);
    st = tp_audit_seal(in->admin_store, in->cfg.location, staff, reason, NULL, msg);
    tp_message ignored;
    if (st == TP_OK && out && tp_audit_tip_get(in->admin_store, &tip, &ignored) != TP_OK)
        memset(&tip, 0, sizeof tip);
    pthread_mutex_unlock(&in->admin_lock);
    if (st == TP_OK && out) {
        tp_audit_head head;
        head_from_tip(in, &tip, &head);
        tp_abi_write_out(out, &head, sizeof head);
    }
    return st;
}

const tp_audit_ext tp_audit_extension = {
    .struct_size = sizeof(tp_audit_ext),
    .head = audit_head,
    .verify = audit_verify,
    .seal = audit_seal,
};
