/*
 * payload.h — what a scan means: a member code or a receipt code.
 *
 * A scanner (or the POS, through checkout.scan) hands over raw bytes. This
 * module turns them into a tp_payload or into one sentence a cashier can act
 * on. It accepts four shapes of member code and one shape of receipt code:
 *
 *   plain member code   ABC-123_x.9        (A-Z a-z 0-9 - _ . only)
 *   with check digit    4006381333931      (check_digit = ean13|upc|luhn)
 *   inside a link       https://loyalty.example.com/m/ABC-123
 *   signed token        v1|<member>|<expiry unix ms>|<base64url Ed25519 sig>
 *   receipt code        TPR1|<location>|<receipt id>|<8 hex check>
 *
 * Guarantees:
 *  - Pure: no I/O, no threads, no allocation, no global mutable state. Any
 *    number of threads may parse at once with shared const configs.
 *  - Bounded: reads at most `len` bytes of the scan (it need not be
 *    NUL-terminated) and at most TP_PAYLOAD_SCAN_MAX bytes of work past the
 *    whitespace trim.
 *  - All or nothing: on failure `*out` is not written and `msg` says why;
 *    on success `*out` is fully written (unused fields zeroed) and `msg` is
 *    empty.
 *
 * libsodium: the caller must have called sodium_init() (successfully) once
 * in the process before any function here that verifies or computes
 * (tp_payload_parse, tp_receipt_code_format, tp_payload_config_set for the
 * key settings). The plugin's entry->init() does this.
 *
 * Messages: every function that takes (msg, msg_cap) leaves msg
 * NUL-terminated when msg != NULL and msg_cap > 0, truncating if needed.
 * TP_MESSAGE_MAX from tillpoints.h is always enough. Messages never echo
 * key material and quote scanned text only after it has been checked to be
 * printable ASCII.
 */
#ifndef TP_PAYLOAD_H
#define TP_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "tillpoints/tillpoints.h"
#include "util.h" /* TP_MUST_CHECK */

