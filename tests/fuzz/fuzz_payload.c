/*
 * fuzz_payload.c — libFuzzer target for the scan parser (plugin/payload.c).
 *
 * Each input is parsed as a raw scan under four configs covering every
 * shape and check-digit scheme. Because a fuzzer cannot forge Ed25519
 * signatures, each input is also signed with the target's own key as a
 * token body ("v1|" + input + "|" + sig), so the code behind the signature
 * check (expiry, member code in a token) is reached too.
 *
 * Beyond "no crash, no sanitizer report", it asserts the contract from
 * payload.h: a refused scan leaves the result untouched and says why in a
 * terminated sentence; an accepted one has an empty message and a result
 * that obeys the config; the message buffer's size never changes the
 * verdict; and a receipt code that parses re-formats to the same bytes.
 *
 * Seeds: tests/fuzz/corpus/payload/. The receipt key below is the one the
 * keyed receipt seed was made with; the token key comes from SEED_BYTES.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "payload.h"

#define NOW_MS INT64_C(1767225600000) /* 2026-01-01 00:00 UTC */
#define RECEIPT_KEY_HEX "000102030405060708090a0b0c0d0e0f" \
                        "101112131415161718191a1b1c1d1e1f"
#define CONFIGS 4

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tp_payload_config configs[CONFIGS];
static unsigned char token_sk[crypto_sign_SECRETKEYBYTES];

static void require(int ok)
{
    if (!ok)
        abort();
}

static void set(tp_payload_config *cfg, const char *key, const char *value)
{
    require(tp_payload_config_set(cfg, key, value, NULL, 0) == TP_OK);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    unsigned char seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES];
    char pk_hex[2 * sizeof pk + 1];

    (void)argc;
    (void)argv;
    require(sodium_init() >= 0);
    for (size_t i = 0; i < sizeof seed; i++)
        seed[i] = (unsigned char)(0x40 + i);
    crypto_sign_seed_keypair(pk, token_sk, seed);
    sodium_bin2hex(pk_hex, sizeof pk_hex, pk, sizeof pk);

    configs[0] = tp_payload_config_default();
    set(&configs[0], "url_pattern", "https://loyalty.example.com/m/{code}");
    set(&configs[0], "token_public_key", pk_hex);

    configs[1] = tp_payload_config_default();
    set(&configs[1], "check_digit", "ean13");
    set(&configs[1], "url_pattern", "https://loyalty.example.com/m/{code}");
    set(&configs[1], "receipt_code_key", RECEIPT_KEY_HEX);

    configs[2] = tp_payload_config_default();
    set(&configs[2], "check_digit", "luhn");
    set(&configs[2], "code_min_length", "2");
    set(&configs[2], "url_pattern", "https://x.example/c/{code}/card");
    set(&configs[2], "token_public_key", pk_hex);
    set(&configs[2], "receipt_code_key", RECEIPT_KEY_HEX);

    configs[3] = tp_payload_config_default();
    set(&configs[3], "check_digit", "upc");
    set(&configs[3], "code_min_length", "1");
    set(&configs[3], "code_max_length", "128");

    for (int i = 0; i < CONFIGS; i++)
        require(tp_payload_config_check(&configs[i], NULL, 0) == TP_OK);
    return 0;
}

static int is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static void check_receipt_round_trip(const tp_payload_config *cfg,
                                     const uint8_t *data, size_t size,
                                     const tp_payload *out)
{
    char code[TP_RECEIPT_CODE_MAX + 1];
    const uint8_t *s = data;
    size_t n = size;

    while (n > 0 && is_space(s[0])) {
        s++;
        n--;
    }
    while (n > 0 && is_space(s[n - 1]))
        n--;
    require(tp_receipt_code_format(cfg, out->location, out->receipt_id, code,
                                   sizeof code) == TP_OK);
    require(strlen(code) == n);
    /* The check may have been scanned in upper case; the rest is exact. */
    require(memcmp(code, s, n - 8) == 0);
    for (size_t i = n - 8; i < n; i++) {
        unsigned char c = s[i];
        if (c >= 'A' && c <= 'F')
            c = (unsigned char)(c - 'A' + 'a');
        require(code[i] == (char)c);
    }
}

