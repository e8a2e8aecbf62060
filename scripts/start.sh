#!/usr/bin/env bash
# Start, stop and inspect the services: the Dagster webserver (UI), the Dagster daemon
# (sensors, run queue, pools) and the REST API, on the instance in $DAGSTER_HOME.
#
#   scripts/start.sh up       start what is not running, wait until healthy, print URLs
#   scripts/start.sh down     stop them (SIGTERM, then SIGKILL after 30 s)
#   scripts/start.sh status   what runs, and the API's /health
#
# Settings (environment): DAGSTER_HOME (./dagster_home), TIKTOK_DATA (./data),
# TIKTOK_HOST (127.0.0.1), DAGSTER_PORT (3000), TIKTOK_API_PORT (8003),
# TIKTOK_INSTANCE (sqlite | postgres: which dagster.yaml a fresh home gets; postgres reads
# DAGSTER_PG_HOST, _PORT, _USER, _PASSWORD, _DB), TIKTOK_UP_TIMEOUT (180 s).
# Logs: $TIKTOK_DATA/logs/{webserver,daemon,api}.log; per run: logs/runs/<run_id>.jsonl.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-$ROOT/.venv/bin}
export DAGSTER_HOME=${DAGSTER_HOME:-$ROOT/dagster_home}
export TIKTOK_DATA=${TIKTOK_DATA:-$ROOT/data}
HOST=${TIKTOK_HOST:-127.0.0.1}
UI_PORT=${DAGSTER_PORT:-3000}
API_PORT=${TIKTOK_API_PORT:-8003}
INSTANCE=${TIKTOK_INSTANCE:-sqlite}
TIMEOUT=${TIKTOK_UP_TIMEOUT:-180}
RUN_DIR=$DAGSTER_HOME/.run
LOGS=$TIKTOK_DATA/logs
SERVICES=(webserver daemon api)
export DAGSTER_WEBSERVER=$HOST:$UI_PORT

say() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

pid_of() { # the pid of a running service, or nothing
    local f=$RUN_DIR/$1.pid
    [[ -f $f ]] || return 0
    local pid
    pid=$(<"$f")
    if kill -0 "$pid" 2>/dev/null; then echo "$pid"; else rm -f "$f"; fi
}

port_busy() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

start_one() {
    local name=$1
    shift
    if [[ -n $(pid_of "$name") ]]; then
        say "$name: already running (pid $(pid_of "$name"))"
        return
    fi
    # a new session: `down` stops the service with everything it started; run_service.py
    # gives it back the SIGINT/SIGTERM a background job inherits ignored
    (cd "$ROOT" && exec setsid "$BIN/python" "$ROOT/scripts/run_service.py" "$@" \
        >>"$LOGS/$name.log" 2>&1 </dev/null) &
    echo $! >"$RUN_DIR/$name.pid"
    say "$name: started (pid $!, log $LOGS/$name.log)"
}

health_json() {
    "$BIN/python" - "$HOST" "$API_PORT" <<'EOF'
import json, sys, urllib.request, urllib.error
host, port = sys.argv[1], sys.argv[2]
try:
    with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=5) as r:
        print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.read().decode())
except OSError:
    print("{}")
EOF
}

healthy() { # the API answers and every check is ok
    health_json | "$BIN/python" -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d.get("status")=="ok" else 1)'
}

