/*
 * limits.h — every limit of the tillpoints ABI, in one place.
 *
 * Lengths are in bytes of UTF-8, without the terminating NUL; a char array
 * that holds one is declared [TP_X_MAX + 1]. The plugin refuses a longer
 * string with TP_ERR_TOO_LONG and a sentence, and changes nothing. The
 * plugin's own checks, its database schema's CHECK constraints and its
 * `verify` all take their numbers from this file (docs/DESIGN.md §2).
 *
 * Compatibility: a minor version may raise a limit that bounds what a host
 * passes in, never one that sizes an array a host allocates (those are part
 * of a struct's layout) and never lower one.
 */
#ifndef TILLPOINTS_LIMITS_H
#define TILLPOINTS_LIMITS_H

/* A sentence for a person (tp_message, last_error fields, notes). */
#define TP_MESSAGE_MAX 255
/* A log line passed to tp_host.log. */
#define TP_LOG_LINE_MAX 1024
/* Host identification (tp_host.name, .vendor / .version). */
#define TP_HOST_NAME_MAX 64
#define TP_HOST_VERSION_MAX 32
/* A file path (plugin, config, CSV). */
#define TP_PATH_MAX 4096

/* Checkout. */
#define TP_TXN_ID_MAX 64      /* the host's sale id */
#define TP_RECEIPT_ID_MAX 64  /* a receipt (or refund) number */
#define TP_STAFF_ID_MAX 64    /* a cashier's or manager's id */
#define TP_CODE_MAX 512       /* a raw scanned code */
#define TP_SKU_MAX 64
#define TP_CATEGORY_MAX 64
#define TP_LINES_MAX 1000     /* lines on one receipt */
#define TP_AMOUNT_MAX 100000000000LL /* minor units, per line and receipt */
#define TP_CURRENCY_MAX 3     /* an ISO 4217 alphabetic code */
/* Minor-unit exponents an ISO 4217 currency may have (JPY 0, EUR 2,
 * KWD 3, CLF 4). The plugin knows each currency's own. */
#define TP_CURRENCY_EXPONENT_MAX 4

/* Members. */
#define TP_MEMBER_CODE_MAX 128 /* a member code, card or app id; the store's
                                  [scan] code_max_length (64 by default)
                                  may be lower, never higher */
#define TP_NAME_MAX 128        /* a display name */
#define TP_PHONE_MAX 32        /* E.164 as stored: "+4915112345678" */
#define TP_EMAIL_MAX 128

/* Ledger. */
#define TP_REASON_MAX 200     /* internal reason, for managers */
#define TP_COMMENT_MAX 200    /* customer-visible comment */
#define TP_KIND_NAME_MAX 16   /* "earn", "retro", "adjust", ... */
#define TP_LOCATION_MAX 32    /* a store or terminal name */
#define TP_BATCH_ID_MAX 64
#define TP_REWARD_NAME_MAX TP_LOCATION_MAX /* 2.5: a [reward "NAME"] */
#define TP_REWARD_OFFERS_MAX 32 /* 2.5: configured rewards, at most */
#define TP_ADJUST_MAX 100000000LL /* |points| of one adjustment */
#define TP_ENTRY_POINTS_MAX 1000000000000 /* |points| of any ledger entry */
#define TP_ACTIVITY_PAGE_MAX 1000 /* rows one activity call returns */

/* Managers and their PINs. */
#define TP_MANAGER_ID_MAX TP_STAFF_ID_MAX
#define TP_PIN_MIN 4          /* [retro] pin_min_digits may be higher */
#define TP_PIN_MAX 12

/* Outbox and sync. */
#define TP_EVENT_ID_MAX 255
#define TP_QUEUE_KIND_MAX 15  /* "ledger", "member", "card", "audit" */
#define TP_BALANCE_SOURCE_MAX 23

/* Audit. */
#define TP_AUDIT_HASH_MAX 64       /* a record hash: lowercase hex */
#define TP_AUDIT_ANCHOR_MIN_HEX 16 /* shortest hash prefix an anchor gives */
#define TP_AUDIT_NAME_MAX 32       /* action, location, terminal */

/* Scanners. */
#define TP_SCANNER_NAME_MAX 32 /* the config section's name */
#define TP_DRIVER_NAME_MAX 16  /* "serial", "camera", "wedge" */
#define TP_DEVICE_MAX 256      /* a port or device path */
#define TP_SYMBOLOGY_MAX 16    /* "qr", "ean13", "gs1-128", ... */

/* Pictures handed to the decoder (ext/images.h, since 2.1). They bound the
 * work of one call: zbar's time grows with the pixels. */
#define TP_IMAGE_SIDE_MAX 4096       /* width or height, in pixels */
#define TP_IMAGE_PIXELS_MAX 8388608  /* width x height: 8 Mpixel (3840 x 2160 fits) */
#define TP_IMAGE_PNG_MAX 16777216    /* bytes of one PNG file (16 MiB) */

/* Forms. */
#define TP_FIELD_ID_MAX 24
#define TP_FIELD_VALUE_MAX 256
#define TP_FORM_FIELDS_MAX 12  /* fields on one form */
#define TP_FORM_CHOICES_MAX 20 /* choices or results in one field */
#define TP_FORM_ANSWERS_MAX 16 /* answers in one submit */
#define TP_FORMS_OPEN_MAX 16   /* forms open at once per instance */
#define TP_FORM_ACTION_MAX 23  /* an action's name, e.g. "missed-scan-queue" */

#endif /* TILLPOINTS_LIMITS_H */
