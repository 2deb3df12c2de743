{{/*
Names and labels.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "kessai.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The resource name prefix: fullnameOverride, or "<release>-<name>" (just "<release>" when it
already contains the name). Kept to 55 characters so that suffixed names such as
"<fullname>-migrate" stay within the 63-character limit of names and labels. */}}
{{- define "kessai.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 55 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<chart>-<version>" for the helm.sh/chart label. */}}
{{- define "kessai.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "kessai.labels" -}}
helm.sh/chart: {{ include "kessai.chart" . }}
{{ include "kessai.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kessai
{{- end }}

{{/* Labels identifying the release's pods (server and migration alike). */}}
{{- define "kessai.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kessai.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels selecting the serving pods only. The component label keeps the migration Job's pod
(which has no readiness probe, so would count as ready) out of the Service, the PDB and the
NetworkPolicy of the server. */}}
{{- define "kessai.serverSelectorLabels" -}}
{{ include "kessai.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{/* Labels selecting the migration Job's pods. */}}
{{- define "kessai.migrationSelectorLabels" -}}
{{ include "kessai.selectorLabels" . }}
app.kubernetes.io/component: migration
{{- end }}

{{/* The server's ServiceAccount. */}}
{{- define "kessai.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kessai.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The migration Job's ServiceAccount: a hook ServiceAccount when the chart creates accounts
(the release's own one does not exist yet at pre-install), else the existing account. */}}
{{- define "kessai.migrationServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- printf "%s-migrate" (include "kessai.fullname" .) }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: repository:tag, or repository:tag@digest. */}}
{{- define "kessai.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Configuration.
*/}}

{{/* The plain settings, as a YAML map of variable name to string value: the data of the ConfigMap,
and the literal env of the migration Job. Numbers go through `int` so that large values never print
in float notation. */}}
{{- define "kessai.configData" -}}
KESSAI_LISTEN_ADDR: {{ printf "0.0.0.0:%d" (int .Values.ports.grpc) | quote }}
KESSAI_METRICS_ADDR: {{ printf "0.0.0.0:%d" (int .Values.ports.metrics) | quote }}
KESSAI_WEBHOOK_ADDR: {{ printf "0.0.0.0:%d" (int .Values.ports.webhooks) | quote }}
KESSAI_LOG_FORMAT: {{ .Values.log.format | quote }}
KESSAI_LOG: {{ .Values.log.filter | quote }}
KESSAI_DRAIN_DELAY_SECS: {{ int .Values.shutdown.drainDelaySeconds | quote }}
KESSAI_SHUTDOWN_TIMEOUT_SECS: {{ int .Values.shutdown.timeoutSeconds | quote }}
KESSAI_DATABASE_MAX_CONNECTIONS: {{ int .Values.config.databaseMaxConnections | quote }}
KESSAI_PROVIDER_TIMEOUT_MS: {{ int .Values.config.providerTimeoutMs | quote }}
KESSAI_PROVIDER_MAX_ATTEMPTS: {{ int .Values.config.providerMaxAttempts | quote }}
KESSAI_IDEMPOTENCY_TTL_HOURS: {{ int .Values.config.idempotencyTtlHours | quote }}
KESSAI_ACTION_TTL_MINUTES: {{ int .Values.config.actionTtlMinutes | quote }}
KESSAI_SMARTPAY_WEBHOOK_TOLERANCE_SECS: {{ int .Values.config.smartpayWebhookToleranceSeconds | quote }}
{{- if not .Values.sandbox.enabled }}
KESSAI_PROVIDER_MODE: {{ .Values.config.providerMode | quote }}
{{- end }}
{{- if .Values.config.webhookPublicUrl }}
KESSAI_WEBHOOK_PUBLIC_URL: {{ .Values.config.webhookPublicUrl | quote }}
{{- else if .Values.ingress.enabled }}
KESSAI_WEBHOOK_PUBLIC_URL: {{ printf "https://%s" .Values.ingress.host | quote }}
{{- end }}
{{- /* The migration Job migrates; replicas only check the schema is current. */}}
KESSAI_MIGRATE_ON_START: {{ ternary "false" "true" (eq (toString .Values.migrations.enabled) "true") | quote }}
{{- with .Values.config.providerBaseUrls.payjp }}
KESSAI_PAYJP_BASE_URL: {{ . | quote }}
{{- end }}
{{- with .Values.config.providerBaseUrls.smartpay }}
KESSAI_SMARTPAY_BASE_URL: {{ . | quote }}
{{- end }}
{{- with .Values.config.providerBaseUrls.paymentoptions }}
KESSAI_PAYMENTOPTIONS_BASE_URL: {{ . | quote }}
{{- end }}
{{- if .Values.tls.enabled }}
KESSAI_TLS_CERT_FILE: "/etc/kessai/tls/tls.crt"
KESSAI_TLS_KEY_FILE: "/etc/kessai/tls/tls.key"
{{- if .Values.tls.clientCaSecretName }}
KESSAI_TLS_CLIENT_CA_FILE: "/etc/kessai/client-ca/ca.crt"
{{- end }}
{{- /* The probes cannot speak TLS with a client certificate: they ask here. */}}
KESSAI_HEALTH_ADDR: {{ printf "0.0.0.0:%d" (int .Values.ports.health) | quote }}
{{- end }}
{{- /* The operator console; "off" otherwise, so that sandbox mode does not open it either. */}}
{{- if .Values.console.enabled }}
KESSAI_CONSOLE_ADDR: {{ printf "0.0.0.0:%d" (int .Values.ports.console) | quote }}
KESSAI_CONSOLE_ALLOW_PLAINTEXT: {{ ternary "true" "false" (eq (toString .Values.console.allowPlaintext) "true") | quote }}
KESSAI_CONSOLE_SESSION_HOURS: {{ int .Values.console.sessionHours | quote }}
KESSAI_CONSOLE_MAX_CONNECTIONS: {{ int .Values.console.maxConnections | quote }}
{{- else }}
KESSAI_CONSOLE_ADDR: "off"
{{- end }}
{{- with .Values.tracing.otlp.endpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ . | quote }}
OTEL_EXPORTER_OTLP_PROTOCOL: {{ $.Values.tracing.otlp.protocol | quote }}
OTEL_SERVICE_NAME: {{ $.Values.tracing.serviceName | quote }}
{{- with $.Values.tracing.resourceAttributes }}
OTEL_RESOURCE_ATTRIBUTES: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* The secret variables: the key in the Secret (= the variable name), the `secrets.*` value it
comes from when the chart creates the Secret, and whether the pod may start without it. */}}
{{- define "kessai.secretKeys" -}}
KESSAI_DATABASE_URL: {value: databaseUrl, optional: false}
KESSAI_FINGERPRINT_KEY: {value: fingerprintKey, optional: {{ .Values.sandbox.enabled }}}
KESSAI_CALLERS: {value: callers, optional: true}
KESSAI_PAYJP_SECRET_KEY: {value: payjpSecretKey, optional: true}
KESSAI_SMARTPAY_SECRET_KEY: {value: smartpaySecretKey, optional: true}
KESSAI_PAYMENTOPTIONS_API_KEY: {value: paymentoptionsApiKey, optional: true}
KESSAI_PAYMENTOPTIONS_MERCHANT_ID: {value: paymentoptionsMerchantId, optional: true}
KESSAI_SMARTPAY_WEBHOOK_SECRET: {value: smartpayWebhookSecret, optional: true}
KESSAI_PAYJP_WEBHOOK_TOKEN: {value: payjpWebhookToken, optional: true}
OTEL_EXPORTER_OTLP_HEADERS: {value: otlpHeaders, optional: true}
{{- end }}

{{/* The Secret the server reads. */}}
{{- define "kessai.secretName" -}}
{{- .Values.existingSecret | default (include "kessai.fullname" .) }}
{{- end }}

{{/* The Secret the migration Job reads: the existing Secret, or the chart's hook copy (see
migration-job.yaml for why it is a copy). */}}
{{- define "kessai.migrationSecretName" -}}
{{- .Values.existingSecret | default (printf "%s-migrate" (include "kessai.fullname" .)) }}
{{- end }}

{{/* The data of a Secret the chart creates from `secrets`: base64 values of the keys set. Fails
with a clear message when a required value is missing. */}}
{{- define "kessai.secretData" -}}
{{- $secrets := .Values.secrets }}
{{- $_ := required "secrets.databaseUrl is required (a postgres:// URL) unless existingSecret names a Secret holding KESSAI_DATABASE_URL" $secrets.databaseUrl }}
{{- if not .Values.sandbox.enabled }}
{{- $_ := required "secrets.fingerprintKey is required outside sandbox mode (≥ 16 random characters, e.g. `openssl rand -base64 32`) unless existingSecret is set" $secrets.fingerprintKey }}
{{- if not (or $secrets.payjpSecretKey $secrets.smartpaySecretKey $secrets.paymentoptionsApiKey) }}
{{- fail "outside sandbox mode kessai needs at least one provider credential: set secrets.payjpSecretKey, secrets.smartpaySecretKey, or secrets.paymentoptionsApiKey with secrets.paymentoptionsMerchantId (or use existingSecret)" }}
{{- end }}
{{- /* The keys' environment must be config.providerMode's, as kessai checks at start: said here,
before a pod crash-loops. Only the prefix is named, never the key. */}}
{{- $other := ternary "sk_test_" "sk_live_" (eq .Values.config.providerMode "live") }}
{{- range $key := list "payjpSecretKey" "smartpaySecretKey" }}
{{- if hasPrefix $other (toString (index $secrets $key)) }}
{{- fail (printf "secrets.%s is a %s… key but config.providerMode is %s: set the key for that environment, or config.providerMode" $key $other $.Values.config.providerMode) }}
{{- end }}
{{- end }}
{{- end }}
{{- $data := dict }}
{{- range $env, $key := include "kessai.secretKeys" . | fromYaml }}
{{- with index $secrets $key.value }}
{{- $_ := set $data $env (b64enc .) }}
{{- end }}
{{- end }}
{{- toYaml $data }}
{{- end }}

{{/* The container env shared by the server and the migration Job. Arguments: a dict with
"root" (the top context), "secretName" (the Secret to reference) and "inlineConfig" (true: put the
plain settings in as literal values, for the migration Job, which runs before the ConfigMap
exists; false: the server reads them from the ConfigMap with envFrom). KESSAI_SANDBOX is always
set, explicitly. Secret values are only ever referenced, never inlined. */}}
{{- define "kessai.env" -}}
{{- $root := .root -}}
- name: KESSAI_SANDBOX
  value: {{ ternary "true" "false" (eq (toString $root.Values.sandbox.enabled) "true") | quote }}
{{- if .inlineConfig }}
{{- range $name, $value := include "kessai.configData" $root | fromYaml }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}
{{- range $name, $key := include "kessai.secretKeys" $root | fromYaml }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $.secretName }}
      key: {{ $name }}
      optional: {{ $key.optional }}
{{- end }}
{{- with $root.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The TLS Secrets' volumes and mounts (server and migration Job alike), with tls.enabled. */}}
{{- define "kessai.tlsVolumes" -}}
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ .Values.tls.secretName }}
    items:
      - {key: tls.crt, path: tls.crt}
      - {key: tls.key, path: tls.key}
{{- with .Values.tls.clientCaSecretName }}
- name: client-ca
  secret:
    secretName: {{ . }}
    items:
      - {key: ca.crt, path: ca.crt}
{{- end }}
{{- end }}
{{- end }}

{{- define "kessai.tlsVolumeMounts" -}}
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: /etc/kessai/tls
  readOnly: true
{{- if .Values.tls.clientCaSecretName }}
- name: client-ca
  mountPath: /etc/kessai/client-ca
  readOnly: true
{{- end }}
{{- end }}
{{- end }}

{{/* The port the probes ask: the plaintext health port with TLS on, else the gRPC port. */}}
{{- define "kessai.probePort" -}}
{{- int (ternary .Values.ports.health .Values.ports.grpc (eq (toString .Values.tls.enabled) "true")) }}
{{- end }}

{{/* terminationGracePeriodSeconds: always more than preStop sleep + drain delay + shutdown
timeout (the margin is at least 1, enforced here and by the schema). */}}
{{- define "kessai.terminationGracePeriodSeconds" -}}
{{- $s := .Values.shutdown }}
{{- if lt (int $s.graceMarginSeconds) 1 }}
{{- fail "shutdown.graceMarginSeconds must be at least 1 so that terminationGracePeriodSeconds exceeds preStop + drain + shutdown timeout" }}
{{- end }}
{{- add (int $s.preStopSleepSeconds) (int $s.drainDelaySeconds) (int $s.timeoutSeconds) (int $s.graceMarginSeconds) }}
{{- end }}

{{/*
Security. Meets the Pod Security Standards "restricted" profile. UID/GID 65532 is the distroless
image's "nonroot" user.
*/}}

{{- define "kessai.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "kessai.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Checks of values that the schema cannot express. Included by every workload template.
*/}}
{{- define "kessai.validate" -}}
{{- $managed := list "KESSAI_SANDBOX" }}
{{- range $name, $_ := include "kessai.secretKeys" . | fromYaml }}
{{- $managed = append $managed $name }}
{{- end }}
{{- range .Values.extraEnv }}
{{- if has .name $managed }}
{{- fail (printf "extraEnv must not set %s: the chart manages it (sandbox.enabled, existingSecret / secrets.*)" .name) }}
{{- end }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- if and .Values.networkPolicy.enabled (empty .Values.networkPolicy.egress.database.to) }}
{{- fail "networkPolicy.egress.database.to is required when networkPolicy.enabled: where PostgreSQL is (an ipBlock or namespace/pod selectors); an empty list would allow every destination" }}
{{- end }}
{{- if and .Values.networkPolicy.enabled .Values.tracing.otlp.endpoint (empty .Values.networkPolicy.egress.otlp.to) }}
{{- fail "networkPolicy.egress.otlp.to is required when networkPolicy.enabled and tracing.otlp.endpoint are set: where the OTLP collector is" }}
{{- end }}
{{- if .Values.ingress.enabled }}
{{- $_ := required "ingress.host is required when ingress.enabled: the public host name the providers send webhooks to" .Values.ingress.host }}
{{- end }}
{{- if .Values.tls.enabled }}
{{- $_ := required "tls.secretName is required when tls.enabled: a kubernetes.io/tls Secret with tls.crt and tls.key" .Values.tls.secretName }}
{{- end }}
{{- if and .Values.grpcRoute.enabled (empty .Values.grpcRoute.parentRefs) }}
{{- fail "grpcRoute.parentRefs is required when grpcRoute.enabled: the Gateway(s) to attach the route to" }}
{{- end }}
{{- /* kessai refuses to start with the console beyond loopback in plaintext: said here, before
the pods crash-loop. */}}
{{- if and .Values.console.enabled (not .Values.tls.enabled) (not .Values.console.allowPlaintext) }}
{{- fail "console.enabled needs tls.enabled or console.allowPlaintext: kessai refuses to serve the console on 0.0.0.0 in plaintext (operators' tokens and sessions would cross the network in the clear) and the pods would crash-loop. Set tls.enabled (the console then speaks HTTPS), or console.allowPlaintext=true when an Ingress or proxy in front terminates TLS" }}
{{- end }}
{{- if and .Values.console.enabled .Values.console.ingress.enabled }}
{{- $_ := required "console.ingress.host is required when console.ingress.enabled: the host name operators open the console at" .Values.console.ingress.host }}
{{- end }}
{{- end }}

{{/*
NetworkPolicy egress rules shared by the server and the migration Job: DNS, and PostgreSQL.
*/}}
{{- define "kessai.networkPolicy.egressDnsAndDatabase" -}}
{{- $egress := .Values.networkPolicy.egress -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ $egress.dns.namespace }}
      {{- with $egress.dns.podSelector }}
      podSelector:
        matchLabels:
          {{- toYaml . | nindent 10 }}
      {{- end }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
- to:
    {{- toYaml $egress.database.to | nindent 4 }}
  ports:
    - port: {{ int $egress.database.port }}
      protocol: TCP
{{- end }}