#ifdef __cplusplus
extern "C" {
#endif

/* Hard upper bound for code_max_length (bytes, without the NUL). */
#define TP_PAYLOAD_CODE_MAX TP_MEMBER_CODE_MAX
/* Longest scan accepted after trimming whitespace. Every valid payload is
 * shorter (the longest, a token with a 128-byte code, is 238 bytes); this
 * only bounds the work spent on garbage. */
#define TP_PAYLOAD_SCAN_MAX 512
/* Longest url_pattern setting, in bytes. */
#define TP_PAYLOAD_URL_PATTERN_MAX 255
/* Receipt code parts, in bytes: printable ASCII (0x20..0x7e) except '|'. */
#define TP_RECEIPT_LOCATION_MAX TP_LOCATION_MAX
/* and TP_RECEIPT_ID_MAX (limits.h) */
/* Longest receipt code: "TPR1|" + location + "|" + id + "|" + 8 hex. */
#define TP_RECEIPT_CODE_MAX (5 + TP_RECEIPT_LOCATION_MAX + 1 + TP_RECEIPT_ID_MAX + 1 + 8)

/* What a scan of a receipt code is told where a member code is expected
 * (scanners.c, images.c): receipt codes belong to the retro dialog. */
#define TP_PAYLOAD_NOT_A_MEMBER "That is a receipt code, not a member code."

typedef enum tp_check_digit {
    TP_CHECK_DIGIT_NONE = 0,
    /* 13 digits, GTIN check digit. A 12-digit scan with a valid check digit
     * is taken as the same EAN-13 with a leading 0 (that is how scanners
     * send UPC-A, which an EAN-13 starting with 0 is). EAN-8 is refused: a
     * store's card series has one length, and a stray 8-digit shelf label
     * should not identify anyone. */
    TP_CHECK_DIGIT_EAN13 = 1,
    /* 12-digit UPC-A. A 13-digit scan starting with 0 with a valid check
     * digit is taken as that UPC-A (scanners set to "UPC-A as EAN-13"); the
     * member code is then the 12 digits. */
    TP_CHECK_DIGIT_UPC = 2,
    /* Digits only (at least 2), last digit is the Luhn check. */
    TP_CHECK_DIGIT_LUHN = 3
} tp_check_digit;

/* [scan] require_signed: which members must show a signed app pass rather
 * than a plain code (printed card, typed number, link). */
typedef enum tp_require_signed {
    TP_REQUIRE_SIGNED_NO = 0,  /* plain codes identify everyone (default) */
    TP_REQUIRE_SIGNED_APP = 1, /* members with an app id need their pass */
    TP_REQUIRE_SIGNED_ALL = 2  /* everyone needs a signed pass */
} tp_require_signed;

/* Parser settings. Build with tp_payload_config_default(), change with
 * tp_payload_config_set(), check the whole with tp_payload_config_check().
 * Plain data: copy it freely, share it read-only between threads. */
typedef struct tp_payload_config {
    size_t code_min_length;    /* 1..TP_PAYLOAD_CODE_MAX, default 4 */
    size_t code_max_length;    /* 1..TP_PAYLOAD_CODE_MAX, default 64 */
    tp_check_digit check_digit; /* default TP_CHECK_DIGIT_NONE */
    /* "" = links are not accepted. Otherwise scheme://authority/path with
     * exactly one "{code}" in the path and no '?' or '#'. */
    char url_pattern[TP_PAYLOAD_URL_PATTERN_MAX + 1];
    int has_token_public_key;  /* 0 = signed tokens are refused */
    unsigned char token_public_key[32];
    int has_receipt_code_key;  /* 0 = receipt check is an unkeyed checksum */
    unsigned char receipt_code_key[32];
    tp_require_signed require_signed; /* default TP_REQUIRE_SIGNED_NO */
} tp_payload_config;

/* [thread-safe] The built-in defaults: codes of 4..64 characters, no check
 * digit, no links, no signed tokens, unkeyed receipt codes. */
tp_payload_config tp_payload_config_default(void);

/* [thread-safe] Applies one INI setting. Keys (case-sensitive) and values:
 *
 *   code_min_length   decimal 1..128
 *   code_max_length   decimal 1..128
 *   check_digit       none | ean13 | upc | luhn   (case-insensitive)
 *   url_pattern       e.g. https://loyalty.example.com/m/{code}; "" = off
 *   token_public_key  Ed25519 public key as 64 hex digits; "" = off
 *   receipt_code_key  32-byte key as 64 hex digits; "" = unkeyed
 *   require_signed    no | app | all   (case-insensitive; yes = app)
 *
 * Hex only for keys: it has one spelling, where base64 has four variants
 * that look alike in a config file. Leading/trailing blanks in `value` are
 * ignored. Returns TP_OK; TP_ERR_CONFIG for a bad value (cfg unchanged, msg
 * says what is allowed); TP_ERR_NOT_FOUND for a key this module does not
 * own, so a config loader can offer the key to the next module;
 * TP_ERR_INVALID_ARGUMENT for NULL cfg/key/value.
 *
 * Settings are checked one at a time; relations between them (min <= max,
 * the check digit's length fits) are checked by tp_payload_config_check()
 * once the whole section is read, so the order in the file never matters. */
tp_status tp_payload_config_set(tp_payload_config *cfg, const char *key,
                                const char *value, char *msg, size_t msg_cap) TP_MUST_CHECK;

/* [thread-safe] Checks the settings together. TP_OK or TP_ERR_CONFIG with
 * the reason. tp_payload_parse() refuses a config that fails this.
 * require_signed other than no needs token_public_key (a pass that cannot
 * be checked could never be shown). */
tp_status tp_payload_config_check(const tp_payload_config *cfg, char *msg,
                                  size_t msg_cap) TP_MUST_CHECK;

typedef enum tp_payload_kind {
    TP_PAYLOAD_MEMBER = 1,
    TP_PAYLOAD_RECEIPT = 2
} tp_payload_kind;

/* The meaning of one scan. Caller-allocated; all strings NUL-terminated. */
typedef struct tp_payload {
    tp_payload_kind kind;
    /* TP_PAYLOAD_MEMBER: the member code, case preserved (codes are
     * compared byte for byte; folding case would merge distinct members).
     * For check-digit codes, the normalised digits (see tp_check_digit). */
    char member_code[TP_PAYLOAD_CODE_MAX + 1];
    /* Non-zero when the code came from a verified signed token ("signed" is
     * a C keyword, hence the name). */
    int is_signed;
    /* Signed tokens: the expiry, Unix ms UTC, already checked to be >= the
     * now_ms given to the parser. 0 otherwise. */
    int64_t expiry_ms;
    /* TP_PAYLOAD_RECEIPT: where and which receipt; "" for members. */
    char location[TP_RECEIPT_LOCATION_MAX + 1];
    char receipt_id[TP_RECEIPT_ID_MAX + 1];
} tp_payload;

/* [thread-safe] Parses one scan.
 *
 * `data`/`len`: the raw bytes (not necessarily NUL-terminated; NULL only
 * when len is 0). Leading and trailing ASCII whitespace (space, \t, \n, \v,
 * \f, \r) is trimmed, so scanner suffixes do not matter. `now_ms` (Unix ms,
 * UTC) is only used to check token expiry; a token with expiry == now_ms is
 * still valid.
 *
 * The shape is chosen by prefix, case-sensitively: "v1|" token, "TPR1|"
 * receipt, "<scheme>://" link, anything else a plain member code. Check
 * digits apply to plain and linked codes, not to signed tokens (the
 * signature already proves the code was not misread, and an issuer's valid
 * pass must never be refused for a checksum). Links: scheme and authority
 * match case-insensitively, the path exactly, a query string or fragment in
 * the scan is ignored (apps append tracking parameters), and the {code}
 * part may not contain '/'. There is no percent-decoding: every character a
 * member code may have is URL-safe.
 *
 * Returns TP_OK, or with `*out` untouched and a sentence in `msg`:
 *   TP_ERR_INVALID_ARGUMENT  malformed, wrong check digit, bad signature,
 *                            expired, not this store's link, bad bytes
 *   TP_ERR_TOO_LONG          scan or code beyond its maximum
 *   TP_ERR_UNSUPPORTED       a token or receipt code format this version
 *                            does not know (e.g. "v2|…"), or a token/link
 *                            when that feature is not configured
 *   TP_ERR_CONFIG            cfg fails tp_payload_config_check()
 */
tp_status tp_payload_parse(const tp_payload_config *cfg, const char *data,
                           size_t len, int64_t now_ms, tp_payload *out,
                           char *msg, size_t msg_cap) TP_MUST_CHECK;

/* [thread-safe] Whether a member code or card code given by a person (a
 * member added, a card linked, a CSV row) is one the store's scanners can
 * read as exactly that code: the same length limits, characters and check
 * digit as a scan, under the same `cfg`. TP_OK, or the status and sentence
 * a scan of it would get, worded for the person adding it. `code` is a
 * NUL-terminated string the caller has bounded. */
tp_status tp_payload_code_scannable(const tp_payload_config *cfg, const char *code, char *msg,
                                    size_t cap) TP_MUST_CHECK;

/* [thread-safe] The require_signed rule for one member scan at checkout.
 *
 * `is_signed`: the code came from a verified signed pass (tp_payload's
 * is_signed). `app_id`: the identified member's app id ("" when they have
 * none), or NULL while the member is not known yet — then only
 * require_signed = all can refuse. Returns TP_OK when the scan may
 * identify the member, else TP_ERR_UNSUPPORTED and a sentence the cashier
 * can act on (ask for the pass in the app, or go on without points). The
 * parser itself never applies this rule: it decides what a scan says, this
 * decides whether checkout accepts it (manager forms that look a customer
 * up are not subject to it). */
tp_status tp_payload_signed_policy(const tp_payload_config *cfg, int is_signed,
                                   const char *app_id, char *msg, size_t msg_cap) TP_MUST_CHECK;

/* [thread-safe] Writes the receipt code to print on a receipt:
 *
 *   TPR1|<location>|<receipt id>|<check>
 *
 * <check> is 8 lowercase hex digits: the first 4 bytes of BLAKE2b with a
 * 16-byte output (libsodium crypto_generichash, outlen 16) over the bytes
 * "TPR1|<location>|<receipt id>", keyed with receipt_code_key when one is
 * configured, unkeyed otherwise. Unkeyed it only catches misreads and
 * typing slips; keyed it also stops codes made up or copied from another
 * store's receipts. Either way it only pre-fills the retroactive-visit
 * dialog — the journal decides whether the receipt exists and is
 * unclaimed, so 32 bits are enough. Changing the key invalidates codes on
 * receipts printed before.
 *
 * `location` (1..32 bytes) and `receipt_id` (1..64 bytes) are NUL-terminated
 * printable ASCII without '|'. `out` gets the NUL-terminated code;
 * TP_RECEIPT_CODE_MAX + 1 bytes always suffice. Returns TP_OK,
 * TP_ERR_INVALID_ARGUMENT (NULL, empty, forbidden byte), TP_ERR_TOO_LONG (a
 * part too long, or out_cap too small; out is then "" if out_cap > 0). */
tp_status tp_receipt_code_format(const tp_payload_config *cfg,
                                 const char *location, const char *receipt_id,
                                 char *out, size_t out_cap) TP_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif /* TP_PAYLOAD_H */
