#!/usr/bin/env bash
# mypy over the package as Python imports it: services/ is the package rtad (pyproject's
# package-dir), so mypy is shown services/ under the name rtad through a symlink in .tools/
# and checks every `from rtad.x import y` against the module it names.
set -euo pipefail
cd "$(dirname "$0")/.."
root=.tools/mypy-path
mkdir -p "$root"
ln -sfn ../../services "$root/rtad"
MYPYPATH="$root" exec .venv/bin/mypy -p rtad "$@"