up() {
    [[ -x $BIN/dagster-webserver ]] || die "no venv at $BIN: run \`make venv\` first (make up does)"
    mkdir -p "$DAGSTER_HOME" "$RUN_DIR" "$LOGS" "$TIKTOK_DATA/uploads"
    if [[ ! -f $DAGSTER_HOME/dagster.yaml ]]; then
        case $INSTANCE in
            sqlite) cp "$ROOT/dagster_home/dagster.yaml" "$DAGSTER_HOME/dagster.yaml" ;;
            postgres) cp "$ROOT/dagster_home/dagster.postgres.yaml" "$DAGSTER_HOME/dagster.yaml" ;;
            *) die "TIKTOK_INSTANCE must be sqlite or postgres, not $INSTANCE" ;;
        esac
    elif [[ $INSTANCE == postgres ]] && ! grep -q postgres "$DAGSTER_HOME/dagster.yaml"; then
        die "$DAGSTER_HOME/dagster.yaml is not a PostgreSQL instance; use another DAGSTER_HOME"
    fi
    # the UI's first-visit "join the community" pop-up (it asks for an email address) is
    # marked seen, the way Dagster records it, unless TIKTOK_DAGSTER_WELCOME=1
    if [[ ${TIKTOK_DAGSTER_WELCOME:-0} != 1 && ! -f $DAGSTER_HOME/.nux/nux.yaml ]]; then
        mkdir -p "$DAGSTER_HOME/.nux" && echo "seen: 1" >"$DAGSTER_HOME/.nux/nux.yaml"
    fi
    for pair in "webserver:$UI_PORT" "api:$API_PORT"; do
        local name=${pair%%:*} port=${pair##*:}
        if [[ -z $(pid_of "$name") ]] && port_busy "$HOST" "$port"; then
            die "port $port on $HOST is taken by another program; set $([[ $name == api ]] && echo TIKTOK_API_PORT || echo DAGSTER_PORT)"
        fi
    done
    # the storage and the gpu pool, once, under a lock, before three processes open them
    (cd "$ROOT" && "$BIN/python" -c 'from tiktok_assets.instance import init_instance; init_instance()') \
        || die "could not open the Dagster instance in $DAGSTER_HOME"
    start_one webserver "$BIN/dagster-webserver" -w workspace.yaml -h "$HOST" -p "$UI_PORT"
    start_one daemon "$BIN/dagster-daemon" run -w workspace.yaml
    start_one api "$BIN/tiktok-analyzer" serve --host "$HOST" --port "$API_PORT"
    say "waiting for the UI, the daemon's heartbeat and the API (up to ${TIMEOUT} s) ..."
    local t=0
    until healthy; do
        for name in "${SERVICES[@]}"; do
            [[ -n $(pid_of "$name") ]] || {
                tail -n 30 "$LOGS/$name.log" >&2 || true
                die "$name exited; see $LOGS/$name.log"
            }
        done
        ((t += 2)) && ((t <= TIMEOUT)) || {
            health_json >&2
            die "not healthy after ${TIMEOUT} s; logs in $LOGS"
        }
        sleep 2
    done
    cat <<EOF

up: instance $DAGSTER_HOME ($INSTANCE), data $TIKTOK_DATA
  Dagster UI   http://$HOST:$UI_PORT        (asset graph, runs, backfills, the upload sensor)
  REST API     http://$HOST:$API_PORT/docs   (OpenAPI; GET /health)

  analyze a file:  cp clip.mp4 $TIKTOK_DATA/uploads/
              or:  curl -s -XPOST $HOST:$API_PORT/analyze -H 'Content-Type: application/json' \\
                        -d '{"video_path": "'\$PWD'/clip.mp4"}'
  follow it:       tiktok-analyzer status   |   logs: $LOGS
  stop:            make down
EOF
}

down() {
    local any=0
    for name in api daemon webserver; do
        local pid
        pid=$(pid_of "$name")
        [[ -n $pid ]] || continue
        any=1
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            say "$name: killed (did not stop in 30 s)"
        else
            say "$name: stopped"
        fi
        rm -f "$RUN_DIR/$name.pid"
    done
    ((any)) || say "nothing was running (instance $DAGSTER_HOME)"
}

status() {
    for name in "${SERVICES[@]}"; do
        local pid
        pid=$(pid_of "$name")
        if [[ -n $pid ]]; then say "$name: running (pid $pid)"; else say "$name: stopped"; fi
    done
    health_json
}

case ${1:-} in
    up) up ;;
    down) down ;;
    status) status ;;
    *) die "usage: $0 up|down|status" ;;
esac
