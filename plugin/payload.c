/*
 * payload.c — parse a scan into a member code or a receipt code.
 *
 * This is the one place where bytes from a scanner, a phone screen or a
 * printed receipt become an identity, so it is written to be boring: every
 * scan is first reduced to printable ASCII within TP_PAYLOAD_SCAN_MAX
 * bytes, then exactly one shape (token, receipt, link, plain) is tried by
 * its prefix, and the result is built in a local tp_payload that reaches
 * the caller only when everything checked out. The contract is in
 * payload.h; the formats are documented there so a POS vendor or an app
 * team can produce them without reading this file.
 *
 * No allocation, no I/O, no global mutable state; libsodium supplies
 * Ed25519, BLAKE2b, base64 and hex, and must have been initialised by the
 * caller.
 */
#include "payload.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#define TOKEN_PREFIX "v1|"
#define TOKEN_PREFIX_LEN 3
#define RECEIPT_PREFIX "TPR1|"
#define RECEIPT_PREFIX_LEN 5
#define RECEIPT_CHECK_HEX 8
#define RECEIPT_CHECK_BYTES 4
/* BLAKE2b's output length is a parameter of the hash, so it is part of the
 * receipt-code format: 16 is libsodium's minimum, truncated to 4 bytes. */
#define RECEIPT_HASH_BYTES 16
/* 64 signature bytes in unpadded base64: ceil(64 * 8 / 6). */
#define TOKEN_SIG_B64_LEN 86
#define EXPIRY_DIGITS_MAX 19
#define CODE_PLACEHOLDER "{code}"
#define CODE_PLACEHOLDER_LEN 6
/* Scanned text is quoted back to the cashier only up to this length; past
 * it the sentence would be all code and no advice. */
#define QUOTE_MAX 40

#define MSG_AGAIN "scan it again or type it."
/* For a code that was read right but is something else: scanning it again
 * gives the same answer. */
#define MSG_NOT_LOYALTY "ask the customer for the loyalty code in the store's app or on " \
                        "the card, or type their member code."
#define EXAMPLE_PATTERN "https://loyalty.example.com/m/{code}"

#if defined(__GNUC__) || defined(__clang__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

static void say(char *msg, size_t cap, const char *fmt, ...) PRINTF_LIKE(3, 4);

static void say(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;

    if (msg == NULL || cap == 0)
        return;
    va_start(ap, fmt);
    if (vsnprintf(msg, cap, fmt, ap) < 0)
        msg[0] = '\0';
    va_end(ap);
}

static void say_nothing(char *msg, size_t cap)
{
    if (msg != NULL && cap > 0)
        msg[0] = '\0';
}

static int is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* The member-code alphabet: what survives every barcode symbology, URL
 * path and keyboard layout unchanged. */
static int is_code_char(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '_' || c == '.';
}

static int is_printable(unsigned char c)
{
    return c >= 0x20 && c <= 0x7e;
}

static unsigned char to_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

static int equal_nocase(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (to_lower((unsigned char)a[i]) != to_lower((unsigned char)b[i]))
            return 0;
    return 1;
}

static int starts_with(const char *s, size_t n, const char *prefix, size_t plen)
{
    return n >= plen && memcmp(s, prefix, plen) == 0;
}

/* strlen that stops looking after `max` bytes (strnlen without needing
 * POSIX feature macros). */
static size_t length_upto(const char *s, size_t max)
{
    size_t n = 0;

    while (n < max && s[n] != '\0')
        n++;
    return n;
}

/* "The code 123" when short enough to read out, "This code" otherwise.
 * Only called on text already known to be printable ASCII. */
static const char *code_label(char *buf, size_t cap, const char *s, size_t n)
{
    if (n <= QUOTE_MAX)
        snprintf(buf, cap, "The code %.*s", (int)n, s);
    else
        snprintf(buf, cap, "This code");
    return buf;
}

/* Length of the well-formed UTF-8 sequence at s (Unicode 15, table 3-7:
 * no overlongs, no surrogates, nothing past U+10FFFF), 0 if ill-formed. */
