"""The chart's probes, ports and gRPC TLS (see check_manifests.py, which calls these): with
tls.enabled the Secrets are mounted in the server and the migration Job, kessai reads them from
KESSAI_TLS_*_FILE, and the probes ask the plaintext health port (KESSAI_HEALTH_ADDR), which
kubelet's gRPC probes can reach without a client certificate."""

from __future__ import annotations

GRPC_PORT, METRICS_PORT, WEBHOOKS_PORT, HEALTH_PORT, CONSOLE_PORT = 50051, 9090, 8080, 8086, 8088
READINESS_SERVICE = "kessai.v1.PaymentService"
TLS_DIR, CLIENT_CA_DIR = "/etc/kessai/tls", "/etc/kessai/client-ca"


def check_probes_and_ports(c, ct: dict, values: dict) -> None:
    """Native gRPC probes on the port that answers them; the container ports."""
    tls = bool(values["tls"]["enabled"])
    port = HEALTH_PORT if tls else GRPC_PORT
    readiness = ct.get("readinessProbe", {})
    liveness = ct.get("livenessProbe", {})
    startup = ct.get("startupProbe", {})
    c.equal(readiness.get("grpc", {}).get("port"), port, "readinessProbe.grpc.port")
    c.equal(readiness.get("grpc", {}).get("service"), READINESS_SERVICE, "readinessProbe.grpc.service")
    c.equal(liveness.get("grpc", {}).get("port"), port, "livenessProbe.grpc.port")
    c.equal(liveness.get("grpc", {}).get("service", ""), "", "livenessProbe.grpc.service")
    c.check("grpc" in startup, "startupProbe present (gRPC)")
    c.equal(startup.get("grpc", {}).get("port"), port, "startupProbe.grpc.port")
    c.equal(startup.get("grpc", {}).get("service", ""), "", "startupProbe.grpc.service")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        c.check(not ({"exec", "httpGet", "tcpSocket"} & set(ct.get(probe, {}))), f"{probe}: gRPC only")
    ports = {p["name"]: p["containerPort"] for p in ct.get("ports", [])}
    want = {"grpc": GRPC_PORT, "metrics": METRICS_PORT, "webhooks": WEBHOOKS_PORT}
    if tls:
        want["health"] = HEALTH_PORT
    if values["console"]["enabled"]:
        want["console"] = CONSOLE_PORT
    c.equal(ports, want, "container ports (console iff console.enabled)")


def check_tls(c, config: dict, pods: dict[str, tuple[dict, dict]], services: list[dict], values: dict) -> None:
    """`pods`: name → (pod spec, container) for the server and the migration Job."""
    tls = values["tls"]
    enabled = bool(tls["enabled"])
    client_ca = enabled and bool(tls["clientCaSecretName"])
    want = {}
    if enabled:
        want = {
            "KESSAI_TLS_CERT_FILE": f"{TLS_DIR}/tls.crt",
            "KESSAI_TLS_KEY_FILE": f"{TLS_DIR}/tls.key",
            "KESSAI_HEALTH_ADDR": f"0.0.0.0:{HEALTH_PORT}",
        }
        if client_ca:
            want["KESSAI_TLS_CLIENT_CA_FILE"] = f"{CLIENT_CA_DIR}/ca.crt"
    got = {k: v for k, v in config.items() if k.startswith("KESSAI_TLS_") or k == "KESSAI_HEALTH_ADDR"}
    c.equal(got, want, "TLS and health settings in the ConfigMap")
    for name, (spec, container) in pods.items():
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        mounts = {m["name"]: m for m in container.get("volumeMounts", [])}
        for volume, secret, path, on in (("tls", tls["secretName"], TLS_DIR, enabled),
                                         ("client-ca", tls["clientCaSecretName"], CLIENT_CA_DIR, client_ca)):
            if not on:
                c.check(volume not in volumes, f"{name}: no {volume} volume")
                continue
            c.equal(volumes.get(volume, {}).get("secret", {}).get("secretName"), secret, f"{name}: {volume} volume")
            c.equal(mounts.get(volume, {}).get("mountPath"), path, f"{name}: {volume} mounted")
            c.equal(mounts.get(volume, {}).get("readOnly"), True, f"{name}: {volume} read-only")
    for svc in services:
        ports = {p.get("targetPort") for p in svc["spec"].get("ports", [])} | {p.get("port") for p in svc["spec"].get("ports", [])}
        c.check("health" not in ports and HEALTH_PORT not in ports, f"Service/{svc['metadata']['name']} leaves the health port out")
