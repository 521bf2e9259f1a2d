#!/usr/bin/env python3
"""Writes the made-up next minor's headers the compatibility test builds with.

usage: next.py INCLUDE_DIR OUT_DIR

The next minor (2.N+1 on top of include/'s 2.N) is what a real minor
version may add under the rules in tillpoints.h, and nothing else:
TP_ABI_MINOR plus one, one field appended to a growable struct
(tp_member_info.has_app_id) and one new extension ("tillpoints.codes/1").
The plugin and the test host are each built against include/ and against
these, and tests/abi/compat.sh runs every pairing.
"""
import pathlib
import re
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
found = re.findall(r"^#define TP_ABI_MINOR (\d+)$", core.read_text(), re.M)
if len(found) != 1:
    sys.exit("next.py: tillpoints.h no longer has exactly one '#define TP_ABI_MINOR N'; "
             "update tests/abi/next.py")
minor = int(found[0])
core.write_text(replace_once(core.read_text(), f"#define TP_ABI_MINOR {minor}",
                             f"#define TP_ABI_MINOR {minor + 1}", "tillpoints.h"))

members = out / "tillpoints" / "ext" / "members.h"
# Appended after whatever field is last today: the closing line is the anchor.
members.write_text(replace_once(
    members.read_text(),
    "\n} tp_member_info;",
    "\n    /* Since the next minor (made up for the compatibility test). */\n"
    "    int32_t has_app_id;             /* the member has an app id */\n"
    "} tp_member_info;",
    "ext/members.h"))

(out / "tillpoints" / "ext" / "codes.h").write_text('''/*
 * codes.h — made up for the compatibility test: a next-minor extension,
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
