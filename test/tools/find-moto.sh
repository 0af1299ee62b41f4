#!/usr/bin/env bash
# Prints the path of a working moto_server, or says on stderr where it looked
# and exits 1. moto ships with the machine image's pyenv Python, which is not
# on a bare PATH (CI, systemd, make).
set -uo pipefail
candidates=()
[ -n "${MOTO_SERVER:-}" ] && candidates+=("$MOTO_SERVER")
command -v moto_server >/dev/null 2>&1 && candidates+=("$(command -v moto_server)")
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
candidates+=("$pyenv_root"/versions/*/bin/moto_server "$pyenv_root/shims/moto_server")
for c in "${candidates[@]}"; do
  if [ -x "$c" ] && "$c" --help >/dev/null 2>&1; then
    echo "$c"; exit 0
  fi
done
echo "no working moto_server at \$MOTO_SERVER (${MOTO_SERVER:-unset}), on PATH, $pyenv_root/versions/*/bin/moto_server and $pyenv_root/shims/moto_server" >&2
exit 1
