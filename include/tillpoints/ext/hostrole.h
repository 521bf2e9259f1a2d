/*
 * hostrole.h — the host extension "tillpoints.host-role/1" (2.3): what
 * kind of host loads the plugin.
 *
 * A back-office program (tillpoints-web, the tillpoints CLI) loads the
 * plugin on the same configuration as the till, to reach the same database
 * through the same rules. It must not take the till's scanners: a serial
 * port or an input device opened by two processes loses scans. A host that
 * offers this extension with TP_HOST_ROLE_BACK_OFFICE set gets a plugin
 * that starts no scanner (its scanners extension lists none, and its
 * message says the till's process owns them); everything else works as
 * for a till. A host that does not offer it is a till.
 */
#ifndef TILLPOINTS_EXT_HOSTROLE_H
#define TILLPOINTS_EXT_HOSTROLE_H

#include "../tillpoints.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_HOST_EXT_ROLE "tillpoints.host-role/1"

/* Bits of tp_host_role_ext.flags; a plugin ignores bits it does not know. */
#define TP_HOST_ROLE_BACK_OFFICE 0x1u /* owns no scanners */

typedef struct tp_host_role_ext {
    uint32_t struct_size; /* sizeof(tp_host_role_ext) in the host's build */
    uint32_t flags;       /* TP_HOST_ROLE_* */
} tp_host_role_ext;

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_EXT_HOSTROLE_H */
