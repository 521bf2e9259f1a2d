/*
 * drvutil.h — small helpers the scanner drivers share: locale-independent
 * config keywords, the config value parsers the drivers agree on, and
 * handing results to a tp_driver_sink. Messages for people go through
 * tp_buf_set() (plugin/util.h).
 *
 * Only helpers whose meaning is the same in every caller live here; the
 * camera's own parsers (which also take on/off, and at most 9 digits) and
 * the wedge's strcasecmp() keys are deliberately not these.
 */
#ifndef TP_DRIVERS_DRVUTIL_H
#define TP_DRIVERS_DRVUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "tillpoints/tillpoints.h"

/* ASCII-only lower case: bytes other than 'A'..'Z' are returned as given. */
int tp_drv_ascii_lower(int c);

/* Case-insensitive equality of two config keywords. Locale-independent:
 * config keywords are ASCII and must not depend on the host's LC_CTYPE
 * (Turkish dotless i and friends). */
bool tp_drv_keyword_eq(const char *a, const char *b);

/* Decimal digits only, no sign or spaces, so "1e3", "-5" or "9600 " are
 * errors and not silently something else. False when s is empty, holds
 * anything but digits, or its value exceeds max; else *out is the value. */
bool tp_drv_parse_uint(const char *s, uint64_t max, uint64_t *out);

/* A yes/no setting `name` (the canonical key, as quoted in the message):
 * yes, true, 1 or no, false, 0, letters in any case. TP_OK and *out set,
 * or TP_ERR_CONFIG with a sentence in msg and *out untouched. */
tp_status tp_drv_config_bool(const char *name, const char *value, bool *out,
                             char *msg, size_t cap);

/* The max_length setting: a whole number from 1 to max. TP_OK and *out
 * set, or TP_ERR_CONFIG with a sentence in msg and *out untouched. */
tp_status tp_drv_config_max_length(const char *value, int max, size_t *out,
                                   char *msg, size_t cap);

/* Hands one decoded scan to sink->on_data, if there is one. aim_id is a
 * NUL-terminated AIM id of at most TP_AIM_ID_LEN bytes, "" or NULL for
 * none. */
void tp_drv_deliver_scan(const tp_driver_sink *sink, const char *data,
                         size_t len, tp_symbology symbology,
                         const char *aim_id, int64_t time_ms);

/* Hands a sentence to sink->on_error, if there is one. */
void tp_drv_report_error(const tp_driver_sink *sink, const char *sentence);

#endif /* TP_DRIVERS_DRVUTIL_H */
