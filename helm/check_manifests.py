#!/usr/bin/env python3
"""Checks the kessai chart's rendered manifests (see helm/test.sh, which renders them).

  check_manifests.py check --dir DIR --schema values.schema.json --kube-version V [--kube-version V]...
      DIR holds, for each render NAME (default, production, sandbox): NAME.yaml (the manifests),
      NAME.values.json (the merged values), NAME.input.yaml (the -f values file) and NAME.notes.txt.
      Validates the values against the chart's JSON schema, every built-in manifest with
      kubernetes-validate (strict) for each Kubernetes version, the CRD kinds structurally, and
      asserts what the chart promises (probes, security, secrets, hooks, shutdown, ...).

  check_manifests.py schema --schema values.schema.json --values merged.json --expect-error TEXT
      Negative schema test: the values must be rejected, with TEXT in the error.

Prints one line per failed check and closes with "manifests: N passed, N failed"; exits 1 on any
failure.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

from check_tls import check_probes_and_ports, check_tls

RELEASE = "kessai"
NAMESPACE = "payments"
FULLNAME = "kessai"
UID = 65532
GRPC_PORT, METRICS_PORT, WEBHOOKS_PORT, CONSOLE_PORT = 50051, 9090, 8080, 8088
READINESS_SERVICE = "kessai.v1.PaymentService"
HOOK_EVENTS = {"pre-install", "pre-upgrade"}
# Every variable that holds a secret: never a literal value, always a secretKeyRef.
SECRET_VARS = {
    "KESSAI_DATABASE_URL",
    "KESSAI_FINGERPRINT_KEY",
    "KESSAI_CALLERS",
    "KESSAI_PAYJP_SECRET_KEY",
    "KESSAI_SMARTPAY_SECRET_KEY",
    "KESSAI_PAYMENTOPTIONS_API_KEY",
    "KESSAI_PAYMENTOPTIONS_MERCHANT_ID",
    "KESSAI_SMARTPAY_WEBHOOK_SECRET",
    "KESSAI_PAYJP_WEBHOOK_TOKEN",
    "OTEL_EXPORTER_OTLP_HEADERS",
}
REQUIRED_SECRET_VARS = {"KESSAI_DATABASE_URL", "KESSAI_FINGERPRINT_KEY"}
# Kinds without schemas in kubernetes-validate (CRDs), checked structurally instead.
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("gateway.networking.k8s.io/v1", "GRPCRoute"),
}
DURATION = re.compile(r"^([0-9]+(ms|s|m|h))+$")


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0
        self.scope = ""

    def check(self, ok: bool, what: str) -> bool:
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL [{self.scope}] {what}")
        return ok

    def equal(self, got, want, what: str) -> bool:
        return self.check(got == want, f"{what}: expected {want!r}, got {got!r}")


def load_docs(path: Path) -> list[dict]:
    with path.open() as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def hook_events(doc: dict) -> set[str]:
    value = doc.get("metadata", {}).get("annotations", {}).get("helm.sh/hook", "")
    return {e.strip() for e in value.split(",") if e.strip()}


def hook_weight(doc: dict) -> int:
    return int(doc["metadata"].get("annotations", {}).get("helm.sh/hook-weight", "0"))


def of_kind(docs: list[dict], kind: str, hooks: bool | None = None) -> list[dict]:
    out = [d for d in docs if d.get("kind") == kind]
    if hooks is not None:
        out = [d for d in out if bool(hook_events(d)) == hooks]
    return out


def env_map(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def selector_matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def validate_schema(values: dict, schema: dict) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in validator.iter_errors(values)
    ]


# --- per-object checks -------------------------------------------------------------------------


def check_k8s_schema(c: Checks, docs: list[dict], versions: list[str]) -> list[dict]:
    """kubernetes-validate, strict, for every built-in kind; returns the CRD documents."""
    crds = []
    for doc in docs:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        c.check(all(k in doc for k in ("apiVersion", "kind", "metadata")), f"{name}: apiVersion, kind, metadata")
        c.check(bool(doc.get("metadata", {}).get("name")), f"{name}: metadata.name")
        if (doc.get("apiVersion"), doc.get("kind")) in CRD_KINDS:
            crds.append(doc)
            continue
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
                c.check(True, "")
            except kubernetes_validate.SchemaNotFoundError as e:
                c.check(False, f"{name}: no Kubernetes {version} schema ({e}); unknown kind or API version")
            except kubernetes_validate.ValidationError as e:
                path = "/".join(str(p) for p in e.path)
                c.check(False, f"{name}: invalid for Kubernetes {version} at {path or '(root)'}: {e.message}")
    return crds


def check_only_keys(c: Checks, obj: dict, allowed: set[str], where: str) -> None:
    extra = set(obj) - allowed
    c.check(not extra, f"{where}: unexpected fields {sorted(extra)}")


def check_service_monitor(c: Checks, sm: dict, service: dict) -> None:
    where = f"ServiceMonitor/{sm['metadata'].get('name')}"
    check_only_keys(c, sm, {"apiVersion", "kind", "metadata", "spec"}, where)
    spec = sm.get("spec", {})
    check_only_keys(c, spec, {"selector", "namespaceSelector", "endpoints", "jobLabel"}, f"{where}.spec")
    selector = spec.get("selector", {}).get("matchLabels", {})
    c.check(bool(selector) and selector_matches(selector, service["metadata"]["labels"]),
            f"{where}: spec.selector.matchLabels selects the kessai Service")
    c.equal(spec.get("namespaceSelector", {}).get("matchNames"), [NAMESPACE], f"{where}: namespaceSelector")
    endpoints = spec.get("endpoints", [])
    c.check(isinstance(endpoints, list) and len(endpoints) == 1, f"{where}: one endpoint")
    service_ports = {p["name"] for p in service["spec"]["ports"]}
    for ep in endpoints:
        check_only_keys(c, ep, {"port", "path", "scheme", "interval", "scrapeTimeout"}, f"{where} endpoint")
        c.equal(ep.get("port"), "metrics", f"{where}: endpoint port")
        c.check(ep.get("port") in service_ports, f"{where}: endpoint port is a Service port name")
        c.equal(ep.get("path"), "/metrics", f"{where}: endpoint path")
        c.check(ep.get("scheme") in ("http", "https"), f"{where}: endpoint scheme")
        for key in ("interval", "scrapeTimeout"):
            c.check(bool(DURATION.match(str(ep.get(key, "")))), f"{where}: endpoint {key} is a duration")


def check_grpc_route(c: Checks, route: dict, service: dict) -> None:
    where = f"GRPCRoute/{route['metadata'].get('name')}"
    check_only_keys(c, route, {"apiVersion", "kind", "metadata", "spec"}, where)
    spec = route.get("spec", {})
    check_only_keys(c, spec, {"parentRefs", "hostnames", "rules"}, f"{where}.spec")
    parents = spec.get("parentRefs", [])
    c.check(isinstance(parents, list) and len(parents) > 0, f"{where}: spec.parentRefs not empty")
    for p in parents:
        check_only_keys(c, p, {"group", "kind", "namespace", "name", "sectionName", "port"}, f"{where} parentRef")
        c.check(isinstance(p.get("name"), str) and p["name"], f"{where}: parentRef has a name")
    for h in spec.get("hostnames", []):
        c.check(isinstance(h, str) and re.match(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", h),
                f"{where}: hostname {h!r} is a DNS name")
    rules = spec.get("rules", [])
    c.check(isinstance(rules, list) and 0 < len(rules) <= 16, f"{where}: 1 to 16 rules")
    grpc_port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "grpc")
    for rule in rules:
        check_only_keys(c, rule, {"matches", "backendRefs", "filters", "name"}, f"{where} rule")
        matches = rule.get("matches", [])
        c.check(0 < len(matches) <= 8, f"{where}: 1 to 8 matches per rule")
        for m in matches:
            method = m.get("method", {})
            c.check(method.get("type", "Exact") in ("Exact", "RegularExpression"), f"{where}: method match type")
            c.check(bool(method.get("service")), f"{where}: match names a gRPC service")
        c.check(any(m.get("method", {}).get("service") == READINESS_SERVICE for m in matches),
                f"{where}: routes {READINESS_SERVICE}")
        c.check(not any(m.get("method", {}).get("service", "").startswith("grpc.") for m in matches),
                f"{where}: does not expose grpc.health / grpc.reflection")
        backends = rule.get("backendRefs", [])
        c.check(len(backends) > 0, f"{where}: backendRefs")
        for b in backends:
            c.equal(b.get("name"), service["metadata"]["name"], f"{where}: backend is the kessai Service")
            c.equal(b.get("port"), grpc_port, f"{where}: backend port is the gRPC port")


def check_pod_security(c: Checks, pod_spec: dict, where: str) -> None:
    psc = pod_spec.get("securityContext", {})
    c.equal(psc.get("runAsNonRoot"), True, f"{where}: pod runAsNonRoot")
    c.equal(psc.get("runAsUser"), UID, f"{where}: pod runAsUser")
    c.equal(psc.get("runAsGroup"), UID, f"{where}: pod runAsGroup")
    c.equal(psc.get("seccompProfile", {}).get("type"), "RuntimeDefault", f"{where}: pod seccompProfile")
    c.equal(pod_spec.get("automountServiceAccountToken"), False, f"{where}: automountServiceAccountToken")
    containers = pod_spec.get("initContainers", []) + pod_spec.get("containers", [])
    c.check(len(containers) > 0, f"{where}: has containers")
    for ct in containers:
        cw = f"{where} container {ct.get('name')}"
        sc = ct.get("securityContext", {})
        c.equal(sc.get("runAsNonRoot"), True, f"{cw}: runAsNonRoot")
        c.equal(sc.get("runAsUser"), UID, f"{cw}: runAsUser")
        c.equal(sc.get("runAsGroup"), UID, f"{cw}: runAsGroup")
        c.equal(sc.get("readOnlyRootFilesystem"), True, f"{cw}: readOnlyRootFilesystem")
        c.equal(sc.get("allowPrivilegeEscalation"), False, f"{cw}: allowPrivilegeEscalation")
        c.check(sc.get("privileged") in (None, False), f"{cw}: not privileged")
        c.equal(sc.get("capabilities", {}).get("drop"), ["ALL"], f"{cw}: capabilities.drop")
        c.check(not sc.get("capabilities", {}).get("add"), f"{cw}: no added capabilities")
        c.equal(sc.get("seccompProfile", {}).get("type"), "RuntimeDefault", f"{cw}: seccompProfile")
        res = ct.get("resources", {})
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                c.check(r in res.get(kind, {}), f"{cw}: resources.{kind}.{r}")
        mounts = {m["mountPath"]: m["name"] for m in ct.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
        tmp = volumes.get(mounts.get("/tmp", ""), {})
        c.check("emptyDir" in tmp, f"{cw}: emptyDir at /tmp")
        for name, e in env_map(ct).items():
            if name in SECRET_VARS:
                c.check("value" not in e and "secretKeyRef" in e.get("valueFrom", {}),
                        f"{cw}: {name} comes from a secretKeyRef, not a literal")


# --- a whole render ----------------------------------------------------------------------------


def check_render(c: Checks, name: str, docs: list[dict], values: dict, input_values: dict,
                 text: str, notes: str, versions: list[str]) -> None:
    c.scope = name
    crds = check_k8s_schema(c, docs, versions)

    for doc in docs:
        md = doc.get("metadata", {})
        where = f"{doc.get('kind')}/{md.get('name')}"
        c.equal(md.get("namespace"), NAMESPACE, f"{where}: namespace")
        labels = md.get("labels", {})
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by",
                    "helm.sh/chart"):
            c.check(key in labels, f"{where}: label {key}")

    # Secret values given to the chart never appear in clear anywhere in the manifests.
    for key, secret in (input_values.get("secrets") or {}).items():
        if secret:
            c.check(secret not in text, f"secrets.{key} appears in clear in the rendered manifests")

    deployments = of_kind(docs, "Deployment")
    if not c.equal(len(deployments), 1, "Deployments"):
        return
    dep = deployments[0]
    pod = dep["spec"]["template"]
    spec = pod["spec"]
    pod_labels = pod["metadata"]["labels"]
    c.check(selector_matches(dep["spec"]["selector"]["matchLabels"], pod_labels), "Deployment selector matches its pods")
    containers = {ct["name"]: ct for ct in spec["containers"]}
    if not c.check("kessai" in containers, "container kessai"):
        return
    ct = containers["kessai"]
    env = env_map(ct)
    c.equal(ct.get("args"), ["serve"], "server args")
    image = ct["image"]

    check_probes_and_ports(c, ct, values)

    check_pod_security(c, spec, "Deployment")

    # Configuration: ConfigMap via envFrom, KESSAI_SANDBOX explicit on the container.
    configmaps = {d["metadata"]["name"]: d for d in of_kind(docs, "ConfigMap")}
    cm_refs = [e["configMapRef"]["name"] for e in ct.get("envFrom", []) if "configMapRef" in e]
    c.check(len(cm_refs) == 1 and cm_refs[0] in configmaps, "server reads the chart's ConfigMap")
    config = configmaps.get(cm_refs[0], {}).get("data", {}) if cm_refs else {}
    c.equal(config.get("KESSAI_LISTEN_ADDR"), f"0.0.0.0:{GRPC_PORT}", "KESSAI_LISTEN_ADDR")
    c.equal(config.get("KESSAI_METRICS_ADDR"), f"0.0.0.0:{METRICS_PORT}", "KESSAI_METRICS_ADDR")
    c.equal(config.get("KESSAI_WEBHOOK_ADDR"), f"0.0.0.0:{WEBHOOKS_PORT}", "KESSAI_WEBHOOK_ADDR")
    public_url = values["config"]["webhookPublicUrl"] or (
        f"https://{values['ingress']['host']}" if values["ingress"]["enabled"] else None)
    c.equal(config.get("KESSAI_WEBHOOK_PUBLIC_URL"), public_url,
            "KESSAI_WEBHOOK_PUBLIC_URL: where providers reach the webhooks (PaymentOptions is told it)")
    c.equal(config.get("KESSAI_LOG_FORMAT"), "json", "KESSAI_LOG_FORMAT")
    for key in ("KESSAI_LOG", "KESSAI_DRAIN_DELAY_SECS", "KESSAI_SHUTDOWN_TIMEOUT_SECS",
                "KESSAI_DATABASE_MAX_CONNECTIONS", "KESSAI_PROVIDER_TIMEOUT_MS",
                "KESSAI_PROVIDER_MAX_ATTEMPTS", "KESSAI_IDEMPOTENCY_TTL_HOURS",
                "KESSAI_SMARTPAY_WEBHOOK_TOLERANCE_SECS"):
        c.check(key in config, f"ConfigMap has {key}")
    for cm in configmaps.values():
        leaked = (SECRET_VARS | {"KESSAI_SANDBOX"}) & set(cm.get("data", {}))
        c.check(not leaked, f"ConfigMap/{cm['metadata']['name']} holds no secret nor KESSAI_SANDBOX: {sorted(leaked)}")
    sandbox = bool(values["sandbox"]["enabled"])
    want_sandbox = "true" if sandbox else "false"
    c.equal(env.get("KESSAI_SANDBOX", {}).get("value"), want_sandbox, "server KESSAI_SANDBOX")
    c.equal(config.get("KESSAI_PROVIDER_MODE"), None if sandbox else values["config"]["providerMode"],
            "KESSAI_PROVIDER_MODE: config.providerMode outside sandbox mode")
    c.check("KESSAI_SANDBOX_ADDR" not in env and "KESSAI_SANDBOX_ADDR" not in config,
            "no KESSAI_SANDBOX_ADDR (simulators stay off / on loopback)")

    # Secrets: references only, to the right Secret.
    existing = values.get("existingSecret") or ""
    secret_name = existing or FULLNAME
    for var in REQUIRED_SECRET_VARS:
        ref = env.get(var, {}).get("valueFrom", {}).get("secretKeyRef", {})
        c.equal(ref.get("name"), secret_name, f"{var} Secret name")
        c.equal(ref.get("key"), var, f"{var} Secret key")
    c.equal(env.get("KESSAI_DATABASE_URL", {}).get("valueFrom", {}).get("secretKeyRef", {}).get("optional"),
            False, "KESSAI_DATABASE_URL is not optional")
    c.equal(env.get("KESSAI_FINGERPRINT_KEY", {}).get("valueFrom", {}).get("secretKeyRef", {}).get("optional"),
            sandbox, "KESSAI_FINGERPRINT_KEY optional only in sandbox")
    for var in SECRET_VARS - REQUIRED_SECRET_VARS:
        ref = env.get(var, {}).get("valueFrom", {}).get("secretKeyRef", {})
        c.check(ref.get("name") == secret_name and ref.get("optional") is True, f"{var}: optional reference to {secret_name}")
    secrets = of_kind(docs, "Secret", hooks=False)
    annotations = pod["metadata"].get("annotations", {})
    c.check("checksum/config" in annotations, "checksum/config annotation")
    if existing:
        c.equal(of_kind(docs, "Secret"), [], "no Secret rendered with existingSecret")
        c.check("checksum/secret" not in annotations, "no checksum/secret with existingSecret")
    else:
        c.equal([s["metadata"]["name"] for s in secrets], [FULLNAME], "the chart's Secret")
        c.check("checksum/secret" in annotations, "checksum/secret annotation")
        for s in secrets:
            c.check({"KESSAI_DATABASE_URL"} <= set(s.get("data", {})), "chart Secret has KESSAI_DATABASE_URL")
            if not sandbox:
                c.check("KESSAI_FINGERPRINT_KEY" in s.get("data", {}), "chart Secret has KESSAI_FINGERPRINT_KEY")

    # Observability: OTLP export settings iff an endpoint is set (the collector's headers only
    # from the Secret, checked above); Prometheus discovery annotations iff asked for.
    tracing = values["tracing"]
    otel = {k: v for k, v in config.items() if k.startswith("OTEL_")}
    if tracing["otlp"]["endpoint"]:
        c.equal(otel.get("OTEL_EXPORTER_OTLP_ENDPOINT"), tracing["otlp"]["endpoint"], "OTEL_EXPORTER_OTLP_ENDPOINT")
        c.equal(otel.get("OTEL_EXPORTER_OTLP_PROTOCOL"), tracing["otlp"]["protocol"], "OTEL_EXPORTER_OTLP_PROTOCOL")
        c.equal(otel.get("OTEL_SERVICE_NAME"), tracing["serviceName"], "OTEL_SERVICE_NAME")
        c.equal(otel.get("OTEL_RESOURCE_ATTRIBUTES"), tracing.get("resourceAttributes") or None,
                "OTEL_RESOURCE_ATTRIBUTES")
    else:
        c.equal(otel, {}, "no OTEL_* settings without tracing.otlp.endpoint")
    scrape_annotations = {k: v for k, v in annotations.items() if k.startswith("prometheus.io/")}
    if values["metrics"]["podAnnotations"]:
        c.equal(scrape_annotations, {"prometheus.io/scrape": "true", "prometheus.io/port": str(METRICS_PORT),
                                     "prometheus.io/path": "/metrics"}, "Prometheus scrape annotations")
    else:
        c.equal(scrape_annotations, {}, "no Prometheus scrape annotations unless metrics.podAnnotations")

    # Shutdown: grace period exceeds preStop sleep + drain delay + shutdown timeout.
    pre_stop = ct.get("lifecycle", {}).get("preStop", {})
    c.check(set(pre_stop) == {"sleep"}, "preStop uses the native sleep handler only")
    sleep = pre_stop.get("sleep", {}).get("seconds", 0)
    drain = int(config.get("KESSAI_DRAIN_DELAY_SECS", 0))
    timeout = int(config.get("KESSAI_SHUTDOWN_TIMEOUT_SECS", 0))
    grace = spec.get("terminationGracePeriodSeconds", 30)
    c.check(sleep >= 1, "preStop sleep ≥ 1 s")
    c.check(grace > sleep + drain + timeout,
            f"terminationGracePeriodSeconds {grace} > preStop {sleep} + drain {drain} + shutdown {timeout}")

    # Scheduling.
    spread = {t["topologyKey"]: t for t in spec.get("topologySpreadConstraints", [])}
    c.check({"kubernetes.io/hostname", "topology.kubernetes.io/zone"} <= set(spread), "spread over nodes and zones")
    for t in spread.values():
        c.check(selector_matches(t["labelSelector"]["matchLabels"], pod_labels), f"spread {t['topologyKey']} selects the pods")
    anti = spec.get("affinity", {}).get("podAntiAffinity", {}).get("preferredDuringSchedulingIgnoredDuringExecution", [])
    c.check(len(anti) > 0 and selector_matches(anti[0]["podAffinityTerm"]["labelSelector"]["matchLabels"], pod_labels),
            "preferred podAntiAffinity on the pods")
    c.equal(spec.get("enableServiceLinks"), False, "enableServiceLinks")

    # ServiceAccount.
    accounts = {s["metadata"]["name"]: s for s in of_kind(docs, "ServiceAccount", hooks=False)}
    c.check(spec.get("serviceAccountName") in accounts, "server ServiceAccount is rendered")
    for sa in of_kind(docs, "ServiceAccount"):
        c.equal(sa.get("automountServiceAccountToken"), False, f"ServiceAccount/{sa['metadata']['name']} automount")

    # Service.
    services = of_kind(docs, "Service")
    if c.equal(len(services), 1, "Services"):
        svc = services[0]
        sports = {p["name"]: p for p in svc["spec"]["ports"]}
        want_ports = {"grpc": GRPC_PORT, "metrics": METRICS_PORT, "webhooks": WEBHOOKS_PORT}
        if values["console"]["enabled"]:
            want_ports["console"] = CONSOLE_PORT
        c.equal({n: p["port"] for n, p in sports.items()}, want_ports, "Service ports (console iff console.enabled)")
        c.equal(sports.get("grpc", {}).get("appProtocol"), "grpc", "Service grpc appProtocol")
        c.check(selector_matches(svc["spec"]["selector"], pod_labels), "Service selects the server pods")

    # HPA and PDB.
    hpas = of_kind(docs, "HorizontalPodAutoscaler")
    if values["autoscaling"]["enabled"]:
        if c.equal(len(hpas), 1, "HorizontalPodAutoscalers"):
            hpa = hpas[0]
            c.equal(hpa["apiVersion"], "autoscaling/v2", "HPA apiVersion")
            c.equal(hpa["spec"]["scaleTargetRef"], {"apiVersion": "apps/v1", "kind": "Deployment", "name": dep["metadata"]["name"]},
                    "HPA target")
            c.check(hpa["spec"]["minReplicas"] >= 2, "HPA minReplicas ≥ 2")
            c.check(any(m["resource"]["name"] == "cpu" for m in hpa["spec"]["metrics"]), "HPA CPU target")
        c.check("replicas" not in dep["spec"], "Deployment leaves replicas to the HPA")
    pdbs = of_kind(docs, "PodDisruptionBudget")
    if c.equal(len(pdbs), 1, "PodDisruptionBudgets"):
        c.equal(pdbs[0]["apiVersion"], "policy/v1", "PDB apiVersion")
        c.check(selector_matches(pdbs[0]["spec"]["selector"]["matchLabels"], pod_labels), "PDB selects the server pods")

    # Migration Job: a pre-install,pre-upgrade hook running `kessai migrate`, nothing it needs
    # coming from non-hook resources.
    jobs = of_kind(docs, "Job")
    if c.equal(len(jobs), 1, "Jobs") and c.check(HOOK_EVENTS == hook_events(jobs[0]), "Job hook is pre-install,pre-upgrade"):
        job = jobs[0]
        ann = job["metadata"]["annotations"]
        c.check("helm.sh/hook-weight" in ann, "Job hook-weight")
        policies = set(ann.get("helm.sh/hook-delete-policy", "").split(","))
        c.equal(policies, {"before-hook-creation", "hook-succeeded"}, "Job hook-delete-policy")
        c.check(isinstance(job["spec"].get("backoffLimit"), int), "Job backoffLimit")
        c.check(isinstance(job["spec"].get("activeDeadlineSeconds"), int), "Job activeDeadlineSeconds")
        jspec = job["spec"]["template"]["spec"]
        c.equal(jspec.get("restartPolicy"), "Never", "Job restartPolicy")
        check_pod_security(c, jspec, "Job")
        jct = jspec["containers"][0]
        c.equal(jct.get("args"), ["migrate"], "Job runs migrate")
        c.equal(jct.get("image"), image, "Job uses the server's image")
        jenv = env_map(jct)
        c.equal(jenv.get("KESSAI_SANDBOX", {}).get("value"), want_sandbox, "Job KESSAI_SANDBOX")
        c.equal(set(jenv), set(env) | set(config), "Job env = server env + ConfigMap settings")
        for k, v in config.items():
            c.equal(jenv.get(k, {}).get("value"), v, f"Job {k}")
        check_tls(c, config, {"Deployment": (spec, ct), "Job": (jspec, jct)}, services, values)
        job_pod_labels = job["spec"]["template"]["metadata"]["labels"]
        for svc in services:
            c.check(not selector_matches(svc["spec"]["selector"], job_pod_labels), "Service does not select the Job's pod")
        c.check(not selector_matches(dep["spec"]["selector"]["matchLabels"], job_pod_labels),
                "Deployment selector does not match the Job's pod")
        weight = hook_weight(job)

        def available_before_job(kind: str, ref: str) -> bool:
            found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == ref]
            if not found:  # not the chart's: must exist beforehand
                return (kind == "Secret" and ref == existing) or (kind == "ServiceAccount" and ref == "default")
            return all(HOOK_EVENTS <= hook_events(d) and hook_weight(d) < weight for d in found)

        for var, e in jenv.items():
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                c.check(available_before_job("Secret", ref["name"]),
                        f"Job {var}: Secret {ref['name']} exists before the pre-install hook runs")
                if var in SECRET_VARS and existing:
                    c.equal(ref["name"], existing, f"Job {var} reads the existingSecret")
        for e in jct.get("envFrom", []):
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if key in e:
                    c.check(available_before_job(kind, e[key]["name"]), f"Job envFrom {kind} exists before the hook")
        c.check(available_before_job("ServiceAccount", jspec.get("serviceAccountName", "default")),
                "Job ServiceAccount exists before the pre-install hook runs")
        if not existing:
            hook_secrets = of_kind(docs, "Secret", hooks=True)
            main = {s["metadata"]["name"]: s for s in secrets}.get(FULLNAME, {})
            c.check(len(hook_secrets) == 1 and hook_secrets[0].get("data") == main.get("data"),
                    "the Job's hook Secret holds the same data as the chart's Secret")
    # No other workload migrates: the server never runs `migrate`.
    c.check("migrate" not in (ct.get("args", []) + ct.get("command", [])), "server does not migrate")
    c.check(not spec.get("initContainers"), "no init containers (replicas never migrate)")

    # Optional features.
    kinds = {d["kind"] for d in docs if not hook_events(d)}
    for kind, key in (("ServiceMonitor", "serviceMonitor"), ("NetworkPolicy", "networkPolicy"),
                      ("GRPCRoute", "grpcRoute")):
        c.equal(kind in kinds, bool(values[key]["enabled"]), f"{kind} rendered iff {key}.enabled")
    console = values["console"]
    ingresses = {d["metadata"]["name"]: d for d in of_kind(docs, "Ingress", hooks=False)}
    want_ingresses = set()
    if values["ingress"]["enabled"]:
        want_ingresses.add(f"{FULLNAME}-webhooks")
    if console["enabled"] and console["ingress"]["enabled"]:
        want_ingresses.add(f"{FULLNAME}-console")
    c.equal(set(ingresses), want_ingresses,
            "Ingresses: -webhooks iff ingress.enabled, -console iff console.enabled and console.ingress.enabled")
    for crd in crds:
        if crd["kind"] == "ServiceMonitor" and services:
            check_service_monitor(c, crd, services[0])
        elif crd["kind"] == "GRPCRoute" and services:
            check_grpc_route(c, crd, services[0])
    if f"{FULLNAME}-webhooks" in ingresses:
        for rule in ingresses[f"{FULLNAME}-webhooks"]["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                c.check(p["path"].startswith("/webhooks/"), f"Ingress path {p['path']} is a webhook path")
                c.equal(p["backend"]["service"]["port"].get("name"), "webhooks", "Ingress goes to the webhooks port")
    if f"{FULLNAME}-console" in ingresses:
        check_console_ingress(c, ingresses[f"{FULLNAME}-console"], values)
    check_console(c, config, services, values, notes)
    for np in of_kind(docs, "NetworkPolicy"):
        check_network_policy(c, np, pod_labels, jobs, values)
        if np["metadata"]["name"] == FULLNAME and tracing["otlp"]["endpoint"]:
            otlp = values["networkPolicy"]["egress"]["otlp"]
            c.check(any(rule.get("to") == otlp["to"] and {"port": otlp["port"], "protocol": "TCP"} in rule.get("ports", [])
                        for rule in np["spec"].get("egress", [])), "NetworkPolicy lets the server reach the OTLP collector")

    # NOTES.
    c.check(bool(notes.strip()), "NOTES.txt renders")
    c.equal("SANDBOX MODE" in notes, sandbox, "NOTES warn about sandbox mode iff enabled")


def check_console(c: Checks, config: dict, services: list[dict], values: dict, notes: str) -> None:
    """The operator console: its settings iff console.enabled, "off" otherwise (sandbox mode included),
    never beyond loopback in plaintext unless allowed (kessai would refuse to start), HTTPS on the
    Service port iff tls.enabled. The container port is checked in check_tls.check_probes_and_ports."""
    console = values["console"]
    tls = bool(values["tls"]["enabled"])
    got = {k: v for k, v in config.items() if k.startswith("KESSAI_CONSOLE_")}
    if console["enabled"]:
        want = {
            "KESSAI_CONSOLE_ADDR": f"0.0.0.0:{CONSOLE_PORT}",
            "KESSAI_CONSOLE_ALLOW_PLAINTEXT": "true" if console["allowPlaintext"] else "false",
            "KESSAI_CONSOLE_SESSION_HOURS": str(console["sessionHours"]),
            "KESSAI_CONSOLE_MAX_CONNECTIONS": str(console["maxConnections"]),
        }
        c.check(tls or console["allowPlaintext"],
                "console beyond loopback only with tls.enabled or console.allowPlaintext (else kessai refuses to start)")
        c.check("KESSAI_TLS_CERT_FILE" in config or got.get("KESSAI_CONSOLE_ALLOW_PLAINTEXT") == "true",
                "ConfigMap: the console has TLS (KESSAI_TLS_CERT_FILE) or KESSAI_CONSOLE_ALLOW_PLAINTEXT=true")
    else:
        want = {"KESSAI_CONSOLE_ADDR": "off"}
    c.equal(got, want, "console settings in the ConfigMap (KESSAI_CONSOLE_ADDR=off iff console.enabled is false)")
    for svc in services:
        port = {p["name"]: p for p in svc["spec"]["ports"]}.get("console")
        if console["enabled"] and c.check(port is not None, "Service has the console port"):
            c.equal(port.get("targetPort"), "console", "Service console targetPort")
            c.equal(port.get("appProtocol"), "https" if tls else "http", "Service console appProtocol: https iff tls.enabled")
    c.equal("Operator console" in notes, bool(console["enabled"]), "NOTES mention the console iff enabled")


def check_console_ingress(c: Checks, ing: dict, values: dict) -> None:
    """The console's Ingress: its own host, path / (Prefix), to the Service's console port only."""
    where = f"Ingress/{ing['metadata']['name']}"
    spec_values = values["console"]["ingress"]
    spec = ing["spec"]
    rules = spec.get("rules", [])
    c.equal([r.get("host") for r in rules], [spec_values["host"]], f"{where}: host is console.ingress.host")
    c.check(spec_values["host"] != (values["ingress"]["host"] if values["ingress"]["enabled"] else None),
            f"{where}: not on the webhooks' host")
    paths = [p for r in rules for p in r.get("http", {}).get("paths", [])]
    c.equal([(p.get("path"), p.get("pathType")) for p in paths], [("/", "Prefix")], f"{where}: path / (Prefix)")
    for p in paths:
        c.equal(p["backend"]["service"], {"name": FULLNAME, "port": {"name": "console"}},
                f"{where}: backend is the Service's console port")
    c.equal(spec.get("ingressClassName"), spec_values["className"] or None, f"{where}: ingressClassName")
    c.equal(ing["metadata"].get("annotations"), spec_values["annotations"] or None, f"{where}: annotations")
    want_tls = [{"hosts": [spec_values["host"]], "secretName": spec_values["tls"]["secretName"]}] \
        if spec_values["tls"].get("secretName") else None
    c.equal(spec.get("tls"), want_tls, f"{where}: tls")


def check_network_policy(c: Checks, np: dict, server_labels: dict, jobs: list[dict], values: dict) -> None:
    where = f"NetworkPolicy/{np['metadata']['name']}"
    spec = np["spec"]
    c.equal(sorted(spec.get("policyTypes", [])), ["Egress", "Ingress"], f"{where}: policyTypes")
    egress_ports = {(p.get("port"), p.get("protocol", "TCP")) for r in spec.get("egress", []) for p in r.get("ports", [])}
    c.check({(53, "UDP"), (53, "TCP"), (5432, "TCP")} <= egress_ports, f"{where}: egress to DNS and PostgreSQL")
    for rule in spec.get("egress", []):
        c.check(bool(rule.get("to")), f"{where}: every egress rule names its destinations")
    if hook_events(np):
        c.check(bool(jobs) and selector_matches(spec["podSelector"]["matchLabels"], jobs[0]["spec"]["template"]["metadata"]["labels"]),
                f"{where}: selects the migration pod")
        c.equal(spec.get("ingress", []), [], f"{where}: no ingress")
        c.check((443, "TCP") not in egress_ports, f"{where}: no HTTPS egress for the migration")
        return
    c.check(selector_matches(spec["podSelector"]["matchLabels"], server_labels), f"{where}: selects the server pods")
    ingress_ports = {p["port"] for r in spec.get("ingress", []) for p in r.get("ports", [])}
    want_ports = {GRPC_PORT, METRICS_PORT, WEBHOOKS_PORT}
    if values["console"]["enabled"]:
        want_ports.add(CONSOLE_PORT)
        console_rules = [r for r in spec.get("ingress", []) if {"port": CONSOLE_PORT, "protocol": "TCP"} in r.get("ports", [])]
        c.equal([(r.get("from"), r.get("ports")) for r in console_rules],
                [(values["networkPolicy"]["console"]["from"], [{"port": CONSOLE_PORT, "protocol": "TCP"}])],
                f"{where}: one ingress rule for the console port, from networkPolicy.console.from")
    c.equal(ingress_ports, want_ports, f"{where}: ingress ports (console iff console.enabled)")
    for rule in spec.get("ingress", []):
        c.check(bool(rule.get("from")), f"{where}: every ingress rule names its sources")
    c.check((443, "TCP") in egress_ports, f"{where}: egress to HTTPS")


def cmd_check(args: argparse.Namespace) -> int:
    c = Checks()
    schema = json.loads(Path(args.schema).read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    versions = [kubernetes_validate.latest_version() if v == "latest" else v for v in args.kube_version]
    print(f"kubernetes-validate {kubernetes_validate.__version__} (strict) against Kubernetes {', '.join(versions)}")
    d = Path(args.dir)
    c.scope = "values.yaml"
    chart_values = yaml.safe_load((Path(args.schema).parent / "values.yaml").read_text())
    for err in validate_schema(chart_values, schema):
        c.check(False, f"schema: {err}")
    for render in args.render:
        values = json.loads((d / f"{render}.values.json").read_text())
        c.scope = render
        errors = validate_schema(values, schema)
        c.check(not errors, f"values do not match values.schema.json: {errors}")
        text = (d / f"{render}.yaml").read_text()
        docs = load_docs(d / f"{render}.yaml")
        input_values = yaml.safe_load((d / f"{render}.input.yaml").read_text()) or {}
        notes = (d / f"{render}.notes.txt").read_text()
        before = c.failed
        check_render(c, render, docs, values, input_values, text, notes, versions)
        if render == "production":
            check_production(c, docs, values)
        elif render == "default":
            check_default(c, docs, values)
        print(f"  {render}: {len(docs)} manifests, {'ok' if c.failed == before else 'FAILED'}")
    print(f"manifests: {c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


def check_production(c: Checks, docs: list[dict], values: dict) -> None:
    c.scope = "production"
    c.check(bool(values.get("existingSecret")), "production uses existingSecret")
    for kind in ("ServiceMonitor", "NetworkPolicy", "GRPCRoute", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        c.check(len(of_kind(docs, kind, hooks=False)) == 1, f"production renders a {kind}")
    c.equal(sorted(d["metadata"]["name"] for d in of_kind(docs, "Ingress", hooks=False)),
            [f"{FULLNAME}-console", f"{FULLNAME}-webhooks"], "production renders the webhooks' and the console's Ingress")
    c.check(values["console"]["enabled"] and values["console"]["ingress"]["enabled"],
            "production serves the console through an Ingress")
    hpa = of_kind(docs, "HorizontalPodAutoscaler")
    c.check(bool(hpa) and hpa[0]["spec"]["minReplicas"] >= 3, "production runs at least 3 replicas")
    dep = of_kind(docs, "Deployment")[0]
    res = dep["spec"]["template"]["spec"]["containers"][0]["resources"]
    c.check(res != yaml.safe_load(Path(__file__).with_name("kessai").joinpath("values.yaml").read_text())["resources"],
            "production sets its own resources")


def check_default(c: Checks, docs: list[dict], values: dict) -> None:
    """The console is off by default: no port in the Deployment or the Service, KESSAI_CONSOLE_ADDR=off."""
    c.scope = "default"
    c.equal(values["console"]["enabled"], False, "console off by default")
    for dep in of_kind(docs, "Deployment"):
        for ct in dep["spec"]["template"]["spec"]["containers"]:
            ports = {p.get("name") for p in ct.get("ports", [])} | {p.get("containerPort") for p in ct.get("ports", [])}
            c.check("console" not in ports and CONSOLE_PORT not in ports, f"default: no console port in container {ct['name']}")
    for svc in of_kind(docs, "Service"):
        ports = {p.get("name") for p in svc["spec"]["ports"]} | {p.get("port") for p in svc["spec"]["ports"]}
        c.check("console" not in ports and CONSOLE_PORT not in ports, "default: no console port in the Service")
    for cm in of_kind(docs, "ConfigMap"):
        c.equal(cm.get("data", {}).get("KESSAI_CONSOLE_ADDR"), "off", "default: KESSAI_CONSOLE_ADDR is off")


def cmd_schema(args: argparse.Namespace) -> int:
    schema = json.loads(Path(args.schema).read_text())
    values = json.loads(Path(args.values).read_text())
    errors = validate_schema(values, schema)
    if not errors:
        print(f"FAIL schema accepted {args.values}, expected an error containing {args.expect_error!r}")
        return 1
    if not any(args.expect_error in e for e in errors):
        print(f"FAIL schema rejected {args.values} but not with {args.expect_error!r}: {errors}")
        return 1
    print(f"schema rejects as expected: {next(e for e in errors if args.expect_error in e)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check")
    p.add_argument("--dir", required=True)
    p.add_argument("--schema", required=True)
    p.add_argument("--render", action="append", required=True, help="render name (repeatable)")
    p.add_argument("--kube-version", action="append", required=True, help="e.g. 1.30.0, or 'latest'")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("schema")
    p.add_argument("--schema", required=True)
    p.add_argument("--values", required=True)
    p.add_argument("--expect-error", required=True)
    p.set_defaults(func=cmd_schema)
    args = parser.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
