#!/usr/bin/env bash
# Renders the kessai Helm chart and validates it, on a machine without helm or a cluster:
#   bash helm/test.sh
# - renders with helm/render (Go text/template + sprig + Helm's functions and objects, built here
#   from Debian's Go packages), for the default values (plus the least they need), the
#   production values (ci/production-values.yaml) and sandbox mode;
# - checks the merged values against values.schema.json, every manifest with kubernetes-validate
#   (strict) against Kubernetes 1.30 (the chart's floor) and the newest version it knows, the CRDs
#   structurally, and the chart's promises (helm/check_manifests.py);
# - yamllints the values files and the rendered manifests;
# - checks that bad values fail: required secrets, forbidden overrides, schema violations;
# - runs `helm lint` and `helm template` too when a helm binary is on PATH.
# Installs what it needs (Debian packages, PyPI packages). Exits non-zero on any failure.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CHART="$HERE/kessai"
RELEASE=kessai
NAMESPACE=payments
KUBE_FLOOR=1.30.0 # Chart.yaml kubeVersion: the native preStop sleep handler needs 1.30
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
step() { printf '\n==> %s\n' "$*"; }
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }

step "tools"
apt_packages=()
command -v go >/dev/null 2>&1 || apt_packages+=(golang-go)
[ -d /usr/share/gocode/src/github.com/Masterminds/sprig ] || apt_packages+=(golang-github-masterminds-sprig-dev)
[ -d /usr/share/gocode/src/gopkg.in/yaml.v2 ] || apt_packages+=(golang-gopkg-yaml.v2-dev)
if [ ${#apt_packages[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  echo "installing ${apt_packages[*]}"
  if ! $sudo apt-get install -y --no-install-recommends "${apt_packages[@]}"; then
    $sudo apt-get update
    $sudo apt-get install -y --no-install-recommends "${apt_packages[@]}"
  fi
fi
# The Python tools live in a virtual environment under target/, never in
# the system's site-packages; it is made again only when the pins change.
VENV="$HERE/../target/helm-venv"
PINS="kubernetes-validate==1.37.0 yamllint==1.38.0 pyyaml==6.0.3"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/kessai-pins" 2>/dev/null)" != "$PINS" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  # shellcheck disable=SC2086 # the pins are words
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $PINS
  echo "$PINS" >"$VENV/kessai-pins"
fi
export PATH="$VENV/bin:$PATH"
echo "Python tools: $VENV ($PINS)"
go version

step "build the renderer (GOPATH mode, Debian's sprig)"
gopath() { (cd "$HERE/render" && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= "$@"); }
gopath go build -o "$WORK/render" .
echo "built $WORK/render"
if gopath go vet . && [ -z "$(gopath gofmt -l .)" ]; then
  ok "helm/render: go vet, gofmt"
else
  bad "helm/render: go vet or gofmt ($(gopath gofmt -l .))"
fi

# render NAME VALUES_FILE [renderer args...]: writes NAME.yaml, NAME.values.json, NAME.notes.txt
# and NAME.input.yaml in $WORK.
render() {
  local name=$1 values=$2
  shift 2
  cp "$values" "$WORK/$name.input.yaml"
  "$WORK/render" --chart "$CHART" --name "$RELEASE" --namespace "$NAMESPACE" --kube-version "$KUBE_FLOOR" \
    -f "$values" --values-out "$WORK/$name.values.json" --notes-out "$WORK/$name.notes.txt" "$@" \
    >"$WORK/$name.yaml" 2>"$WORK/$name.err"
}

step "render"
cat >"$WORK/sandbox-values.yaml" <<'EOF'
sandbox:
  enabled: true
metrics:
  podAnnotations: true
secrets:
  databaseUrl: postgres://kessai:sandbox-only-password@postgres:5432/kessai
EOF
# gRPC over mutual TLS: the probes ask the plaintext health port; the console speaks HTTPS.
cat >"$WORK/tls-values.yaml" <<'EOF'
existingSecret: kessai-secrets
tls:
  enabled: true
  secretName: kessai-grpc-tls
  clientCaSecretName: kessai-client-ca
console:
  enabled: true
EOF
renders=(default production sandbox tls)
render_ok=true
for name in "${renders[@]}"; do
  case $name in
    default) values="$CHART/ci/default-values.yaml" ;;
    production) values="$CHART/ci/production-values.yaml" ;;
    sandbox) values="$WORK/sandbox-values.yaml" ;;
    tls) values="$WORK/tls-values.yaml" ;;
  esac
  if render "$name" "$values" --api-versions monitoring.coreos.com/v1 --api-versions gateway.networking.k8s.io/v1; then
    ok "render $name ($(grep -c '^kind:' "$WORK/$name.yaml") manifests: $(grep '^kind:' "$WORK/$name.yaml" | awk '{print $2}' | sort | uniq -c | awk '{printf "%s%s ", $2, ($1 > 1 ? "×" $1 : "")}'))"
  else
    bad "render $name: $(cat "$WORK/$name.err")"
    render_ok=false
  fi
