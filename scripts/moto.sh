#!/usr/bin/env bash
# Local SQS-compatible servers (moto_server) on 127.0.0.1, for tests and the demo.
#
#   moto.sh start DIR   start two servers on free ports; writes DIR/env
#   moto.sh stop DIR    stop them
#
# DIR/env exports:
#   LOGINVAULT_TEST_SQS_ENDPOINT       plain moto (accepts any signature)
#   LOGINVAULT_TEST_SQS_AUTH_ENDPOINT  moto that verifies SigV4 signatures
#   LOGINVAULT_TEST_SQS_AUTH_ACCESS_KEY_ID / _SECRET_ACCESS_KEY
#                                      an IAM key that moto knows (AdministratorAccess)
# The verifying server is started with INITIAL_NO_AUTH_ACTION_COUNT=3: the three
# unauthenticated calls are spent here on IAM CreateUser, CreateAccessKey and
# AttachUserPolicy; every later request must carry a valid signature.
set -euo pipefail

cmd=${1:?usage: moto.sh start|stop DIR}
dir=${2:?usage: moto.sh start|stop DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_up() { # port pidfile
  for _ in $(seq 1 100); do
    if python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; then return 0; fi
    kill -0 "$(cat "$2")" 2>/dev/null || { echo "moto_server exited; see $dir/*.log" >&2; return 1; }
    sleep 0.1
  done
  echo "moto_server did not start on port $1" >&2; return 1
}

start_one() { # name port [env...]
  local name=$1 port=$2; shift 2
  if [ -f "$dir/$name.pid" ] && kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; then return 0; fi
  env "$@" setsid moto_server -H 127.0.0.1 -p "$port" >"$dir/$name.log" 2>&1 < /dev/null &
  echo $! > "$dir/$name.pid"
  wait_up "$port" "$dir/$name.pid"
}

start() {
  if [ -f "$dir/env" ] && [ -f "$dir/plain.pid" ] && kill -0 "$(cat "$dir/plain.pid")" 2>/dev/null; then return 0; fi
  local p1 p2; p1=$(free_port); p2=$(free_port)
  start_one plain "$p1"
  start_one auth "$p2" INITIAL_NO_AUTH_ACTION_COUNT=3 MOTO_IAM_LOAD_MANAGED_POLICIES=true
  trap "stop" ERR
  local creds
  creds=$(python3 - "$p2" <<'PY'
import sys, boto3
url = f"http://127.0.0.1:{sys.argv[1]}"
iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1",
                   aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
iam.create_user(UserName="loginvault-test")
key = iam.create_access_key(UserName="loginvault-test")["AccessKey"]
iam.attach_user_policy(UserName="loginvault-test",
                       PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
print(key["AccessKeyId"], key["SecretAccessKey"])
PY
)
  set -- $creds
  cat > "$dir/env" <<ENV
export LOGINVAULT_TEST_SQS_ENDPOINT=http://127.0.0.1:$p1
export LOGINVAULT_TEST_SQS_AUTH_ENDPOINT=http://127.0.0.1:$p2
export LOGINVAULT_TEST_SQS_AUTH_ACCESS_KEY_ID=$1
export LOGINVAULT_TEST_SQS_AUTH_SECRET_ACCESS_KEY=$2
ENV
  chmod 600 "$dir/env"
}

stop() {
  for name in plain auth; do
    if [ -f "$dir/$name.pid" ]; then
      local pid; pid=$(cat "$dir/$name.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/$name.pid"
    fi
  done
  rm -f "$dir/env"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: moto.sh start|stop DIR" >&2; exit 2 ;;
esac
