"""The project's rules for its rendered Kubernetes manifests (run by scripts/k8s-check).

    python3 k8s_policy.py RENDERED.yaml      exit 1 and one line per violation if any
    python3 k8s_policy.py --self-test R.yaml  break R.yaml in known ways and make sure every
                                              break is reported (the checks can fail)

The schema itself is kubernetes-validate's job; these are what a schema cannot say:
- every workload (Deployment, StatefulSet): each container has liveness and readiness probes
  and CPU and memory requests and limits; a NetworkPolicy of its own (not only the namespace's
  catch-all) selects its pods;
- every service Deployment: liveness on /healthz, readiness on /readyz, a grace period longer
  than its preStop pause plus the drain;
- every Service selects some workload's pods; every Ingress backend is a Service with that port;
- the public routes go where the README says, Socket.IO with cookie affinity and long timeouts;
- socket-service has a HorizontalPodAutoscaler and a PodDisruptionBudget;
- every Secret and ConfigMap a pod refers to is part of the render.
"""

import copy
import sys

import yaml

WORKLOADS = ("Deployment", "StatefulSet")
# Seconds a service needs after its preStop pause to drain (close sockets, finish requests).
DRAIN_SECS = 10
ROUTES = {
    "/api/auth": "auth-service",
    "/api/users": "auth-service",
    "/api/rooms": "socket-service",
    "/api/files": "file-service",
    "/api/push": "push-service",
    "/socket.io/": "socket-service",
    "/": "web",
}
SOCKET_ANNOTATIONS = {
    "nginx.ingress.kubernetes.io/affinity": "cookie",
    "nginx.ingress.kubernetes.io/proxy-read-timeout": None,
    "nginx.ingress.kubernetes.io/proxy-send-timeout": None,
}


def selects(selector, labels):
    """Whether a label selector (matchLabels / matchExpressions) matches these labels."""
    if not selector:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def ns(doc):
    return doc["metadata"].get("namespace", "")


def name(doc):
    return f'{doc["kind"]}/{doc["metadata"]["name"]}'


def check(docs):
    """All violations, as human-readable lines."""
    errors = []
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    workloads = [d for k in WORKLOADS for d in by_kind.get(k, [])]
    policies = by_kind.get("NetworkPolicy", [])
    names = {(d["kind"], ns(d), d["metadata"]["name"]) for d in docs}

    for w in workloads:
        spec = w["spec"]["template"]["spec"]
        labels = w["spec"]["template"]["metadata"].get("labels") or {}
        for c in spec.get("containers", []):
            where = f'{name(w)} container {c["name"]}'
            for probe in ("livenessProbe", "readinessProbe"):
                if probe not in c:
                    errors.append(f"{where}: no {probe}")
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in (res.get(part) or {}):
                        errors.append(f"{where}: no {r} in resources.{part}")
        own = [
            p
            for p in policies
            if ns(p) == ns(w)
            and p["spec"].get("podSelector")
            and selects(p["spec"]["podSelector"], labels)
        ]
        if not own:
            errors.append(f"{name(w)}: no NetworkPolicy selects its pods")
        # References to Secrets and ConfigMaps.
        refs = []
        for v in spec.get("volumes", []):
            if "secret" in v:
                refs.append(("Secret", v["secret"]["secretName"]))
            if "configMap" in v:
                refs.append(("ConfigMap", v["configMap"]["name"]))
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            for e in c.get("env", []):
                src = e.get("valueFrom") or {}
                if "secretKeyRef" in src:
                    refs.append(("Secret", src["secretKeyRef"]["name"]))
                if "configMapKeyRef" in src:
                    refs.append(("ConfigMap", src["configMapKeyRef"]["name"]))
            for e in c.get("envFrom", []):
                if "secretRef" in e:
                    refs.append(("Secret", e["secretRef"]["name"]))
                if "configMapRef" in e:
                    refs.append(("ConfigMap", e["configMapRef"]["name"]))
        for kind, ref in refs:
            if (kind, ns(w), ref) not in names:
                errors.append(f"{name(w)}: refers to {kind} {ref}, which is not rendered")

    for d in by_kind.get("Deployment", []):
        spec = d["spec"]["template"]["spec"]
        for c in spec.get("containers", []):
            where = f'{name(d)} container {c["name"]}'
            live = (c.get("livenessProbe") or {}).get("httpGet", {}).get("path")
            ready = (c.get("readinessProbe") or {}).get("httpGet", {}).get("path")
            if live != "/healthz":
                errors.append(f"{where}: liveness probe is not GET /healthz")
            if ready != "/readyz":
                errors.append(f"{where}: readiness probe is not GET /readyz")
            pause = ((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep", {}).get(
                "seconds", 0
            )
            grace = spec.get("terminationGracePeriodSeconds", 30)
            if grace < pause + DRAIN_SECS:
                errors.append(
                    f"{where}: terminationGracePeriodSeconds {grace} leaves less than "
                    f"{DRAIN_SECS} s to drain after the {pause} s preStop pause"
                )

    services = {(ns(s), s["metadata"]["name"]): s for s in by_kind.get("Service", [])}
    for (n, sname), s in services.items():
        sel = s["spec"].get("selector")
        if not sel or not any(
            ns(w) == n and selects({"matchLabels": sel}, w["spec"]["template"]["metadata"].get("labels") or {})
            for w in workloads
        ):
            errors.append(f"Service/{sname}: selects no workload's pods")

    routes = {}
    for ing in by_kind.get("Ingress", []):
        for rule in ing["spec"].get("rules", []):
            for p in rule.get("http", {}).get("paths", []):
                svc = p["backend"]["service"]
                port = svc["port"].get("name") or svc["port"].get("number")
                target = services.get((ns(ing), svc["name"]))
                if not target:
                    errors.append(f'{name(ing)}: path {p["path"]} goes to missing Service {svc["name"]}')
                elif not any(port in (sp.get("name"), sp.get("port")) for sp in target["spec"]["ports"]):
                    errors.append(f'{name(ing)}: path {p["path"]}: Service {svc["name"]} has no port {port}')
                routes.setdefault((rule.get("host"), p["path"]), (svc["name"], ing))
    hosts = {h for h, _ in routes}
    for host in hosts:
        served = {p: v for (h, p), v in routes.items() if h == host}
        if not any(p.startswith("/api/") for p in served):
            continue  # another public host (the object store)
        for path, want in ROUTES.items():
            got = served.get(path)
            if not got or got[0] != want:
                errors.append(f"host {host}: {path} should go to {want}, goes to {got[0] if got else 'nothing'}")
            elif path == "/socket.io/":
                ann = got[1]["metadata"].get("annotations") or {}
                for key, value in SOCKET_ANNOTATIONS.items():
                    if key not in ann or (value is not None and ann[key] != value):
                        errors.append(f"{name(got[1])}: /socket.io/ needs {key}" + (f": {value}" if value else ""))
    if not hosts:
        errors.append("no Ingress")

    def targets(kind, key):
        return [d for d in by_kind.get(kind, []) if key(d)]

    for d in by_kind.get("Deployment", []):
        if d["metadata"]["name"] != "socket-service":
            continue
        labels = d["spec"]["template"]["metadata"]["labels"]
        if not targets(
            "HorizontalPodAutoscaler",
            lambda h: ns(h) == ns(d) and h["spec"]["scaleTargetRef"]["name"] == "socket-service",
        ):
            errors.append("Deployment/socket-service: no HorizontalPodAutoscaler")
        if not targets(
            "PodDisruptionBudget",
            lambda p: ns(p) == ns(d) and selects(p["spec"].get("selector"), labels),
        ):
            errors.append("Deployment/socket-service: no PodDisruptionBudget")
    return errors


def find(docs, kind, nm):
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == nm)


