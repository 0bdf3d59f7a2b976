#!/bin/sh
# Slim a built virtual environment before it is copied into a runtime image: test suites,
# bytecode caches, C headers and sources, sample data, and pycountry's translations of
# country names (rtad checks ISO codes only) out. Shared libraries are left as
# the wheels ship them: many are patched by auditwheel, and `strip` corrupts patched files.
#   slim-venv.sh /opt/venv
set -eu
venv=${1:?usage: slim-venv.sh VENV}
site=$(echo "$venv"/lib/python3*/site-packages)
find "$site" -depth -type d \( -name tests -o -name __pycache__ \) -exec rm -rf {} +
rm -rf "$site"/pyarrow/include "$site"/pyarrow/src "$site"/numpy/_core/include \
  "$site"/pyspark/examples "$site"/pyspark/data "$site"/pycountry/locales
find "$site" -type f \( -name '*.pyx' -o -name '*.pxd' -o -name '*.c' -o -name '*.h' \
  -o -name '*.cpp' \) -delete