done
# An upgrade renders the same manifests.
if render upgrade "$CHART/ci/production-values.yaml" --is-upgrade && diff -q "$WORK/production.yaml" "$WORK/upgrade.yaml" >/dev/null; then
  ok "render production as an upgrade: same manifests"
else
  bad "render production as an upgrade differs or fails: $(cat "$WORK/upgrade.err")"
fi

step "check manifests (schema, kubernetes-validate, chart assertions)"
if $render_ok; then
  args=()
  for name in "${renders[@]}"; do args+=(--render "$name"); done
  if python3 "$HERE/check_manifests.py" check --dir "$WORK" --schema "$CHART/values.schema.json" "${args[@]}" \
    --kube-version "$KUBE_FLOOR" --kube-version latest; then
    ok "check_manifests.py"
  else
    bad "check_manifests.py"
  fi
else
  bad "check_manifests.py not run: a render failed"
fi

step "yamllint"
if (cd "$HERE" && yamllint --strict -c .yamllint .yamllint kessai/values.yaml kessai/Chart.yaml kessai/ci \
  "$WORK/default.yaml" "$WORK/production.yaml" "$WORK/sandbox.yaml" "$WORK/tls.yaml"); then
  ok "yamllint: values files and rendered manifests"
else
  bad "yamllint"
fi

step "bad values are refused"
# expect_render_error NAME MESSAGE VALUES_YAML [renderer args...]
expect_render_error() {
  local name=$1 message=$2 values=$3
  shift 3
  printf '%s\n' "$values" >"$WORK/neg-$name.yaml"
  if "$WORK/render" --chart "$CHART" --name "$RELEASE" --namespace "$NAMESPACE" --kube-version "$KUBE_FLOOR" \
    -f "$WORK/neg-$name.yaml" "$@" >/dev/null 2>"$WORK/neg-$name.err"; then
    bad "$name: rendered, expected an error containing: $message"
  elif grep -qF -- "$message" "$WORK/neg-$name.err"; then
    ok "$name: $(head -c 300 "$WORK/neg-$name.err")"
  else
    bad "$name: expected an error containing '$message', got: $(cat "$WORK/neg-$name.err")"
  fi
}
expect_render_error no-database-url "secrets.databaseUrl is required" \
  "secrets: {fingerprintKey: test-fingerprint-key-0123456789, payjpSecretKey: sk_test_x}"
expect_render_error no-values-at-all "execution error at (kessai/templates/" "{}"
expect_render_error no-fingerprint-key "secrets.fingerprintKey is required outside sandbox mode" \
  "secrets: {databaseUrl: 'postgres://u:p@db:5432/k', payjpSecretKey: sk_test_x}"
expect_render_error test-key-in-live-mode "secrets.payjpSecretKey is a sk_test_… key but config.providerMode is live" \
  "secrets: {databaseUrl: 'postgres://u:p@db:5432/k', fingerprintKey: test-fingerprint-key-0123456789, payjpSecretKey: sk_test_hush}"
expect_render_error live-key-in-test-mode "secrets.smartpaySecretKey is a sk_live_… key but config.providerMode is test" \
  "{config: {providerMode: test}, secrets: {databaseUrl: 'postgres://u:p@db:5432/k', fingerprintKey: test-fingerprint-key-0123456789, smartpaySecretKey: sk_live_hush}}"
expect_render_error no-provider-credential "needs at least one provider credential" \
  "secrets: {databaseUrl: 'postgres://u:p@db:5432/k', fingerprintKey: test-fingerprint-key-0123456789}"
expect_render_error extra-env-sandbox "extraEnv must not set KESSAI_SANDBOX" \
  "{existingSecret: s, extraEnv: [{name: KESSAI_SANDBOX, value: 'true'}]}"
expect_render_error extra-env-secret "extraEnv must not set KESSAI_DATABASE_URL" \
  "{existingSecret: s, extraEnv: [{name: KESSAI_DATABASE_URL, value: 'postgres://u:p@h/d'}]}"
expect_render_error network-policy-without-database "networkPolicy.egress.database.to is required" \
  "{existingSecret: s, networkPolicy: {enabled: true}}"
expect_render_error grpcroute-without-parent "grpcRoute.parentRefs is required" \
  "{existingSecret: s, grpcRoute: {enabled: true}}"
expect_render_error ingress-without-host "ingress.host is required" \
  "{existingSecret: s, ingress: {enabled: true}}"
