#!/usr/bin/env bash
# Wheels that scripts/device_check.py needs on a borrowed GPU machine, which has no package registry but already
# has torch 2.11, transformers 5.17, peft and accelerate (as its lender documents it).
#
# What cuma-lite's pyproject needs and that machine lacks: trl and datasets (+ datasets' dill and multiprocess),
# math-verify (+ latex2sympy2_extended, antlr4 runtime), and bitsandbytes for the 4-bit mode. A call carries at
# most 64 MiB including the working tree. Measured 2026-11: .whl 2 MiB, .whl-bnb 41 MiB, tracked tree 9 MiB, so
# both fit one call (carry both); should they outgrow it, carry .whl in one call and .whl-bnb in the next on the
# same warm machine (device_check.py installs into an ignored folder that stays there between calls):
#
#   .whl/      trl, datasets, math-verify and their missing dependencies
#   .whl-bnb/  bitsandbytes alone (the 4-bit mode)
#
# Usage (from the repo root, where pip reaches PyPI):  bash scripts/gather_device_wheels.sh
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
PIP=${PIP:-.venv/bin/pip}
LIMIT_MIB=64
PLATFORM=(--only-binary=:all: --python-version 3.12 --implementation cp
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64)

# The versions of the tested .venv (pip list there), so the device runs what the tests ran.
BASE=(trl==1.15.0 datasets==4.8.5 dill==0.4.1 multiprocess==0.70.19
  math-verify==0.9.0 latex2sympy2_extended==1.11.0 antlr4-python3-runtime==4.13.2)
BNB=(bitsandbytes==0.50.2)

for dir in .whl .whl-bnb; do  # ignored locally (.git/info/exclude), so they never enter a commit
  grep -qxF "/$dir/" .git/info/exclude 2>/dev/null || echo "/$dir/" >> .git/info/exclude
  rm -rf "$dir" && mkdir -p "$dir"
done
"$PIP" download -q --no-deps "${PLATFORM[@]}" -d .whl "${BASE[@]}"
"$PIP" download -q --no-deps "${PLATFORM[@]}" -d .whl-bnb "${BNB[@]}"

tree_kib=$(git ls-files -z | xargs -0 du -ck 2>/dev/null | tail -1 | cut -f1)
status=0
for dir in .whl .whl-bnb; do
  kib=$(du -sk "$dir" | cut -f1)
  total=$(( (kib + tree_kib) / 1024 ))
  printf '%-9s %6.1f MiB of wheels + %5.1f MiB tracked tree = %3d MiB (limit %d)\n' \
    "$dir" "$(echo "$kib/1024" | bc -l)" "$(echo "$tree_kib/1024" | bc -l)" "$total" "$LIMIT_MIB"
  ls -1 "$dir" | sed 's/^/    /'
  if (( total >= LIMIT_MIB )); then echo "  !! $dir does not fit in one call"; status=1; fi
done
both=$(( ($(du -sk .whl .whl-bnb | awk '{s+=$1} END {print s}') + tree_kib) / 1024 ))
if (( both < LIMIT_MIB )); then echo "both folders fit one call: $both MiB"; else echo "two calls: $both MiB together"; fi
exit $status
