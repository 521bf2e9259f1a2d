#!/usr/bin/env python3
"""Writes the made-up ABI 2.1 headers the compatibility test builds with.

usage: next.py INCLUDE_DIR OUT_DIR

2.1 is what a real minor version may add under the rules in tillpoints.h,
and nothing else: TP_ABI_MINOR 1, one field appended to a growable struct
(tp_member_info.has_app_id) and one new extension ("tillpoints.codes/1").
The plugin and the test host are each built against 2.0 (include/) and
against these, and tests/abi/compat.sh runs every pairing.
"""
import pathlib
import shutil
import sys


def replace_once(text, old, new, where):
    if text.count(old) != 1:
        sys.exit(f"next.py: {where} no longer has exactly one {old!r}; update tests/abi/next.py")
    return text.replace(old, new)


src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
if out.exists():
    shutil.rmtree(out)
shutil.copytree(src / "tillpoints", out / "tillpoints")

core = out / "tillpoints" / "tillpoints.h"
core.write_text(replace_once(core.read_text(), "#define TP_ABI_MINOR 0",
                             "#define TP_ABI_MINOR 1", "tillpoints.h"))

members = out / "tillpoints" / "ext" / "members.h"
members.write_text(replace_once(
    members.read_text(),
    "    int64_t created_ms;\n} tp_member_info;",
    "    int64_t created_ms;\n"
    "    /* Since 2.1 (made up for the compatibility test). */\n"
    "    int32_t has_app_id;             /* the member has an app id */\n"
    "} tp_member_info;",
    "ext/members.h"))

(out / "tillpoints" / "ext" / "codes.h").write_text('''/*
 * codes.h — made up for the compatibility test: a 2.1 extension,
 * "tillpoints.codes/1", telling a host which member-code lengths the
 * store's [scan] settings accept.
 */
#ifndef TILLPOINTS_EXT_CODES_H
#define TILLPOINTS_EXT_CODES_H

#include "../tillpoints.h"

#define TP_EXT_CODES "tillpoints.codes/1"

typedef struct tp_codes_ext {
    uint32_t struct_size;
    tp_status (*length_range)(const tp_plugin *plugin, uint32_t *min, uint32_t *max,
                              tp_message *msg);
} tp_codes_ext;

#endif
''')
admin = out / "tillpoints" / "ext" / "admin.h"
admin.write_text(replace_once(admin.read_text(), '#include "audit.h"\n',
                              '#include "audit.h"\n#include "codes.h"\n', "ext/admin.h"))