expect_render_error network-policy-without-collector "networkPolicy.egress.otlp.to is required" \
  "{existingSecret: s, tracing: {otlp: {endpoint: 'http://collector:4318'}}, networkPolicy: {enabled: true, egress: {database: {to: [{ipBlock: {cidr: 10.0.0.0/24}}]}}}}"
expect_render_error extra-env-otlp-headers "extraEnv must not set OTEL_EXPORTER_OTLP_HEADERS" \
  "{existingSecret: s, extraEnv: [{name: OTEL_EXPORTER_OTLP_HEADERS, value: 'api-key=x'}]}"
expect_render_error tls-without-secret "tls.secretName is required when tls.enabled" \
  "{existingSecret: s, tls: {enabled: true}}"
expect_render_error console-in-plaintext "console.enabled needs tls.enabled or console.allowPlaintext" \
  "{existingSecret: s, console: {enabled: true}}"
expect_render_error console-ingress-without-host "console.ingress.host is required" \
  "{existingSecret: s, console: {enabled: true, allowPlaintext: true, ingress: {enabled: true}}}"
expect_render_error kubernetes-too-old "chart requires kubeVersion" "{existingSecret: s}" --kube-version 1.29.0

# expect_schema_error NAME MESSAGE VALUES_YAML: the merged values must fail values.schema.json
# (helm install/upgrade/template/lint validate them the same way).
expect_schema_error() {
  local name=$1 message=$2 values=$3
  printf '%s\n' "$values" >"$WORK/schema-$name.yaml"
  "$WORK/render" --chart "$CHART" -f "$WORK/schema-$name.yaml" --values-out "$WORK/schema-$name.json" \
    >/dev/null 2>&1 || true
  if [ -s "$WORK/schema-$name.json" ] &&
    out=$(python3 "$HERE/check_manifests.py" schema --schema "$CHART/values.schema.json" \
      --values "$WORK/schema-$name.json" --expect-error "$message"); then
    ok "$name: $out"
  else
    bad "$name: ${out:-no merged values written}"
  fi
}
expect_schema_error sandbox-not-boolean "is not of type 'boolean'" "{existingSecret: s, sandbox: {enabled: 'yes'}}"
expect_schema_error provider-mode-enum "is not one of ['live', 'test']" "{existingSecret: s, config: {providerMode: production}}"
expect_schema_error log-format-enum "is not one of ['json', 'text']" "{existingSecret: s, log: {format: xml}}"
expect_schema_error sqlite-database-url "does not match" "secrets: {databaseUrl: 'sqlite://kessai.sqlite'}"
expect_schema_error short-fingerprint-key "does not match" "secrets: {fingerprintKey: short}"
expect_schema_error zero-grace-margin "less than the minimum of 1" "{existingSecret: s, shutdown: {graceMarginSeconds: 0}}"
expect_schema_error unknown-key "Additional properties are not allowed" "{existingSecret: s, replicas: 3}"
expect_schema_error otlp-protocol-enum "is not one of ['http/protobuf', 'grpc']" \
  "{existingSecret: s, tracing: {otlp: {endpoint: 'http://collector:4318', protocol: http/json}}}"
expect_schema_error otlp-endpoint-url "does not match" "{existingSecret: s, tracing: {otlp: {endpoint: 'collector:4318'}}}"
expect_schema_error bad-service-type "is not one of" "{existingSecret: s, service: {type: ExternalName}}"
expect_schema_error console-session-hours "is greater than the maximum of 168" \
  "{existingSecret: s, console: {enabled: true, allowPlaintext: true, sessionHours: 169}}"

step "helm lint / helm template"
if command -v helm >/dev/null 2>&1; then
  for values in "$CHART/ci/default-values.yaml" "$CHART/ci/production-values.yaml"; do
    if helm lint --strict "$CHART" -f "$values" --kube-version "$KUBE_FLOOR"; then
      ok "helm lint $(basename "$values")"
    else
      bad "helm lint $(basename "$values")"
    fi
  done
  if helm template "$RELEASE" "$CHART" -n "$NAMESPACE" -f "$CHART/ci/production-values.yaml" \
    --kube-version "$KUBE_FLOOR" >"$WORK/helm-production.yaml" &&
    python3 - "$WORK/production.yaml" "$WORK/helm-production.yaml" <<'EOF'; then
import sys, yaml
def docs(p):
    return sorted((yaml.safe_dump(d, sort_keys=True) for d in yaml.safe_load_all(open(p)) if d), key=str)
sys.exit(0 if docs(sys.argv[1]) == docs(sys.argv[2]) else 1)
EOF
    ok "helm template renders what helm/render renders"
  else
    bad "helm template differs from helm/render"
  fi
else
  echo "helm is not installed: helm lint and helm template skipped"
fi

step "summary"
echo "helm chart: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
