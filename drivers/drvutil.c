/*
 * drvutil.c — helpers shared by the scanner drivers (see drvutil.h).
 */
#include "drvutil.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

_Static_assert(sizeof(((tp_scan_data *)0)->aim_id) == TP_AIM_ID_LEN + 1,
               "tp_scan_data.aim_id must hold an AIM id");

int tp_drv_ascii_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

bool tp_drv_keyword_eq(const char *a, const char *b)
{
    while (*a != '\0' && *b != '\0') {
        if (tp_drv_ascii_lower((unsigned char)*a) !=
            tp_drv_ascii_lower((unsigned char)*b))
            return false;
        a++;
        b++;
    }
    return *a == *b;
}

bool tp_drv_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > max)
            return false;
    }
    *out = v;
    return true;
}

tp_status tp_drv_config_bool(const char *name, const char *value, bool *out,
                             char *msg, size_t cap)
{
    if (tp_drv_keyword_eq(value, "yes") || tp_drv_keyword_eq(value, "true") ||
        strcmp(value, "1") == 0) {
        *out = true;
        return TP_OK;
    }
    if (tp_drv_keyword_eq(value, "no") || tp_drv_keyword_eq(value, "false") ||
        strcmp(value, "0") == 0) {
        *out = false;
        return TP_OK;
    }
    tp_buf_set(msg, cap,
               "%s must be one of yes, no, true, false, 1, 0 (got '%.40s').",
               name, value);
    return TP_ERR_CONFIG;
}

tp_status tp_drv_config_max_length(const char *value, int max, size_t *out,
                                   char *msg, size_t cap)
{
    uint64_t v;

    if (!tp_drv_parse_uint(value, (uint64_t)max, &v) || v == 0) {
        tp_buf_set(msg, cap,
                   "max_length must be a whole number from 1 to %d "
                   "(got '%.40s').",
                   max, value);
        return TP_ERR_CONFIG;
    }
    *out = (size_t)v;
    return TP_OK;
}

void tp_drv_deliver_scan(const tp_driver_sink *sink, const char *data,
                         size_t len, tp_symbology symbology,
                         const char *aim_id, int64_t time_ms)
{
    tp_scan_data scan;

    if (sink == NULL || sink->on_data == NULL)
        return;
    memset(&scan, 0, sizeof scan);
    scan.data = data;
    scan.len = len;
    scan.symbology = symbology;
    snprintf(scan.aim_id, sizeof scan.aim_id, "%s",
             aim_id != NULL ? aim_id : "");
    scan.time_ms = time_ms;
    sink->on_data(sink->user, &scan);
}

void tp_drv_report_error(const tp_driver_sink *sink, const char *sentence)
{
    if (sink != NULL && sink->on_error != NULL)
        sink->on_error(sink->user, sentence);
}