static size_t utf8_sequence_length(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t need;

    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (n < need + 1 || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i <= need; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return need + 1;
}

/* Every shape below is printable ASCII, so anything else is refused here,
 * with the likely cause: NUL and control bytes come from a misconfigured
 * prefix/suffix, broken UTF-8 from a wrong keyboard layout or baud rate,
 * and well-formed non-ASCII from a QR code that holds text, not a code. */
static tp_status check_bytes(const char *s, size_t n, char *msg, size_t cap)
{
    const unsigned char *u = (const unsigned char *)s;
    int non_ascii = 0;

    for (size_t i = 0; i < n;) {
        if (u[i] == 0) {
            say(msg, cap, "The scan contains a NUL byte, which no loyalty "
                          "code has; check the scanner's settings and scan "
                          "again.");
            return TP_ERR_INVALID_ARGUMENT;
        }
        if (u[i] < 0x20 || u[i] == 0x7f) {
            say(msg, cap, "The scan contains control characters; check the "
                          "scanner's prefix and suffix settings and scan "
                          "again.");
            return TP_ERR_INVALID_ARGUMENT;
        }
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t step = utf8_sequence_length(u + i, n - i);
        if (step == 0) {
            say(msg, cap, "The scanner sent unreadable characters; check its "
                          "keyboard layout or baud rate and scan again.");
            return TP_ERR_INVALID_ARGUMENT;
        }
        non_ascii = 1;
        i += step;
    }
    if (non_ascii) {
        say(msg, cap, "This scan contains letters that loyalty codes never "
                      "have; it is not a loyalty or receipt code of this "
                      "store.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    return TP_OK;
}

/* GTIN check digit (EAN-8, UPC-A, EAN-13 alike): weights 3,1,3,… from the
 * digit left of the check digit. */
static int gtin_check_ok(const char *d, size_t n)
{
    unsigned sum = 0;

    assert(n >= 2);
    for (size_t i = 0; i + 1 < n; i++) {
        unsigned v = (unsigned)(d[n - 2 - i] - '0');
        sum += (i % 2 == 0) ? 3 * v : v;
    }
    return (10 - sum % 10) % 10 == (unsigned)(d[n - 1] - '0');
}

static int luhn_ok(const char *d, size_t n)
{
    unsigned sum = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned v = (unsigned)(d[n - 1 - i] - '0');
        if (i % 2 == 1) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    return sum % 10 == 0;
}

static void copy_code(char *dst, const char *s, size_t n)
{
    assert(n <= TP_PAYLOAD_CODE_MAX);
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static tp_status too_long(const tp_payload_config *cfg, char *msg, size_t cap)
{
    say(msg, cap, "This code is longer than %zu characters, so it is not a "
                  "loyalty code of this store.", cfg->code_max_length);
    return TP_ERR_TOO_LONG;
}

static tp_status wrong_check_digit(const char *s, size_t n, char *msg,
                                   size_t cap)
{
    char label[64];

    say(msg, cap, "%s has a wrong check digit; " MSG_AGAIN,
        code_label(label, sizeof label, s, n));
    return TP_ERR_INVALID_ARGUMENT;
}

/* Codes under a check-digit scheme: digits only, the scheme's length, and
 * the right check digit. EAN-13 and UPC-A are the same barcode when the
 * EAN starts with 0, and scanners disagree on how to send it, so each mode
 * accepts the other's spelling and normalises to its own. */
static tp_status check_digit_code(const tp_payload_config *cfg, const char *s,
                                  size_t n, char *code, char *msg, size_t cap)
{
    char label[64];

    if (n > TP_PAYLOAD_CODE_MAX)
        return too_long(cfg, msg, cap);
    for (size_t i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i])) {
            say(msg, cap, "%s should have digits only; " MSG_AGAIN,
                code_label(label, sizeof label, s, n));
            return TP_ERR_INVALID_ARGUMENT;
        }
    }
    switch (cfg->check_digit) {
    case TP_CHECK_DIGIT_EAN13:
        if (n != 13 && n != 12) {
            say(msg, cap, "%s is not a 13-digit EAN-13 code; " MSG_AGAIN,
                code_label(label, sizeof label, s, n));
            return TP_ERR_INVALID_ARGUMENT;
        }
        if (!gtin_check_ok(s, n))
            return wrong_check_digit(s, n, msg, cap);
        if (n == 12) {
            code[0] = '0';
            copy_code(code + 1, s, n);
        } else {
            copy_code(code, s, n);
        }
        return TP_OK;
    case TP_CHECK_DIGIT_UPC:
        if (n != 12 && !(n == 13 && s[0] == '0')) {
            say(msg, cap, "%s is not a 12-digit UPC-A code; " MSG_AGAIN,
                code_label(label, sizeof label, s, n));
            return TP_ERR_INVALID_ARGUMENT;
        }
        if (!gtin_check_ok(s, n))
            return wrong_check_digit(s, n, msg, cap);
        copy_code(code, s + (n - 12), 12);
        return TP_OK;
    case TP_CHECK_DIGIT_LUHN:
        if (n > cfg->code_max_length)
            return too_long(cfg, msg, cap);
        if (n < cfg->code_min_length || n < 2) {
            size_t min = cfg->code_min_length < 2 ? 2 : cfg->code_min_length;
            say(msg, cap, "%s is too short (at least %zu digits); " MSG_AGAIN,
                code_label(label, sizeof label, s, n), min);
            return TP_ERR_INVALID_ARGUMENT;
        }
        if (!luhn_ok(s, n))
            return wrong_check_digit(s, n, msg, cap);
        copy_code(code, s, n);
        return TP_OK;
    case TP_CHECK_DIGIT_NONE:
    default:
        break;
    }
    assert(0 && "check_digit_code called without a scheme");
    return TP_ERR_INTERNAL;
}

/* What a code with a ':' is. Loyalty codes never have one, and a scanner
 * that read it did so correctly (symbologies carry checksums), so the
 * sentence names what the customer showed instead: a link that does not
 * match [scan] url_pattern, or another "KIND:" QR payload (Wi-Fi, contact,
 * phone number ...), and what to ask for. */
static void say_colon_code(const tp_payload_config *cfg, const char *s, size_t n, char *msg,
                           size_t cap)
{
    static const struct {
        const char *prefix, *what;
        int link;
    } kinds[] = {
        {"WIFI:", "a Wi-Fi network code", 0},   {"MAILTO:", "an e-mail address", 0},
        {"TEL:", "a phone number", 0},          {"SMSTO:", "a text message code", 0},
        {"SMS:", "a text message code", 0},     {"BEGIN:VCARD", "a contact card", 0},
        {"MECARD:", "a contact card", 0},       {"GEO:", "a map location", 0},
        {"BEGIN:VEVENT", "a calendar entry", 0}, {"HTTP:", "a web link", 1},
        {"HTTPS:", "a web link", 1},
    };
    char label[64];

    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        size_t len = strlen(kinds[k].prefix);
        if (n < len || !equal_nocase(s, kinds[k].prefix, len))
            continue;
        if (kinds[k].link && cfg->url_pattern[0])
            say(msg, cap, "This is a web link that is not one of this store's loyalty links "
                          "([scan] url_pattern); " MSG_NOT_LOYALTY);
        else
            say(msg, cap, "This is %s, not a loyalty code; " MSG_NOT_LOYALTY, kinds[k].what);
        return;
    }
    say(msg, cap, "%s contains ':', so it is not a loyalty code (they never have one); "
                  MSG_NOT_LOYALTY, code_label(label, sizeof label, s, n));
}