def self_test(docs):
    """Each break must be reported; the unbroken render must pass."""
    base = check(docs)
    if base:
        print("\n".join(base))
        return 1

    def without_readiness(ds):
        del find(ds, "Deployment", "auth-service")["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]

    def without_limits(ds):
        del find(ds, "Deployment", "db-writer")["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]

    def without_policy(ds):
        ds.remove(find(ds, "NetworkPolicy", "db-writer"))

    def wrong_liveness(ds):
        c = find(ds, "Deployment", "push-service")["spec"]["template"]["spec"]["containers"][0]
        c["livenessProbe"] = {"tcpSocket": {"port": "http"}}

    def short_grace(ds):
        find(ds, "Deployment", "socket-service")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 5

    def no_affinity(ds):
        del find(ds, "Ingress", "chat-socket")["metadata"]["annotations"]["nginx.ingress.kubernetes.io/affinity"]

    def no_pdb(ds):
        ds.remove(find(ds, "PodDisruptionBudget", "socket-service"))

    def misrouted(ds):
        ing = find(ds, "Ingress", "chat")
        for p in ing["spec"]["rules"][0]["http"]["paths"]:
            if p["path"] == "/api/files":
                p["backend"]["service"]["name"] = "web"

    breaks = {
        "auth-service: no readinessProbe": without_readiness,
        "db-writer container db-writer: no cpu in resources.limits": without_limits,
        "Deployment/db-writer: no NetworkPolicy selects its pods": without_policy,
        "push-service container push-service: liveness probe is not GET /healthz": wrong_liveness,
        "socket-service container socket-service: terminationGracePeriodSeconds 5": short_grace,
        "/socket.io/ needs nginx.ingress.kubernetes.io/affinity": no_affinity,
        "Deployment/socket-service: no PodDisruptionBudget": no_pdb,
        "/api/files should go to file-service, goes to web": misrouted,
    }
    failed = 0
    for expected, breaker in breaks.items():
        broken = copy.deepcopy(docs)
        breaker(broken)
        found = check(broken)
        if not any(expected in e for e in found):
            print(f"self-test: breaking the render ({breaker.__name__}) was not reported as {expected!r}; got {found}")
            failed = 1
    if not failed:
        print(f"self-test: {len(breaks)} breaks, each reported")
    return failed


def main(argv):
    test = argv[:1] == ["--self-test"]
    files = argv[1:] if test else argv
    if not files:
        print(__doc__)
        return 2
    docs = []
    for f in files:
        with open(f) as fh:
            docs += [d for d in yaml.safe_load_all(fh) if d]
    if test:
        return self_test(docs)
    errors = check(docs)
    for e in errors:
        print(f"{files[0]}: {e}")
    if not errors:
        print(f"{', '.join(files)}: {len(docs)} resources follow the project's rules")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