static void check_result(const tp_payload_config *cfg, const tp_payload *out)
{
    switch (out->kind) {
    case TP_PAYLOAD_MEMBER: {
        size_t n = strnlen(out->member_code, sizeof out->member_code);
        require(n >= 1 && n <= cfg->code_max_length);
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)out->member_code[i];
            require((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.');
        }
        require(out->location[0] == '\0' && out->receipt_id[0] == '\0');
        require(out->is_signed ? out->expiry_ms >= NOW_MS
                               : out->expiry_ms == 0);
        break;
    }
    case TP_PAYLOAD_RECEIPT:
        require(out->member_code[0] == '\0' && !out->is_signed);
        require(strnlen(out->location, sizeof out->location) >= 1);
        require(strnlen(out->receipt_id, sizeof out->receipt_id) >= 1);
        require(strnlen(out->location, sizeof out->location) <
                sizeof out->location);
        require(strnlen(out->receipt_id, sizeof out->receipt_id) <
                sizeof out->receipt_id);
        break;
    default:
        abort();
    }
}

static void parse_checked(const tp_payload_config *cfg, const uint8_t *data,
                          size_t size)
{
    tp_payload out, before;
    char msg[TP_MESSAGE_MAX + 1], tiny[7];

    memset(&out, 0x5a, sizeof out);
    before = out;
    memset(msg, 0x5a, sizeof msg);
    tp_status st = tp_payload_parse(cfg, (const char *)data, size, NOW_MS,
                                    &out, msg, sizeof msg);
    require(memchr(msg, '\0', sizeof msg) != NULL);
    if (st == TP_OK) {
        require(msg[0] == '\0');
        check_result(cfg, &out);
        if (out.kind == TP_PAYLOAD_RECEIPT)
            check_receipt_round_trip(cfg, data, size, &out);
    } else {
        require(memcmp(&out, &before, sizeof out) == 0);
        require(msg[0] != '\0');
    }

    /* Message capacity must not change the verdict. */
    tp_payload again;
    require(tp_payload_parse(cfg, (const char *)data, size, NOW_MS, &again,
                             tiny, sizeof tiny) == st);
    require(memchr(tiny, '\0', sizeof tiny) != NULL);
    require(tp_payload_parse(cfg, (const char *)data, size, NOW_MS, &again,
                             NULL, 0) == st);
    if (st == TP_OK)
        require(memcmp(&again, &out, sizeof out) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int i = 0; i < CONFIGS; i++)
        parse_checked(&configs[i], data, size);

    /* The input as a signed token body. */
    if (size <= TP_PAYLOAD_SCAN_MAX) {
        unsigned char sig[crypto_sign_BYTES];
        size_t b64_len = sodium_base64_ENCODED_LEN(
            crypto_sign_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        size_t body = 3 + size;
        /* Exactly sized, unterminated: any over-read is an ASan report. */
        uint8_t *tok = malloc(body + 1 + b64_len);

        require(tok != NULL);
        memcpy(tok, "v1|", 3);
        memcpy(tok + 3, data, size);
        crypto_sign_detached(sig, NULL, tok, body, token_sk);
        tok[body] = '|';
        char b64[sodium_base64_ENCODED_LEN(
            crypto_sign_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
        sodium_bin2base64(b64, sizeof b64, sig, sizeof sig,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        memcpy(tok + body + 1, b64, b64_len - 1);
        parse_checked(&configs[0], tok, body + b64_len);
        parse_checked(&configs[2], tok, body + b64_len);
        free(tok);
    }
    return 0;
}