/* Validates a member code and copies it into `code` (TP_PAYLOAD_CODE_MAX+1
 * bytes). `with_check_digit` is 0 for signed tokens (see payload.h). */
static tp_status member_code(const tp_payload_config *cfg, const char *s,
                             size_t n, int with_check_digit, char *code,
                             char *msg, size_t cap)
{
    if (memchr(s, ':', n) != NULL) {
        say_colon_code(cfg, s, n, msg, cap);
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (with_check_digit && cfg->check_digit != TP_CHECK_DIGIT_NONE)
        return check_digit_code(cfg, s, n, code, msg, cap);
    if (n > cfg->code_max_length)
        return too_long(cfg, msg, cap);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_code_char(c)) {
            assert(is_printable(c));
            if (c == ' ')
                say(msg, cap, "The code contains a space, which loyalty codes "
                              "never have; " MSG_AGAIN);
            else
                say(msg, cap, "The code contains '%c', which loyalty codes "
                              "never have; " MSG_AGAIN, c);
            return TP_ERR_INVALID_ARGUMENT;
        }
    }
    if (n < cfg->code_min_length) {
        char label[64];
        say(msg, cap, "%s is too short (at least %zu characters); " MSG_AGAIN,
            code_label(label, sizeof label, s, n), cfg->code_min_length);
        return TP_ERR_INVALID_ARGUMENT;
    }
    copy_code(code, s, n);
    return TP_OK;
}

tp_status tp_payload_code_scannable(const tp_payload_config *cfg, const char *code, char *msg,
                                    size_t cap)
{
    size_t n = strlen(code);
    char norm[TP_PAYLOAD_CODE_MAX + 1];
    tp_status st = n > TP_PAYLOAD_CODE_MAX ? too_long(cfg, msg, cap)
                                           : member_code(cfg, code, n, 1, norm, msg, cap);
    if (st == TP_OK && strcmp(norm, code) != 0) {
        char label[64];
        say(msg, cap, "A scan of %s reads as %s; give the code as %s.",
            code_label(label, sizeof label, code, n), norm, norm);
        st = TP_ERR_INVALID_ARGUMENT;
    }
    if (st == TP_OK)
        return TP_OK;
    /* The scanner's sentence, told to whoever is adding the code: drop
     * its advice to the cashier, say why it matters here. */
    char *tail = msg ? strstr(msg, "; " MSG_AGAIN) : NULL;
    if (!tail && msg)
        tail = strstr(msg, "; " MSG_NOT_LOYALTY);
    if (tail)
        *tail = '\0';
    if (msg && cap > 0) {
        size_t used = strlen(msg);
        if (used > 0 && msg[used - 1] == '.')
            msg[--used] = '\0';
        say(msg + used, cap - used, "; a member with this code could never be scanned at "
                                    "this store (see [scan] in the configuration).");
    }
    return st;
}

/* Hinnant's days-to-civil: exact for any day count, no time_t or TZ. */
static void civil_from_days(int64_t z, int64_t *year, unsigned *month,
                            unsigned *day)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;

    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = (int64_t)yoe + era * 400 + (*month <= 2);
}

static tp_status token_expired(int64_t expiry_ms, char *msg, size_t cap)
{
    /* expiry_ms >= 0: the parser accepts digits only. */
    int64_t minutes = expiry_ms / 60000;
    int64_t year;
    unsigned month, day;

    civil_from_days(minutes / 1440, &year, &month, &day);
    say(msg, cap, "This loyalty pass expired on %04lld-%02u-%02u %02u:%02u "
                  "UTC; ask the customer to refresh it in the app.",
        (long long)year, month, day, (unsigned)(minutes % 1440 / 60),
        (unsigned)(minutes % 60));
    return TP_ERR_INVALID_ARGUMENT;
}

static tp_status token_damaged(char *msg, size_t cap)
{
    say(msg, cap, "This loyalty pass is damaged or incomplete; ask the "
                  "customer to refresh it in the app and scan again.");
    return TP_ERR_INVALID_ARGUMENT;
}

