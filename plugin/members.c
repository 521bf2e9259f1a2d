/*
 * members.c — member lookup and normalisation (see members.h).
 *
 * Phone numbers are stored in E.164 so that "0151 1234 5678" typed at one
 * till finds "+49 151 12345678" typed at another; the rules are the common
 * ones (a leading '+' or '00' carries the country, a single leading '0' is
 * the national trunk prefix), which covers the numbering plans that use a
 * trunk zero. Emails are compared in lower case.
 */
#include "members.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "abi.h"
#include "balance.h"
#include "expiry.h"
#include "util.h"

tp_status tp_normalise_phone(const char *in, int country_code, char *out, size_t cap,
                             tp_message *msg)
{
    char digits[40];
    size_t n = 0;
    int plus = 0;
    if (!in) {
        tp_msg_set(msg, "The phone number is missing.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (tp_bounded_len(in, 64) == (size_t)-1) {
        tp_msg_set(msg, "The phone number is longer than 64 characters.");
        return TP_ERR_TOO_LONG;
    }
    for (const char *p = in; *p; p++) {
        if (*p == '+' && n == 0 && !plus)
            plus = 1;
        else if (isdigit((unsigned char)*p)) {
            if (n + 1 >= sizeof digits)
                break;
            digits[n++] = *p;
        } else if (!strchr(" -./()", *p)) {
            tp_msg_set(msg, "The phone number may contain digits, spaces and + - . / ( ) only.");
            return TP_ERR_INVALID_ARGUMENT;
        }
    }
    digits[n] = '\0';
    const char *d = digits;
    char national[48];
    if (!plus) {
        if (d[0] == '0' && d[1] == '0')
            d += 2;
        else {
            snprintf(national, sizeof national, "%d%s", country_code, d[0] == '0' ? d + 1 : d);
            d = national;
        }
    }
    size_t len = strlen(d);
    if (len < 8 || len > 15 || d[0] == '0') {
        tp_msg_set(msg, "That is not a complete phone number (E.164 numbers have 8 to 15 "
                   "digits with the country code).");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (len + 2 > cap) {
        tp_msg_set(msg, "The phone number is too long.");
        return TP_ERR_TOO_LONG;
    }
    out[0] = '+';
    memcpy(out + 1, d, len + 1);
    return TP_OK;
}

tp_status tp_normalise_email(const char *in, char *out, size_t cap, tp_message *msg)
{
    if (!in) {
        tp_msg_set(msg, "The email address is missing.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (tp_bounded_len(in, 256) == (size_t)-1) {
        tp_msg_set(msg, "The email address is longer than %d characters.", TP_EMAIL_MAX);
        return TP_ERR_TOO_LONG;
    }
    while (isspace((unsigned char)*in))
        in++;
    size_t len = strlen(in);
    while (len && isspace((unsigned char)in[len - 1]))
        len--;
    if (len == 0) {
        tp_msg_set(msg, "The email address is empty.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (len >= cap || len > TP_EMAIL_MAX) {
        tp_msg_set(msg, "The email address is longer than %d characters.", TP_EMAIL_MAX);
        return TP_ERR_TOO_LONG;
    }
    int at = -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c <= 0x20 || c == 0x7f) {
            tp_msg_set(msg, "The email address contains a blank or control character.");
            return TP_ERR_INVALID_ARGUMENT;
        }
        if (c == '@') {
            if (at >= 0) {
                tp_msg_set(msg, "The email address has more than one '@'.");
                return TP_ERR_INVALID_ARGUMENT;
            }
            at = (int)i;
        }
        out[i] = (char)tolower(c);
    }
    out[len] = '\0';
    if (at <= 0 || (size_t)at == len - 1 || !strchr(out + at + 1, '.') ||
        out[len - 1] == '.') {
        tp_msg_set(msg, "That is not an email address (name@example.com).");
        return TP_ERR_INVALID_ARGUMENT;
    }
    return TP_OK;
}

void tp_member_info_from_row(tp_member_info *out, const tp_member_row *row)
{
    memset(out, 0, sizeof *out);
    tp_copy(out->code, sizeof out->code, row->code);
    tp_copy(out->name, sizeof out->name, row->name);
    tp_copy(out->phone, sizeof out->phone, row->phone);
    tp_copy(out->email, sizeof out->email, row->email);
    tp_copy(out->app_id, sizeof out->app_id, row->app_id);
    out->balance = row->balance;
    out->created_ms = row->created_ms;
#ifdef TP_EXT_CODES /* built against the made-up 2.1 (tests/abi/next.py) */
    out->has_app_id = row->app_id[0] != '\0';
#endif
}

tp_status tp_members_info(tp_store *s, const tp_config *cfg, struct tp_sync *sync,
                          const tp_member_row *row, tp_member_info *out, tp_message *msg)
{
    tp_member_info_from_row(out, row);
    tp_balance b;
    tp_status st = tp_balance_get(s, cfg, sync, row->code, row->balance, &b, msg);
    if (st == TP_OK)
        tp_balance_to_member_info(&b, out);
    /* 2.4: the next expiry, when points expire here (expiry.c). */
    tp_expiry_next next;
    int64_t due;
    if (st == TP_OK &&
        (st = tp_expiry_member(s, cfg, row->id, tp_now_ms(), &due, &next, msg)) == TP_OK) {
        out->expiring_points = next.points;
        out->expiring_at_ms = next.at_ms;
    }
    return st;
}

static const char by_phone_sql[] = "SELECT id FROM members WHERE phone = ?1 ORDER BY id LIMIT 2";
static const char by_email_sql[] = "SELECT id FROM members WHERE email = ?1 ORDER BY id LIMIT 2";

/* Member ids whose `column` equals `value`: up to 2, to detect sharing. */
static int ids_by(tp_store *s, const char *column, const char *value, int64_t ids[2])
{
    int phone = strcmp(column, "phone") == 0;
    sqlite3_stmt *q = phone ? tp_store_cached(s, TP_STMT_MEMBERS_BY_PHONE, by_phone_sql)
                            : tp_store_cached(s, TP_STMT_MEMBERS_BY_EMAIL, by_email_sql);
    if (!q)
        return -1;
    sqlite3_bind_text(q, 1, value, -1, SQLITE_STATIC);
    int n = 0, rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW && n < 2)
        ids[n++] = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : -1;
}

static int phone_like(const char *key)
{
    int digits = 0;
    for (const char *p = key; *p; p++) {
        if (isdigit((unsigned char)*p))
            digits++;
        else if (!strchr("+ -./()", *p))
            return 0;
    }
    return digits >= 6;
}

tp_status tp_members_resolve(tp_store *s, const tp_config *cfg, const char *key,
                             tp_member_row *row, tp_message *msg)
{
    if (!key || !*key) {
        tp_msg_set(msg, "Name a member by code, card, app id, phone or email.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (tp_bounded_len(key, 256) == (size_t)-1) {
        tp_msg_set(msg, "A member's code, card, app id, phone or email is at most 256 "
                   "characters; this one is longer.");
        return TP_ERR_TOO_LONG;
    }
    tp_status st = tp_store_find_member(s, key, row, msg);
    if (st != TP_ERR_NOT_FOUND)
        return st;
    char norm[TP_EMAIL_MAX + 1];
    const char *column = NULL;
    if (strchr(key, '@') && tp_normalise_email(key, norm, sizeof norm, NULL) == TP_OK)
        column = "email";
    else if (phone_like(key) &&
             tp_normalise_phone(key, cfg->default_country_code, norm, sizeof norm, NULL) == TP_OK)
        column = "phone";
    if (!column) {
        tp_msg_set(msg, "No member has the code, card or app id %s.", key);
        return TP_ERR_NOT_FOUND;
    }
    int64_t ids[2];
    int n = ids_by(s, column, norm, ids);
    if (n < 0) {
        tp_msg_set(msg, "Cannot read members: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    if (n == 0) {
        tp_msg_set(msg, "No member has the %s %s.", column, norm);
        return TP_ERR_NOT_FOUND;
    }
    if (n > 1) {
        tp_msg_set(msg, "Several members share the %s %s; find them with member find and use "
                   "the member code.", column, norm);
        return TP_ERR_DUPLICATE;
    }
    return tp_store_member_by_id(s, ids[0], row, msg);
}

tp_status tp_members_find(tp_store *s, const tp_config *cfg, struct tp_sync *sync,
                          const char *query, tp_member_info *out, size_t cap, size_t stride,
                          size_t *count, tp_message *msg)
{
    *count = 0;
    if (!query || !*query) {
        tp_msg_set(msg, "Search for a name (its first letters), a code, a phone or an email.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (tp_bounded_len(query, TP_NAME_MAX) == (size_t)-1) {
        tp_msg_set(msg, "The search is longer than %d characters; search for the first "
                   "letters of the name, or a code, a phone or an email.", TP_NAME_MAX);
        return TP_ERR_TOO_LONG;
    }
    char phone[TP_PHONE_MAX + 1] = "", email[TP_EMAIL_MAX + 1] = "";
    /* A query that is not a phone or an email matches none by them. */
    if (phone_like(query) &&
        tp_normalise_phone(query, cfg->default_country_code, phone, sizeof phone, NULL) != TP_OK)
        phone[0] = '\0';
    if (strchr(query, '@') && tp_normalise_email(query, email, sizeof email, NULL) != TP_OK)
        email[0] = '\0';
    /* Name prefix: LIKE is case-insensitive (ASCII) and uses the NOCASE
     * index on name; % and _ typed by the manager are escaped. */
    char pattern[2 * TP_NAME_MAX + 2];
    size_t k = 0;
    for (const char *p = query; *p; p++) {
        if (*p == '%' || *p == '_' || *p == '\\')
            pattern[k++] = '\\';
        pattern[k++] = *p;
    }
    pattern[k++] = '%';
    pattern[k] = '\0';
    static const char sql[] =
        "SELECT id FROM members WHERE name LIKE ?5 ESCAPE '\\'"
        " UNION SELECT id FROM members WHERE code = ?1 OR app_id = ?1"
        " UNION SELECT member_id FROM member_cards WHERE code = ?1"
        " UNION SELECT id FROM members WHERE phone = ?2"
        " UNION SELECT id FROM members WHERE email = ?3"
        " ORDER BY 1 LIMIT ?4";
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(tp_store_db(s), sql, -1, &q, NULL) != SQLITE_OK) {
        tp_msg_set(msg, "Cannot search members: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    sqlite3_bind_text(q, 1, query, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, phone, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, email, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, (sqlite3_int64)cap);
    sqlite3_bind_text(q, 5, pattern, -1, SQLITE_STATIC);
    int rc;
    tp_status st = TP_OK;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW && *count < cap) {
        tp_member_row row;
        st = tp_store_member_by_id(s, sqlite3_column_int64(q, 0), &row, msg);
        tp_member_info info;
        if (st == TP_OK)
            st = tp_members_info(s, cfg, sync, &row, &info, msg);
        if (st != TP_OK)
            break;
        tp_abi_put(out, stride, (*count)++, &info, sizeof info, 1);
    }
    if (st == TP_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) {
        tp_msg_set(msg, "Cannot search members: %s.", tp_store_errmsg(s));
        st = TP_ERR_STORAGE;
    }
    sqlite3_finalize(q);
    return st;
}

tp_status tp_members_add_card(tp_store *s, const tp_config *cfg, const char *member,
                              const char *card, tp_message *msg)
{
    size_t n = card ? tp_bounded_len(card, TP_MEMBER_CODE_MAX) : 0;
    if (n == (size_t)-1 || !tp_is_member_code(card, n, NULL)) {
        tp_msg_set(msg, "A card code is 1-%d letters, digits, '-', '_' or '.'.",
                   TP_MEMBER_CODE_MAX);
        return n == (size_t)-1 ? TP_ERR_TOO_LONG : TP_ERR_INVALID_ARGUMENT;
    }
    tp_status st = tp_payload_code_scannable(&cfg->scan, card, msg->text, sizeof msg->text);
    if (st != TP_OK)
        return st;
    tp_member_row row, other;
    st = tp_members_resolve(s, cfg, member, &row, msg);
    if (st != TP_OK)
        return st;
    if (tp_store_begin(s, msg) != TP_OK)
        return TP_ERR_STORAGE;
    st = tp_store_find_member(s, card, &other, msg);
    if (st == TP_OK) {
        tp_msg_set(msg, "The code %s already belongs to member %s.", card, other.code);
        tp_store_rollback(s);
        return TP_ERR_DUPLICATE;
    }
    if (st != TP_ERR_NOT_FOUND) {
        tp_store_rollback(s);
        return st;
    }
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(tp_store_db(s),
                                "INSERT INTO member_cards(code, member_id, added_ms) VALUES(?1, ?2, ?3)",
                                -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(q, 1, card, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, row.id);
        sqlite3_bind_int64(q, 3, tp_now_ms());
        rc = sqlite3_step(q);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        tp_msg_set(msg, "Cannot add the card: %s.", tp_store_errmsg(s));
        tp_store_rollback(s);
        return TP_ERR_STORAGE;
    }
    return tp_store_commit(s, msg);
}
