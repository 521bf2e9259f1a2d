#!/bin/sh
# pg_fixture.sh — a throw-away PostgreSQL 15 for the sync tests and bench
# (docs/DESIGN.md §8 test facts): initdb as the postgres user into a directory it
# owns, served on a Unix socket in that directory only, with password
# (scram) authentication so that wrong credentials can be tested.
#
#   pg_fixture.sh start DIR OWNER_PID [fsync]   create, start, createdb tp;
#                                               a watchdog stops the server and
#                                               removes DIR when OWNER_PID exits
#   pg_fixture.sh stop DIR                      fast shutdown
#   pg_fixture.sh kill DIR                      kill -9 the postmaster
#   pg_fixture.sh restart DIR                   start again after stop or kill
#   pg_fixture.sh destroy DIR                   stop (immediate) and remove DIR
#
# The database is "tp", the user "tillpoints", the password "secret"; the
# libpq connection string is: host=DIR dbname=tp user=tillpoints password=secret
set -eu
BIN=/usr/lib/postgresql/15/bin
cmd=$1
dir=$2
data=$dir/data
as_pg() { runuser -u postgres -- "$@"; }

start_server() {
    # After kill -9, orphaned backends may hold the old shared memory for
    # a moment; try a few times.
    for i in 1 2 3 4 5 6 7 8 9 10; do
        if as_pg "$BIN/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 120 \
            -o "-k $dir -c listen_addresses='' $(cat "$dir/extra_opts")" start >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.3
    done
    echo "pg_fixture: cannot start PostgreSQL; see $dir/server.log" >&2
    tail -20 "$dir/server.log" >&2 || true
    return 1
}

case $cmd in
start)
    owner=$3
    fsync=${4:-on}
    mkdir -p "$dir"
    chown postgres:postgres "$dir"
    chmod 0700 "$dir"
    printf 'secret\n' > "$dir/pw"
    chown postgres "$dir/pw"
    as_pg "$BIN/initdb" -D "$data" -A scram-sha-256 -U tillpoints --pwfile="$dir/pw" \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    printf '%s' "-c fsync=$fsync -c max_connections=50" > "$dir/extra_opts"
    start_server
    PGPASSWORD=secret "$BIN/../bin/createdb" -h "$dir" -U tillpoints tp 2>/dev/null ||
        PGPASSWORD=secret createdb -h "$dir" -U tillpoints tp
    # Watchdog: whatever happens to the owner, the server goes with it.
    nohup sh -c "while kill -0 $owner 2>/dev/null; do sleep 1; done;
        runuser -u postgres -- $BIN/pg_ctl -D '$data' -m immediate stop >/dev/null 2>&1;
        rm -rf '$dir'" >/dev/null 2>&1 &
    ;;
stop)
    as_pg "$BIN/pg_ctl" -D "$data" -m fast -w -t 120 stop >/dev/null
    ;;
kill)
    pid=$(head -1 "$data/postmaster.pid")
    kill -9 "$pid"
    # Wait until the postmaster is gone; its backends exit on their own.
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    ;;
restart)
    start_server
    ;;
destroy)
    as_pg "$BIN/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: pg_fixture.sh start|stop|kill|restart|destroy DIR [OWNER_PID]" >&2
    exit 2
    ;;
esac
