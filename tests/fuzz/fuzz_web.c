/*
 * fuzz_web.c — libFuzzer target for what tillpoints-web parses itself
 * (docs/DESIGN.md §15): the Cookie header, the Origin/Referer check, the
 * listen address, the [web] configuration file, and the HTML escaping of
 * whatever a page shows. HTTP itself (request lines, headers, bodies) is
 * libmicrohttpd's.
 *
 * The input is split at newlines into: a Cookie header, a cookie name, an
 * Origin, a Referer, a Sec-Fetch-Site, a Host, a listen address, a text to
 * escape; the whole input is also read as a configuration file.
 * Invariants: a cookie value found is a NUL-terminated part of the header
 * that fits the buffer and holds no ';'; a cross-site request is never
 * allowed; a refused address or configuration has a sentence; escaped
 * text holds none of < > " ' as itself.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *part[8] = {"", "", "", "", "", "", "", ""};
    char *copy = strdup(text), *p = copy;
    for (int i = 0; i < 8 && p; i++) {
        part[i] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }

    char value[64];
    if (tp_web_cookie_get(part[0], part[1], value, sizeof value) == 0 &&
        (strlen(value) >= sizeof value || strchr(value, ';') || !strstr(part[0], value)))
        __builtin_trap();

    for (int tls = 0; tls < 2; tls++) {
        int ok = tp_web_origin_ok(part[2][0] ? part[2] : NULL, part[3][0] ? part[3] : NULL,
                                  part[4][0] ? part[4] : NULL, part[5][0] ? part[5] : NULL, tls);
        if ((ok != 0 && ok != 1) || (ok && strcmp(part[4], "cross-site") == 0))
            __builtin_trap();
    }

    struct sockaddr_storage addr;
    socklen_t len;
    int loopback;
    char err[256] = "";
    if (tp_web_parse_listen(part[6], &addr, &len, &loopback, err, sizeof err) != 0 && !err[0])
        __builtin_trap();

    tp_web_buf b;
    tp_web_buf_init(&b);
    tp_web_buf_esc(&b, part[7]);
    for (size_t i = 0; !b.failed && b.data && i < b.len; i++)
        if (strchr("<>\"'", b.data[i]) && b.data[i] != '\0')
            __builtin_trap();
    tp_web_buf_free(&b);

    /* The whole input as a configuration file. */
    FILE *f = tmpfile();
    if (f) {
        fwrite(data, 1, size, f);
        fflush(f);
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fileno(f));
        tp_web_config cfg;
        tp_web_config_defaults(&cfg);
        err[0] = '\0';
        if (tp_web_config_load(&cfg, path, err, sizeof err) != 0 && !err[0])
            __builtin_trap();
        fclose(f);
    }
    free(copy);
    free(text);
    return 0;
}
