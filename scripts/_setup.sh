# Shared set-up for scripts/launch and scripts/test: create or refresh .venv and install the project.
# Sourced, not run. Quick when nothing changed: the install is skipped while pyproject.toml's hash
# matches the stamp left by the last successful install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
EXTRAS="${1:-}"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "gal-exec setup: $PYTHON not found; install Python 3.11 or newer" >&2
    exit 2
fi
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    echo "gal-exec setup: Python 3.11 or newer is required; $PYTHON is $("$PYTHON" -V 2>&1)" >&2
    exit 2
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "gal-exec setup: creating .venv" >&2
    "$PYTHON" -m venv "$VENV"
fi
want="$( (cat pyproject.toml; echo "extras=$EXTRAS") | sha256sum | cut -d' ' -f1)"
stamp="$VENV/.gal-exec-install"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "gal-exec setup: installing the project into .venv${EXTRAS:+ with [$EXTRAS]}" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
    spec="."
    [ -n "$EXTRAS" ] && spec=".[$EXTRAS]"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec" 2>&1 \
        | grep -v -e "^WARNING: Location" -e "^$" >&2 || true
    "$VENV/bin/python" -c 'import gal_exec, pykka, msgspec, requests, websocket' \
        || { echo "gal-exec setup: installation failed" >&2; exit 2; }
    echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