/* v1|<member>|<expiry ms>|<sig>: the signature is checked before anything
 * it covers is believed, so a forged pass never gets past "failed its
 * security check" — not even to an "expired" message quoting its date. */
static tp_status parse_token(const tp_payload_config *cfg, const char *s,
                             size_t n, int64_t now_ms, tp_payload *p,
                             char *msg, size_t cap)
{
    unsigned char sig[crypto_sign_BYTES];
    size_t sig_len = 0;
    const char *b64_end = NULL;
    int64_t expiry = 0;

    if (!cfg->has_token_public_key) {
        say(msg, cap, "Signed loyalty passes are not set up on this till; "
                      "ask a manager to add the pass key, or type the "
                      "customer's member code.");
        return TP_ERR_UNSUPPORTED;
    }

    const char *member = s + TOKEN_PREFIX_LEN;
    const char *end = s + n;
    const char *bar1 = memchr(member, '|', (size_t)(end - member));
    if (bar1 == NULL)
        return token_damaged(msg, cap);
    const char *expiry_s = bar1 + 1;
    const char *bar2 = memchr(expiry_s, '|', (size_t)(end - expiry_s));
    if (bar2 == NULL)
        return token_damaged(msg, cap);
    const char *sig_s = bar2 + 1;
    size_t member_len = (size_t)(bar1 - member);
    size_t expiry_len = (size_t)(bar2 - expiry_s);
    size_t sig_s_len = (size_t)(end - sig_s);

    if (member_len == 0 || expiry_len == 0 || expiry_len > EXPIRY_DIGITS_MAX ||
        sig_s_len != TOKEN_SIG_B64_LEN)
        return token_damaged(msg, cap);
    for (size_t i = 0; i < expiry_len; i++) {
        int d = expiry_s[i] - '0';
        if (d < 0 || d > 9 || expiry > (INT64_MAX - d) / 10)
            return token_damaged(msg, cap);
        expiry = expiry * 10 + d;
    }
    /* A '|' in the signature field (a fifth field) fails here too: it is
     * not in the base64url alphabet. libsodium also refuses non-zero
     * trailing bits, so each signature has exactly one spelling. */
    if (sodium_base642bin(sig, sizeof sig, sig_s, sig_s_len, NULL, &sig_len,
                          &b64_end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        sig_len != sizeof sig || b64_end != end)
        return token_damaged(msg, cap);

    if (crypto_sign_verify_detached(sig, (const unsigned char *)s,
                                    (unsigned long long)(bar2 - s),
                                    cfg->token_public_key) != 0) {
        say(msg, cap, "This loyalty pass failed its security check; ask the "
                      "customer to refresh it in the app, or type their "
                      "member code.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (expiry < now_ms)
        return token_expired(expiry, msg, cap);

    tp_status st = member_code(cfg, member, member_len, 0, p->member_code,
                               msg, cap);
    if (st != TP_OK)
        return st;
    p->kind = TP_PAYLOAD_MEMBER;
    p->is_signed = 1;
    p->expiry_ms = expiry;
    return TP_OK;
}

/* The 4-byte check of a receipt code over its first `n` bytes. */
static void receipt_check(const tp_payload_config *cfg, const char *s,
                          size_t n, unsigned char out[RECEIPT_CHECK_BYTES])
{
    unsigned char h[RECEIPT_HASH_BYTES];
    int rc = crypto_generichash(
        h, sizeof h, (const unsigned char *)s, (unsigned long long)n,
        cfg->has_receipt_code_key ? cfg->receipt_code_key : NULL,
        cfg->has_receipt_code_key ? sizeof cfg->receipt_code_key : 0);

    assert(rc == 0);
    (void)rc;
    memcpy(out, h, RECEIPT_CHECK_BYTES);
}

static int receipt_part_ok(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_printable((unsigned char)s[i]) || s[i] == '|')
            return 0;
    return 1;
}

static tp_status parse_receipt(const tp_payload_config *cfg, const char *s,
                               size_t n, tp_payload *p, char *msg, size_t cap)
{
    unsigned char want[RECEIPT_CHECK_BYTES], got[RECEIPT_CHECK_BYTES];
    size_t got_len = 0;
    const char *hex_end = NULL;
    const char *end = s + n;
    const char *location = s + RECEIPT_PREFIX_LEN;
    const char *bar1 = memchr(location, '|', (size_t)(end - location));
    const char *id = bar1 ? bar1 + 1 : NULL;
    const char *bar2 = id ? memchr(id, '|', (size_t)(end - id)) : NULL;

    if (bar2 == NULL || (size_t)(end - (bar2 + 1)) != RECEIPT_CHECK_HEX) {
        say(msg, cap, "This receipt code is damaged; type the receipt "
                      "number instead.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    size_t location_len = (size_t)(bar1 - location);
    size_t id_len = (size_t)(bar2 - id);
    if (location_len > TP_RECEIPT_LOCATION_MAX || id_len > TP_RECEIPT_ID_MAX) {
        say(msg, cap, "This receipt code is longer than this store's "
                      "receipt codes; type the receipt number instead.");
        return TP_ERR_TOO_LONG;
    }
    if (!receipt_part_ok(location, location_len, TP_RECEIPT_LOCATION_MAX) ||
        !receipt_part_ok(id, id_len, TP_RECEIPT_ID_MAX) ||
        sodium_hex2bin(got, sizeof got, bar2 + 1, RECEIPT_CHECK_HEX, NULL,
                       &got_len, &hex_end) != 0 ||
        got_len != sizeof got || hex_end != end) {
        say(msg, cap, "This receipt code is damaged; type the receipt "
                      "number instead.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    receipt_check(cfg, s, (size_t)(bar2 - s), want);
    if (sodium_memcmp(want, got, sizeof want) != 0) {
        say(msg, cap, "This receipt code was misread or is not from this "
                      "store's receipts; type the receipt number instead.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    p->kind = TP_PAYLOAD_RECEIPT;
    memcpy(p->location, location, location_len);
    p->location[location_len] = '\0';
    memcpy(p->receipt_id, id, id_len);
    p->receipt_id[id_len] = '\0';
    return TP_OK;
}

static int is_scheme_char(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.';
}

/* Length of "scheme://" at the start of s (RFC 3986 scheme), 0 if none. */
static size_t scheme_length(const char *s, size_t n)
{
    size_t i = 1;

    if (n == 0 || !is_alpha((unsigned char)s[0]))
        return 0;
    while (i < n && is_scheme_char((unsigned char)s[i]))
        i++;
    return (i + 3 <= n && memcmp(s + i, "://", 3) == 0) ? i + 3 : 0;
}

static const char *find_bytes(const char *s, size_t n, const char *needle,
                              size_t nlen)
{
    for (size_t i = 0; nlen <= n && i <= n - nlen; i++)
        if (memcmp(s + i, needle, nlen) == 0)
            return s + i;
    return NULL;
}

/* Validates a url_pattern; on success gives the offset where the path
 * starts (end of scheme+authority) and where {code} sits. */
static tp_status check_url_pattern(const char *v, size_t n, size_t *path_at,
                                   size_t *code_at, char *msg, size_t cap)
{
    if (n > TP_PAYLOAD_URL_PATTERN_MAX) {
        say(msg, cap, "url_pattern is longer than %d characters.",
            TP_PAYLOAD_URL_PATTERN_MAX);
        return TP_ERR_CONFIG;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (!is_printable(c) || c == ' ' || c == '?' || c == '#') {
            say(msg, cap, "url_pattern may not contain spaces, '?' or '#'; "
                          "write only scheme, host and path, e.g. "
                          EXAMPLE_PATTERN ".");
            return TP_ERR_CONFIG;
        }
    }
    size_t scheme = scheme_length(v, n);
    const char *slash = scheme ? memchr(v + scheme, '/', n - scheme) : NULL;
    if (slash == NULL || slash == v + scheme) {
        say(msg, cap, "url_pattern must be a full link with scheme, host and "
                      "path, e.g. " EXAMPLE_PATTERN ".");
        return TP_ERR_CONFIG;
    }
    const char *code = find_bytes(v, n, CODE_PLACEHOLDER, CODE_PLACEHOLDER_LEN);
    const char *after = code ? code + CODE_PLACEHOLDER_LEN : NULL;
    if (code == NULL || code < slash ||
        find_bytes(after, (size_t)(v + n - after), CODE_PLACEHOLDER,
                   CODE_PLACEHOLDER_LEN) != NULL) {
        say(msg, cap, "url_pattern must contain {code} exactly once, in the "
                      "path, e.g. " EXAMPLE_PATTERN ".");
        return TP_ERR_CONFIG;
    }
    *path_at = (size_t)(slash - v);
    *code_at = (size_t)(code - v);
    return TP_OK;
}

static tp_status parse_link(const tp_payload_config *cfg, const char *s,
                            size_t n, tp_payload *p, char *msg, size_t cap)
{
    const char *pat = cfg->url_pattern;
    size_t pat_len = strlen(pat);
    size_t path_at = 0, code_at = 0;

    if (pat_len == 0) {
        say(msg, cap, "Loyalty links are not set up on this till; ask the "
                      "customer to show the loyalty code itself, or type "
                      "their member code.");
        return TP_ERR_UNSUPPORTED;
    }
    /* Already checked by tp_payload_config_check(); this only recovers the
     * offsets. */
    if (check_url_pattern(pat, pat_len, &path_at, &code_at, NULL, 0) != TP_OK)
        return TP_ERR_CONFIG;

    const char *suffix = pat + code_at + CODE_PLACEHOLDER_LEN;
    size_t suffix_len = pat_len - code_at - CODE_PLACEHOLDER_LEN;
    size_t url_len = n;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '?' || s[i] == '#') {
            url_len = i;
            break;
        }
    }
    size_t code_len = url_len > code_at + suffix_len
                          ? url_len - code_at - suffix_len
                          : 0;
    /* code_len > 0 first: it proves the scan is long enough for the rest. */
    if (code_len == 0 || !equal_nocase(s, pat, path_at) ||
        memcmp(s + path_at, pat + path_at, code_at - path_at) != 0 ||
        memcmp(s + code_at + code_len, suffix, suffix_len) != 0 ||
        memchr(s + code_at, '/', code_len) != NULL) {
        say(msg, cap, "This link is not one of this store's loyalty links; "
                      "ask the customer to open the store's app and show "
                      "the loyalty code.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_status st = member_code(cfg, s + code_at, code_len, 1, p->member_code,
                               msg, cap);
    if (st == TP_OK)
        p->kind = TP_PAYLOAD_MEMBER;
    return st;
}

/* "v7|…" or "TPR2|…": a format from a newer issuer, not garbage. */
static int is_other_version(const char *s, size_t n, const char *stem,
                            size_t stem_len)
{
    size_t i = stem_len;

    if (!starts_with(s, n, stem, stem_len))
        return 0;
    while (i < n && is_digit((unsigned char)s[i]))
        i++;
    return i > stem_len && i < n && s[i] == '|';
}

tp_payload_config tp_payload_config_default(void)
{
    tp_payload_config cfg;

    memset(&cfg, 0, sizeof cfg);
    cfg.code_min_length = 4;
    cfg.code_max_length = 64;
    cfg.check_digit = TP_CHECK_DIGIT_NONE;
    return cfg;
}

static int parse_size(const char *s, size_t n, size_t lo, size_t hi,
                      size_t *out)
{
    size_t v = 0;

    if (n == 0 || n > 3)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i]))
            return 0;
        v = v * 10 + (size_t)(s[i] - '0');
    }
    if (v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

static int is_key(const char *key, const char *name)
{
    return strcmp(key, name) == 0;
}

/* 64 hex digits into 32 bytes, nothing else accepted. */
static int parse_key_hex(const char *v, size_t n, unsigned char out[32])
{
    size_t got = 0;
    const char *end = NULL;

    return n == 64 &&
           sodium_hex2bin(out, 32, v, n, NULL, &got, &end) == 0 &&
           got == 32 && end == v + n;
}

tp_status tp_payload_config_set(tp_payload_config *cfg, const char *key,
                                const char *value, char *msg, size_t msg_cap)
{
    say_nothing(msg, msg_cap);
    if (cfg == NULL || key == NULL || value == NULL) {
        say(msg, msg_cap, "Internal error: a payload setting was applied "
                          "without a config, key or value.");
        return TP_ERR_INVALID_ARGUMENT;
    }

    size_t n = strlen(value);
    while (n > 0 && is_space((unsigned char)value[0])) {
        value++;
        n--;
    }
    while (n > 0 && is_space((unsigned char)value[n - 1]))
        n--;

    if (is_key(key, "code_min_length") || is_key(key, "code_max_length")) {
        size_t v = 0;
        if (!parse_size(value, n, 1, TP_PAYLOAD_CODE_MAX, &v)) {
            say(msg, msg_cap, "%s must be a whole number from 1 to %d.", key,
                TP_PAYLOAD_CODE_MAX);
            return TP_ERR_CONFIG;
        }
        if (is_key(key, "code_min_length"))
            cfg->code_min_length = v;
        else
            cfg->code_max_length = v;
        return TP_OK;
    }
    if (is_key(key, "check_digit")) {
        static const struct {
            const char *name;
            tp_check_digit value;
        } names[] = {{"none", TP_CHECK_DIGIT_NONE},
                     {"ean13", TP_CHECK_DIGIT_EAN13},
                     {"upc", TP_CHECK_DIGIT_UPC},
                     {"luhn", TP_CHECK_DIGIT_LUHN}};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            if (strlen(names[i].name) == n &&
                equal_nocase(value, names[i].name, n)) {
                cfg->check_digit = names[i].value;
                return TP_OK;
            }
        }
        say(msg, msg_cap, "check_digit must be one of none, ean13, upc, luhn.");
        return TP_ERR_CONFIG;
    }
    if (is_key(key, "url_pattern")) {
        size_t path_at = 0, code_at = 0;
        if (n > 0) {
            tp_status st = check_url_pattern(value, n, &path_at, &code_at,
                                             msg, msg_cap);
            if (st != TP_OK)
                return st;
        }
        memcpy(cfg->url_pattern, value, n);
        cfg->url_pattern[n] = '\0';
        return TP_OK;
    }
    if (is_key(key, "token_public_key")) {
        unsigned char pk[32];
        if (n == 0) {
            cfg->has_token_public_key = 0;
            memset(cfg->token_public_key, 0, sizeof cfg->token_public_key);
            return TP_OK;
        }
        /* A key that is not a curve point (or has small order) would make
         * every pass fail its check; say so at load time instead. */
        if (!parse_key_hex(value, n, pk) ||
            !crypto_core_ed25519_is_valid_point(pk)) {
            say(msg, msg_cap, "token_public_key must be an Ed25519 public key "
                              "written as 64 hex digits.");
            return TP_ERR_CONFIG;
        }
        memcpy(cfg->token_public_key, pk, sizeof pk);
        cfg->has_token_public_key = 1;
        return TP_OK;
    }
    if (is_key(key, "require_signed")) {
        static const struct {
            const char *name;
            tp_require_signed value;
        } modes[] = {{"no", TP_REQUIRE_SIGNED_NO},
                     {"app", TP_REQUIRE_SIGNED_APP},
                     {"yes", TP_REQUIRE_SIGNED_APP},
                     {"all", TP_REQUIRE_SIGNED_ALL}};
        for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
            if (strlen(modes[i].name) == n && equal_nocase(value, modes[i].name, n)) {
                cfg->require_signed = modes[i].value;
                return TP_OK;
            }
        }
        say(msg, msg_cap, "require_signed must be no, app (members with an app id "
                          "must show their app pass) or all (everyone must).");
        return TP_ERR_CONFIG;
    }
    if (is_key(key, "receipt_code_key")) {
        unsigned char k[32];
        if (n == 0) {
            cfg->has_receipt_code_key = 0;
            sodium_memzero(cfg->receipt_code_key, sizeof cfg->receipt_code_key);
            return TP_OK;
        }
        if (!parse_key_hex(value, n, k)) {
            sodium_memzero(k, sizeof k);
            say(msg, msg_cap, "receipt_code_key must be 64 hex digits (32 "
                              "random bytes).");
            return TP_ERR_CONFIG;
        }
        memcpy(cfg->receipt_code_key, k, sizeof k);
        sodium_memzero(k, sizeof k);
        cfg->has_receipt_code_key = 1;
        return TP_OK;
    }

    /* The key comes from a file a person edits; quote only what is safe. */
    size_t kn = length_upto(key, QUOTE_MAX + 1);
    int printable = kn <= QUOTE_MAX;
    for (size_t i = 0; printable && i < kn; i++)
        printable = is_printable((unsigned char)key[i]);
    if (printable)
        say(msg, msg_cap, "Unknown scan setting '%s'.", key);
    else
        say(msg, msg_cap, "Unknown scan setting.");
    return TP_ERR_NOT_FOUND;
}

tp_status tp_payload_config_check(const tp_payload_config *cfg, char *msg,
                                  size_t msg_cap)
{
    size_t path_at = 0, code_at = 0;

    say_nothing(msg, msg_cap);
    if (cfg == NULL) {
        say(msg, msg_cap, "Internal error: no payload config.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (cfg->code_min_length < 1 || cfg->code_min_length > TP_PAYLOAD_CODE_MAX ||
        cfg->code_max_length < 1 || cfg->code_max_length > TP_PAYLOAD_CODE_MAX) {
        say(msg, msg_cap, "code_min_length and code_max_length must be from 1 "
                          "to %d.", TP_PAYLOAD_CODE_MAX);
        return TP_ERR_CONFIG;
    }
    if (cfg->code_min_length > cfg->code_max_length) {
        say(msg, msg_cap, "code_min_length (%zu) is larger than "
                          "code_max_length (%zu).",
            cfg->code_min_length, cfg->code_max_length);
        return TP_ERR_CONFIG;
    }
    size_t fixed = 0;
    switch (cfg->check_digit) {
    case TP_CHECK_DIGIT_NONE:
        break;
    case TP_CHECK_DIGIT_EAN13:
        fixed = 13;
        break;
    case TP_CHECK_DIGIT_UPC:
        fixed = 12;
        break;
    case TP_CHECK_DIGIT_LUHN:
        if (cfg->code_max_length < 2) {
            say(msg, msg_cap, "check_digit luhn needs code_max_length of at "
                              "least 2.");
            return TP_ERR_CONFIG;
        }
        break;
    default:
        say(msg, msg_cap, "check_digit must be one of none, ean13, upc, luhn.");
        return TP_ERR_CONFIG;
    }
    if (fixed != 0 && (fixed < cfg->code_min_length ||
                       fixed > cfg->code_max_length)) {
        say(msg, msg_cap, "check_digit %s needs %zu-digit codes, outside "
                          "code_min_length..code_max_length (%zu..%zu).",
            fixed == 13 ? "ean13" : "upc", fixed, cfg->code_min_length,
            cfg->code_max_length);
        return TP_ERR_CONFIG;
    }
    if (cfg->require_signed != TP_REQUIRE_SIGNED_NO && !cfg->has_token_public_key) {
        say(msg, msg_cap, "require_signed = %s needs token_public_key, the key that "
                          "checks app passes.",
            cfg->require_signed == TP_REQUIRE_SIGNED_ALL ? "all" : "app");
        return TP_ERR_CONFIG;
    }
    size_t pat_len = length_upto(cfg->url_pattern, sizeof cfg->url_pattern);
    if (pat_len == sizeof cfg->url_pattern) {
        say(msg, msg_cap, "url_pattern is not terminated.");
        return TP_ERR_CONFIG;
    }
    if (pat_len > 0)
        return check_url_pattern(cfg->url_pattern, pat_len, &path_at, &code_at,
                                 msg, msg_cap);
    return TP_OK;
}

tp_status tp_payload_parse(const tp_payload_config *cfg, const char *data,
                           size_t len, int64_t now_ms, tp_payload *out,
                           char *msg, size_t msg_cap)
{
    tp_payload p;
    tp_status st;

    say_nothing(msg, msg_cap);
    if (cfg == NULL || out == NULL || (data == NULL && len > 0)) {
        say(msg, msg_cap, "Internal error: a scan was passed without its "
                          "config, data or result.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    st = tp_payload_config_check(cfg, msg, msg_cap);
    if (st != TP_OK)
        return st;

    const char *s = data;
    size_t n = len;
    while (n > 0 && is_space((unsigned char)s[0])) {
        s++;
        n--;
    }
    while (n > 0 && is_space((unsigned char)s[n - 1]))
        n--;
    if (n == 0) {
        say(msg, msg_cap, "The scan was empty; scan the code again.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (n > TP_PAYLOAD_SCAN_MAX) {
        say(msg, msg_cap, "The scan is too long to be a loyalty or receipt "
                          "code; make sure only one code is in view and scan "
                          "again.");
        return TP_ERR_TOO_LONG;
    }
    st = check_bytes(s, n, msg, msg_cap);
    if (st != TP_OK)
        return st;

    memset(&p, 0, sizeof p);
    if (starts_with(s, n, TOKEN_PREFIX, TOKEN_PREFIX_LEN)) {
        st = parse_token(cfg, s, n, now_ms, &p, msg, msg_cap);
    } else if (starts_with(s, n, RECEIPT_PREFIX, RECEIPT_PREFIX_LEN)) {
        st = parse_receipt(cfg, s, n, &p, msg, msg_cap);
    } else if (is_other_version(s, n, "v", 1)) {
        say(msg, msg_cap, "This loyalty pass is in a newer format than this "
                          "till understands; ask a manager to update "
                          "tillpoints, or type the member code.");
        st = TP_ERR_UNSUPPORTED;
    } else if (is_other_version(s, n, "TPR", 3)) {
        say(msg, msg_cap, "This receipt code is in a newer format than this "
                          "till understands; type the receipt number "
                          "instead.");
        st = TP_ERR_UNSUPPORTED;
    } else if (scheme_length(s, n) > 0) {
        st = parse_link(cfg, s, n, &p, msg, msg_cap);
    } else {
        st = member_code(cfg, s, n, 1, p.member_code, msg, msg_cap);
        if (st == TP_OK)
            p.kind = TP_PAYLOAD_MEMBER;
    }
    if (st != TP_OK)
        return st;
    *out = p;
    say_nothing(msg, msg_cap);
    return TP_OK;
}

tp_status tp_payload_signed_policy(const tp_payload_config *cfg, int is_signed,
                                   const char *app_id, char *msg, size_t msg_cap)
{
    say_nothing(msg, msg_cap);
    if (cfg == NULL) {
        say(msg, msg_cap, "Internal error: no payload config.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (is_signed || cfg->require_signed == TP_REQUIRE_SIGNED_NO)
        return TP_OK;
    if (cfg->require_signed == TP_REQUIRE_SIGNED_ALL) {
        say(msg, msg_cap, "This store takes loyalty passes from the app only: ask the "
                          "customer to show the pass in the app, or go on with the sale "
                          "without points.");
        return TP_ERR_UNSUPPORTED;
    }
    if (app_id != NULL && app_id[0] != '\0') {
        say(msg, msg_cap, "This member uses the app: ask them to show the pass in the "
                          "app, or go on with the sale without points (a manager can "
                          "credit the receipt later).");
        return TP_ERR_UNSUPPORTED;
    }
    return TP_OK;
}

tp_status tp_receipt_code_format(const tp_payload_config *cfg,
                                 const char *location, const char *receipt_id,
                                 char *out, size_t out_cap)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char check[RECEIPT_CHECK_BYTES];

    if (out != NULL && out_cap > 0)
        out[0] = '\0';
    if (cfg == NULL || location == NULL || receipt_id == NULL || out == NULL)
        return TP_ERR_INVALID_ARGUMENT;

    size_t location_len = length_upto(location, TP_RECEIPT_LOCATION_MAX + 1);
    size_t id_len = length_upto(receipt_id, TP_RECEIPT_ID_MAX + 1);
    if (location_len > TP_RECEIPT_LOCATION_MAX || id_len > TP_RECEIPT_ID_MAX)
        return TP_ERR_TOO_LONG;
    if (!receipt_part_ok(location, location_len, TP_RECEIPT_LOCATION_MAX) ||
        !receipt_part_ok(receipt_id, id_len, TP_RECEIPT_ID_MAX))
        return TP_ERR_INVALID_ARGUMENT;

    size_t body = RECEIPT_PREFIX_LEN + location_len + 1 + id_len;
    size_t total = body + 1 + RECEIPT_CHECK_HEX;
    if (out_cap < total + 1)
        return TP_ERR_TOO_LONG;

    char *w = out;
    memcpy(w, RECEIPT_PREFIX, RECEIPT_PREFIX_LEN);
    w += RECEIPT_PREFIX_LEN;
    memcpy(w, location, location_len);
    w += location_len;
    *w++ = '|';
    memcpy(w, receipt_id, id_len);
    w += id_len;
    receipt_check(cfg, out, body, check);
    *w++ = '|';
    for (size_t i = 0; i < sizeof check; i++) {
        *w++ = hex[check[i] >> 4];
        *w++ = hex[check[i] & 0x0f];
    }
    *w = '\0';
    assert((size_t)(w - out) == total);
    return TP_OK;
}
