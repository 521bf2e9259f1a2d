# Makes one deliberately incompatible change to a public header, for the
# ABI self-check (tests/abi/selfcheck.sh). Run as
#
#   awk -v change=NAME -v report=FILE -f mutate.awk header.h > changed.h
#
# It exits 0 after writing the changed header and one line describing the
# change to FILE, or 3 (and writes nothing useful) when this header has
# nothing the change applies to. The target is found by shape, never by
# name, so the check keeps working as the headers change:
#
#   swap       the first two adjacent plain fields of a struct trade places
#   width      the first fixed-width integer field changes width
#   insert     a field is inserted after the first field of the first struct
#              with at least two
#   drop-fn    the first function pointer of the first struct holding two
#              or more (a function table) is removed
#   array      the first char array field grows by one
#   rename     the first plain field is renamed (same type, same place)
#
# A "plain field" is one declaration on one line ("type name;" or
# "type name[N];"), seen at the top level of a struct body; comments are
# ignored when reading the shape and kept in the output.

# The code of a line with comments removed; `in_comment` carries a comment
# that spans lines.
function strip(s,   out, p) {
    out = ""
    while (s != "") {
        if (in_comment) {
            p = index(s, "*/")
            if (!p)
                return out
            s = substr(s, p + 2)
            in_comment = 0
        } else {
            p = index(s, "/*")
            if (!p)
                return out s
            out = out substr(s, 1, p - 1) " "
            s = substr(s, p + 2)
            in_comment = 1
        }
    }
    return out
}

function count(s, ch,   n, i) {
    n = 0
    for (i = 1; i <= length(s); i++)
        if (substr(s, i, 1) == ch)
            n++
    return n
}

# The name a plain field declares (the identifier before "[" or ";").
function field_name(code,   s) {
    s = code
    sub(/[ \t]*(\[[^]]*\])?[ \t]*;[ \t]*$/, "", s)
    sub(/^.*[^A-Za-z_0-9]/, "", s)
    return s
}

{ line[NR] = $0 }

END {
    depth = 0
    nstruct = 0
    for (i = 1; i <= NR; i++) {
        code = strip(line[i])
        kind[i] = ""
        sid[i] = 0
        if (code ~ /^[ \t]*#/)
            continue
        if (depth == 0) {
            # "struct name {", or "struct name" with the brace on the
            # next line.
            if (pending != "" && code ~ /^[ \t]*\{/)
                code = pending " " code
            pending = ""
            if (code ~ /(struct|union)[ \t]*[A-Za-z_0-9]*[ \t]*\{/) {
                nstruct++
                tag[nstruct] = code
                sub(/^.*(struct|union)[ \t]*/, "", tag[nstruct])
                sub(/[ \t]*\{.*$/, "", tag[nstruct])
                depth = count(code, "{") - count(code, "}")
            } else if (code ~ /(struct|union)[ \t]+[A-Za-z_0-9]+[ \t]*$/) {
                pending = code
            }
            continue
        }
        if (depth == 1 && code !~ /[{}]/) {
            if (in_fn) {
                kind[i] = "fn-more"
                sid[i] = nstruct
                if (code ~ /;/)
                    in_fn = 0
            } else if (code ~ /\(\*/) {
                kind[i] = "fn"
                sid[i] = nstruct
                nfn[nstruct]++
                in_fn = (code !~ /;/)
            } else if (code ~ /^[ \t]*[A-Za-z_][A-Za-z_0-9 \t]*[ \t*]+[A-Za-z_][A-Za-z_0-9]*[ \t]*(\[[^]]*\])?[ \t]*;[ \t]*$/) {
                kind[i] = "field"
                sid[i] = nstruct
                text[i] = code
                nfield[nstruct]++
            }
        }
        depth += count(code, "{") - count(code, "}")
    }

    done = 0
    if (change == "swap") {
        prev = 0
        for (i = 1; i <= NR && !done; i++) {
            if (kind[i] == "field" && prev && sid[prev] == sid[i]) {
                t = line[prev]; line[prev] = line[i]; line[i] = t
                desc = sprintf("swapped %s and %s in struct %s", field_name(text[prev]), field_name(text[i]), tag[sid[i]])
                done = 1
            }
            if (kind[i] != "")
                prev = (kind[i] == "field") ? i : 0
        }
    } else if (change == "width") {
        for (i = 1; i <= NR && !done; i++) {
            # The position in the code is the position in the line: a
            # field's line starts with its code.
            if (kind[i] == "field" && match(text[i], /u?int(8|16|32|64)_t/)) {
                old = substr(line[i], RSTART, RLENGTH)
                new = old
                if (old ~ /64/) sub(/64/, "32", new); else sub(/(8|16|32)/, "64", new)
                line[i] = substr(line[i], 1, RSTART - 1) new substr(line[i], RSTART + RLENGTH)
                desc = sprintf("made %s %s instead of %s in struct %s", field_name(text[i]), new, old, tag[sid[i]])
                done = 1
            }
        }
    } else if (change == "insert") {
        for (i = 1; i <= NR && !done; i++) {
            if (kind[i] == "field" && nfield[sid[i]] >= 2) {
                line[i] = line[i] "\n    uint32_t tp_abi_selfcheck_inserted;"
                desc = sprintf("inserted a uint32_t after %s in struct %s", field_name(text[i]), tag[sid[i]])
                done = 1
            }
        }
    } else if (change == "drop-fn") {
        for (i = 1; i <= NR && !done; i++) {
            if (kind[i] == "fn" && nfn[sid[i]] >= 2) {
                fn = strip(line[i])
                sub(/^[^(]*\(\*[ \t]*/, "", fn)
                sub(/\).*$/, "", fn)
                desc = sprintf("removed the function pointer %s from struct %s", fn, tag[sid[i]])
                s = sid[i]
                line[i] = ""
                for (j = i + 1; j <= NR && kind[j] == "fn-more" && sid[j] == s; j++)
                    line[j] = ""
                done = 1
            }
        }
    } else if (change == "array") {
        for (i = 1; i <= NR && !done; i++) {
            if (kind[i] == "field" && text[i] ~ /^[ \t]*(const[ \t]+)?char[ \t]+[A-Za-z_0-9]+[ \t]*\[[^]]+\]/) {
                match(text[i], /\[[^]]+\]/)
                size = substr(line[i], RSTART + 1, RLENGTH - 2)
                line[i] = substr(line[i], 1, RSTART - 1) "[(" size ") + 1]" substr(line[i], RSTART + RLENGTH)
                desc = sprintf("made %s char[%s + 1] in struct %s", field_name(text[i]), size, tag[sid[i]])
                done = 1
            }
        }
    } else if (change == "rename") {
        for (i = 1; i <= NR && !done; i++) {
            if (kind[i] == "field") {
                name = field_name(text[i])
                match(text[i], name "[ \t]*(\[[^]]*\])?[ \t]*;")
                line[i] = substr(line[i], 1, RSTART - 1) name "_renamed" substr(line[i], RSTART + length(name))
                desc = sprintf("renamed %s to %s_renamed in struct %s", name, name, tag[sid[i]])
                done = 1
            }
        }
    } else {
        print "mutate.awk: unknown change " change > "/dev/stderr"
        exit 2
    }
    if (!done)
        exit 3
    for (i = 1; i <= NR; i++)
        print line[i]
    print desc > report
}
