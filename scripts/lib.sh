# Sourced by the scripts here: the repository's own Python environment, made on first use.
# ensure_venv           .venv with the package installed (what `gateway` needs)
# ensure_venv test      .venv with the test extras too (pytest, Playwright, ruff)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

ensure_venv() {
  local want="${1:-}" probe="$ROOT/.venv/bin/gateway" spec="$ROOT"
  if [ "$want" = test ]; then probe="$ROOT/.venv/bin/pytest"; spec="$ROOT[test]"; fi
  [ -x "$probe" ] && return 0
  [ -x "$ROOT/.venv/bin/python" ] || python3 -m venv "$ROOT/.venv"
  echo "[setup] installing the gateway into .venv (first run only)" >&2
  "$ROOT/.venv/bin/python" -m pip install -q --disable-pip-version-check -e "$spec"
}
