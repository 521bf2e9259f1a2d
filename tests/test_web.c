/* Unit tests for the pure parts of tillpoints-web (host-shim/web_html.c,
 * web_session.c, web_config.c; docs/DESIGN.md §15): HTML escaping, the
 * session table with an injected clock, the CSRF and origin checks, cookie
 * parsing, and the [web] configuration. The server itself is exercised by
 * the end-to-end tests. */
#include "testutil.h"

#include <arpa/inet.h>
#include <sodium.h>

#include "web.h"

/* --------------------------------------------------------------- html */

static void escaping_turns_markup_characters_into_entities(void **state)
{
    (void)state;
    tp_web_buf b;
    tp_web_buf_init(&b);
    tp_web_buf_esc(&b, "<a href=\"x\">Tom & Jerry's</a>");
    assert_string_equal(b.data,
                        "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
    tp_web_buf_free(&b);
}

static void escaping_passes_other_bytes_and_invalid_utf8_through(void **state)
{
    (void)state;
    tp_web_buf b;
    tp_web_buf_init(&b);
    const char odd[] = "caf\xc3\xa9 \xff\xfe\x80 ok";
    tp_web_buf_esc(&b, odd);
    assert_int_equal(b.len, strlen(odd));
    assert_memory_equal(b.data, odd, strlen(odd));
    tp_web_buf_esc(&b, NULL); /* nothing, no crash */
    assert_int_equal(b.len, strlen(odd));
    tp_web_buf_free(&b);
}

static void url_encoding_keeps_only_unreserved_characters(void **state)
{
    (void)state;
    tp_web_buf b;
    tp_web_buf_init(&b);
    tp_web_buf_url(&b, "M-1001 a&b/\"x\"");
    assert_string_equal(b.data, "M-1001%20a%26b%2F%22x%22");
    tp_web_buf_free(&b);
}

static void printf_grows_the_buffer_past_its_first_size(void **state)
{
    (void)state;
    tp_web_buf b;
    tp_web_buf_init(&b);
    for (int i = 0; i < 1000; i++)
        tp_web_buf_printf(&b, "%04d,", i);
    assert_int_equal(b.len, 5000);
    assert_false(b.failed);
    assert_memory_equal(b.data + 4995, "0999,", 5);
    size_t len = 0;
    char *d = tp_web_buf_take(&b, &len);
    assert_int_equal(len, 5000);
    assert_null(b.data);
    free(d);
}

static void every_page_has_the_viewport_and_the_signed_in_nav(void **state)
{
    (void)state;
    tp_web_buf b;
    tp_web_buf_init(&b);
    tp_web_page_begin(&b, "<Members>", "tok\"en", 0);
    tp_web_page_end(&b);
    assert_non_null(strstr(b.data, "<meta name=\"viewport\" content=\"width=device-width, "
                                    "initial-scale=1\">"));
    assert_non_null(strstr(b.data, "&lt;Members&gt;"));
    assert_non_null(strstr(b.data, "<nav id=\"nav\""));
    assert_non_null(strstr(b.data, "id=\"signout\""));
    assert_non_null(strstr(b.data, "value=\"tok&quot;en\""));
    assert_null(strstr(b.data, "<script")); /* only the dashboard has scripts */
    tp_web_buf_free(&b);
    tp_web_buf_init(&b);
    tp_web_page_begin(&b, "Sign in", NULL, 0);
    assert_null(strstr(b.data, "<nav"));
    tp_web_buf_free(&b);
}

/* ----------------------------------------------------------- sessions */

static void a_session_is_found_by_its_token_until_it_is_idle_too_long(void **state)
{
    (void)state;
    tp_web_sessions t;
    assert_int_equal(tp_web_sessions_init(&t, 8, 900000), 0);
    tp_web_session s, found;
    assert_int_equal(tp_web_session_create(&t, "mia", 1000000, &s), 0);
    assert_int_equal(strlen(s.token), TP_WEB_TOKEN_LEN);
    assert_int_equal(strlen(s.csrf), TP_WEB_TOKEN_LEN);
    assert_string_not_equal(s.token, s.csrf);
    assert_int_equal(tp_web_session_lookup(&t, s.token, 1000000 + 899000, &found), 0);
    assert_string_equal(found.manager, "mia");
    assert_int_equal(found.serial, s.serial);
    /* each use restarts the idle time */
    assert_int_equal(tp_web_session_lookup(&t, s.token, 1000000 + 1700000, &found), 0);
    /* idle for longer than 900 s: gone, and stays gone */
    assert_int_equal(tp_web_session_lookup(&t, s.token, 1000000 + 1700000 + 900001, &found), -1);
    assert_int_equal(tp_web_session_lookup(&t, s.token, 1000000 + 1700000 + 1000, &found), -1);
    assert_int_equal(tp_web_session_count(&t), 0);
    tp_web_sessions_free(&t);
}

static void a_wrong_or_missing_token_finds_no_session(void **state)
{
    (void)state;
    tp_web_sessions t;
    assert_int_equal(tp_web_sessions_init(&t, 8, 900000), 0);
    tp_web_session s, found;
    assert_int_equal(tp_web_session_create(&t, "mia", 0, &s), 0);
    char wrong[TP_WEB_TOKEN_LEN + 1];
    memcpy(wrong, s.token, sizeof wrong);
    wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
    assert_int_equal(tp_web_session_lookup(&t, wrong, 1, &found), -1);
    assert_int_equal(tp_web_session_lookup(&t, "", 1, &found), -1);
    assert_int_equal(tp_web_session_lookup(&t, NULL, 1, &found), -1);
    assert_int_equal(tp_web_session_lookup(&t, s.csrf, 1, &found), -1);
    /* signed out: gone */
    assert_int_equal(tp_web_session_remove(&t, s.token), 0);
    assert_int_equal(tp_web_session_lookup(&t, s.token, 2, &found), -1);
    assert_int_equal(tp_web_session_remove(&t, s.token), -1);
    tp_web_sessions_free(&t);
}

static void a_full_table_evicts_the_session_idle_longest(void **state)
{
    (void)state;
    tp_web_sessions t;
    assert_int_equal(tp_web_sessions_init(&t, 3, 900000), 0);
    tp_web_session a, b, c, d, found;
    tp_web_session_create(&t, "a", 100, &a);
    tp_web_session_create(&t, "b", 200, &b);
    tp_web_session_create(&t, "c", 300, &c);
    assert_int_equal(tp_web_session_lookup(&t, a.token, 400, &found), 0); /* a used again */
    tp_web_session_create(&t, "d", 500, &d);
    assert_int_equal(tp_web_session_count(&t), 3);
    assert_int_equal(tp_web_session_lookup(&t, b.token, 600, &found), -1); /* evicted */
    assert_int_equal(tp_web_session_lookup(&t, a.token, 600, &found), 0);
    assert_int_equal(tp_web_session_lookup(&t, c.token, 600, &found), 0);
    assert_int_equal(tp_web_session_lookup(&t, d.token, 600, &found), 0);
    tp_web_sessions_free(&t);
}

static void fifty_managers_hold_sessions_at_once(void **state)
{
    (void)state;
    tp_web_sessions t;
    assert_int_equal(tp_web_sessions_init(&t, 1000, 900000), 0);
    tp_web_session s[50], found;
    for (int i = 0; i < 50; i++) {
        char id[16];
        snprintf(id, sizeof id, "m%d", i);
        assert_int_equal(tp_web_session_create(&t, id, i, &s[i]), 0);
    }
    for (int i = 0; i < 50; i++) {
        assert_int_equal(tp_web_session_lookup(&t, s[i].token, 100, &found), 0);
        assert_int_equal(found.serial, s[i].serial);
    }
    tp_web_sessions_free(&t);
}

static void tokens_are_random_base64url(void **state)
{
    (void)state;
    char a[TP_WEB_TOKEN_LEN + 1], b[TP_WEB_TOKEN_LEN + 1];
    tp_web_token_new(a);
    tp_web_token_new(b);
    assert_int_equal(strlen(a), TP_WEB_TOKEN_LEN);
    assert_string_not_equal(a, b);
    for (const char *p = a; *p; p++)
        assert_true((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_');
}

/* --------------------------------------------------------------- csrf */

static void csrf_refuses_a_wrong_or_missing_token(void **state)
{
    (void)state;
    char tok[TP_WEB_TOKEN_LEN + 1];
    tp_web_token_new(tok);
    assert_true(tp_web_csrf_ok(tok, tok));
    char other[TP_WEB_TOKEN_LEN + 1];
    memcpy(other, tok, sizeof other);
    other[TP_WEB_TOKEN_LEN - 1] ^= 1;
    assert_false(tp_web_csrf_ok(tok, other));
    assert_false(tp_web_csrf_ok(tok, NULL));
    assert_false(tp_web_csrf_ok(tok, ""));
    assert_false(tp_web_csrf_ok("", ""));
    assert_false(tp_web_csrf_ok(NULL, tok));
    char prefix[8];
    memcpy(prefix, tok, 7);
    prefix[7] = '\0';
    assert_false(tp_web_csrf_ok(tok, prefix));
}

static void same_origin_posts_pass_and_cross_origin_ones_do_not(void **state)
{
    (void)state;
    const char *host = "127.0.0.1:8080";
    assert_true(tp_web_origin_ok("http://127.0.0.1:8080", NULL, NULL, host, 0));
    assert_true(tp_web_origin_ok(NULL, "http://127.0.0.1:8080/adjust?member=x", NULL, host, 0));
    assert_true(tp_web_origin_ok(NULL, NULL, "same-origin", host, 0)); /* the token decides */
    assert_true(tp_web_origin_ok("https://shop.example", NULL, NULL, "shop.example", 1));
    assert_false(tp_web_origin_ok("http://evil.example", NULL, NULL, host, 0));
    assert_false(tp_web_origin_ok("http://127.0.0.1:8081", NULL, NULL, host, 0));
    /* behind a TLS proxy the browser says https; under TLS only https */
    assert_true(tp_web_origin_ok("https://127.0.0.1:8080", NULL, NULL, host, 0));
    assert_false(tp_web_origin_ok("http://shop.example", NULL, NULL, "shop.example", 1));
    assert_false(tp_web_origin_ok("null", NULL, NULL, host, 0));
    assert_false(tp_web_origin_ok(NULL, "http://127.0.0.1:8080.evil.example/", NULL, host, 0));
    assert_false(tp_web_origin_ok(NULL, "http://evil.example/", NULL, host, 0));
    assert_false(tp_web_origin_ok("http://127.0.0.1:8080", NULL, "cross-site", host, 0));
    assert_false(tp_web_origin_ok("http://127.0.0.1:8080", NULL, NULL, NULL, 0));
}

static void a_pre_session_token_is_accepted_only_when_this_server_made_it(void **state)
{
    (void)state;
    unsigned char key[TP_WEB_PRE_KEY_LEN], other[TP_WEB_PRE_KEY_LEN];
    randombytes_buf(key, sizeof key);
    randombytes_buf(other, sizeof other);
    char tok[TP_WEB_TOKEN_LEN + 1];
    tp_web_pre_token_new(key, tok);
    assert_int_equal(strlen(tok), TP_WEB_TOKEN_LEN);
    assert_true(tp_web_pre_token_ok(key, tok));
    assert_false(tp_web_pre_token_ok(other, tok)); /* another server's, or a restart's */
    char planted[TP_WEB_TOKEN_LEN + 1];
    tp_web_token_new(planted); /* random, not signed */
    assert_false(tp_web_pre_token_ok(key, planted));
    tok[5] = tok[5] == 'A' ? 'B' : 'A';
    assert_false(tp_web_pre_token_ok(key, tok));
    assert_false(tp_web_pre_token_ok(key, "abc"));
    assert_false(tp_web_pre_token_ok(key, NULL));
}

/* ------------------------------------------------------------ cookies */

static void cookies_are_found_among_several_with_spaces(void **state)
{
    (void)state;
    char v[64];
    assert_int_equal(tp_web_cookie_get("a=1; tp_session=abc; b=2", "tp_session", v, sizeof v), 0);
    assert_string_equal(v, "abc");
    assert_int_equal(tp_web_cookie_get("  tp_pre = xyz ;tp_session=q", "tp_pre", v, sizeof v), 0);
    assert_string_equal(v, "xyz");
    assert_int_equal(tp_web_cookie_get("tp_session=\"quoted\"", "tp_session", v, sizeof v), 0);
    assert_string_equal(v, "quoted");
    assert_int_equal(tp_web_cookie_get("x_tp_session=no; tp_session2=no", "tp_session", v,
                                       sizeof v),
                     -1);
    assert_int_equal(tp_web_cookie_get("", "tp_session", v, sizeof v), -1);
    assert_int_equal(tp_web_cookie_get(NULL, "tp_session", v, sizeof v), -1);
    assert_int_equal(tp_web_cookie_get("novalue; tp_session=", "tp_session", v, sizeof v), 0);
    assert_string_equal(v, "");
    assert_int_equal(tp_web_cookie_get("tp_session=0123456789", "tp_session", v, 5), -1);
}

/* ------------------------------------------------------------- config */

static char *write_temp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/test_web_conf_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void the_config_file_sets_every_key(void **state)
{
    (void)state;
    tp_web_config cfg;
    tp_web_config_defaults(&cfg);
    assert_string_equal(cfg.listen, "127.0.0.1:8080");
    assert_int_equal(cfg.session_idle_seconds, 900);
    assert_int_equal(cfg.max_upload_bytes, 16777216);
    assert_int_equal(cfg.max_connections, 256);
    char *p = write_temp("[web]\nlisten = [::1]:9090\nsession_idle_seconds = 60\n"
                         "max_upload_bytes = 4096\nmax_connections = 50\nassets = /srv/web\n"
                         "chartjs = /srv/chart.js\nallow_plain_http = yes\n");
    char err[512];
    assert_int_equal(tp_web_config_load(&cfg, p, err, sizeof err), 0);
    unlink(p);
    assert_string_equal(cfg.listen, "[::1]:9090");
    assert_int_equal(cfg.session_idle_seconds, 60);
    assert_int_equal(cfg.max_upload_bytes, 4096);
    assert_int_equal(cfg.max_connections, 50);
    assert_string_equal(cfg.assets, "/srv/web");
    assert_string_equal(cfg.chartjs, "/srv/chart.js");
    assert_true(cfg.allow_plain_http);
}

static void an_unknown_key_is_refused_with_file_and_line(void **state)
{
    (void)state;
    tp_web_config cfg;
    tp_web_config_defaults(&cfg);
    char *p = write_temp("[web]\n# a comment\nlisten = 127.0.0.1:8080\nlsiten = 0.0.0.0:80\n");
    char err[512];
    assert_int_equal(tp_web_config_load(&cfg, p, err, sizeof err), -1);
    assert_non_null(strstr(err, p));
    assert_non_null(strstr(err, "line 4"));
    assert_non_null(strstr(err, "lsiten"));
    unlink(p);
    p = write_temp("[store]\ndatabase = x\n");
    assert_int_equal(tp_web_config_load(&cfg, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "line 2"));
    assert_non_null(strstr(err, "[store]"));
    unlink(p);
    p = write_temp("[web]\nmax_upload_bytes = lots\n");
    assert_int_equal(tp_web_config_load(&cfg, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "line 2"));
    assert_non_null(strstr(err, "max_upload_bytes"));
    unlink(p);
    assert_int_equal(tp_web_config_load(&cfg, "/nonexistent/web.conf", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/web.conf"));
}

static void listen_addresses_parse_for_ipv4_ipv6_and_localhost(void **state)
{
    (void)state;
    struct sockaddr_storage a;
    socklen_t len;
    int lo;
    char err[256];
    assert_int_equal(tp_web_parse_listen("127.0.0.1:8080", &a, &len, &lo, err, sizeof err), 0);
    assert_int_equal(a.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&a)->sin_port), 8080);
    assert_true(lo);
    assert_int_equal(tp_web_parse_listen("[::1]:8080", &a, &len, &lo, err, sizeof err), 0);
    assert_int_equal(a.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&a)->sin6_port), 8080);
    assert_true(lo);
    assert_int_equal(tp_web_parse_listen("localhost:0", &a, &len, &lo, err, sizeof err), 0);
    assert_true(lo);
    assert_int_equal(tp_web_parse_listen("0.0.0.0:443", &a, &len, &lo, err, sizeof err), 0);
    assert_false(lo);
    assert_int_equal(tp_web_parse_listen("[2001:db8::1]:443", &a, &len, &lo, err, sizeof err), 0);
    assert_false(lo);
    assert_int_equal(tp_web_parse_listen("127.0.0.1", &a, &len, &lo, err, sizeof err), -1);
    assert_int_equal(tp_web_parse_listen("127.0.0.1:65536", &a, &len, &lo, err, sizeof err), -1);
    assert_int_equal(tp_web_parse_listen("::1:8080", &a, &len, &lo, err, sizeof err), -1);
    assert_int_equal(tp_web_parse_listen("[::1:8080", &a, &len, &lo, err, sizeof err), -1);
    assert_int_equal(tp_web_parse_listen("shop.example:80", &a, &len, &lo, err, sizeof err), -1);
    assert_non_null(strstr(err, "shop.example:80"));
}

static void plain_http_beyond_loopback_is_refused_unless_allowed(void **state)
{
    (void)state;
    tp_web_config cfg;
    tp_web_config_defaults(&cfg);
    char err[512];
    assert_int_equal(tp_web_config_check(&cfg, err, sizeof err), 0);
    snprintf(cfg.listen, sizeof cfg.listen, "0.0.0.0:8080");
    assert_int_equal(tp_web_config_check(&cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "tls_cert"));
    assert_non_null(strstr(err, "allow_plain_http"));
    cfg.allow_plain_http = 1;
    assert_int_equal(tp_web_config_check(&cfg, err, sizeof err), 0);
    cfg.allow_plain_http = 0;
    snprintf(cfg.tls_cert, sizeof cfg.tls_cert, "/etc/ssl/web.pem");
    assert_int_equal(tp_web_config_check(&cfg, err, sizeof err), -1); /* no key */
    snprintf(cfg.tls_key, sizeof cfg.tls_key, "/etc/ssl/web.key");
    assert_int_equal(tp_web_config_check(&cfg, err, sizeof err), 0);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escaping_turns_markup_characters_into_entities),
        cmocka_unit_test(escaping_passes_other_bytes_and_invalid_utf8_through),
        cmocka_unit_test(url_encoding_keeps_only_unreserved_characters),
        cmocka_unit_test(printf_grows_the_buffer_past_its_first_size),
        cmocka_unit_test(every_page_has_the_viewport_and_the_signed_in_nav),
        cmocka_unit_test(a_session_is_found_by_its_token_until_it_is_idle_too_long),
        cmocka_unit_test(a_wrong_or_missing_token_finds_no_session),
        cmocka_unit_test(a_full_table_evicts_the_session_idle_longest),
        cmocka_unit_test(fifty_managers_hold_sessions_at_once),
        cmocka_unit_test(tokens_are_random_base64url),
        cmocka_unit_test(csrf_refuses_a_wrong_or_missing_token),
        cmocka_unit_test(same_origin_posts_pass_and_cross_origin_ones_do_not),
        cmocka_unit_test(a_pre_session_token_is_accepted_only_when_this_server_made_it),
        cmocka_unit_test(cookies_are_found_among_several_with_spaces),
        cmocka_unit_test(the_config_file_sets_every_key),
        cmocka_unit_test(an_unknown_key_is_refused_with_file_and_line),
        cmocka_unit_test(listen_addresses_parse_for_ipv4_ipv6_and_localhost),
        cmocka_unit_test(plain_http_beyond_loopback_is_refused_unless_allowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
