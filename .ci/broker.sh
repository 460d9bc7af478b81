# Sourced by .ci/run: how CI stops and resets this machine's own RabbitMQ node, and nothing
# else. Other nodes may run here (a fault test's node on its own ports, another checkout's):
# no process is ever chosen by its name, only by the pid the node itself wrote down.
# tests/unit/test_ci_broker.py runs these functions against a fake node.

# The node's name and files, as rabbitmq-server resolves them: the environment first, then
# rabbitmq-env.conf (where NODENAME=rabbit@localhost is set on the project machines).
rabbit_env_conf() { echo "${RABBITMQ_CONF_ENV_FILE:-/etc/rabbitmq/rabbitmq-env.conf}"; }

rabbit_nodename() {
  if [ -n "${RABBITMQ_NODENAME:-}" ]; then echo "$RABBITMQ_NODENAME"; return; fi
  local conf configured
  conf="$(rabbit_env_conf)"
  configured="$(sed -n 's/^[[:space:]]*NODENAME=//p' "$conf" 2>/dev/null | tail -n 1 | tr -d "\"'")"
  echo "${configured:-rabbit@$(hostname -s)}"
}

rabbit_mnesia_base() { echo "${RABBITMQ_MNESIA_BASE:-/var/lib/rabbitmq/mnesia}"; }

rabbit_pid_file() { echo "${RABBITMQ_PID_FILE:-$(rabbit_mnesia_base)/$(rabbit_nodename).pid}"; }

# The pid in the node's pid file, if that process is still an Erlang VM (a stale file's pid
# may since belong to anything else); nothing otherwise.
rabbit_pid() {
  local file pid
  file="$(rabbit_pid_file)"
  [ -r "$file" ] || return 1
  pid="$(tr -dc '0-9' < "$file")"
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] || return 1
  case "$(cat "/proc/$pid/comm")" in
    beam*) echo "$pid" ;;
    *) return 1 ;;
  esac
}

# Stop this machine's node: `rabbitmqctl stop` while it still answers, else TERM then KILL
# to the pid in its pid file. Returns non-zero when there was no such node to stop.
stop_local_broker() {
  local node pid
  node="$(rabbit_nodename)"
  if timeout 20 rabbitmqctl -n "$node" stop "$(rabbit_pid_file)" >/dev/null 2>&1; then
    return 0
  fi
  if ! pid="$(rabbit_pid)"; then
    echo "no running node $node per $(rabbit_pid_file): nothing stopped" >&2
    return 1
  fi
  echo "stopping RabbitMQ node $node, pid $pid (from $(rabbit_pid_file))" >&2
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 10); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
  echo "pid $pid did not exit" >&2
  return 1
}

# Remove the state of this machine's node only: its database directory and its own
# `<node>-*` siblings (plugins, feature flags) and pid file; other nodes' stay.
reset_local_broker_state() {
  local base node
  base="$(rabbit_mnesia_base)"
  node="$(rabbit_nodename)"
  [ -n "$node" ] && [ -d "$base" ] || return 1
  rm -rf -- "${base:?}/$node" "$base/$node"-* "$base/$node.pid"
}
