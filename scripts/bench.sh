#!/usr/bin/env bash
# npm run bench: hypemu against QEMU on the same guests, in the same process tree.
# Arguments go to bench/bench.mjs: --runs N (default 3), --only CASE[,CASE], --json FILE.
# Installs Debian's qemu-system-arm when it is missing (QEMU is the reference).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v qemu-system-aarch64 >/dev/null 2>&1; then
  echo "bench: installing qemu-system-arm (the reference)" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends qemu-system-arm >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends qemu-system-arm >/dev/null; fi
fi
[ -f dist/cli/main.js ] || npm run build
# Every guest (a no-op when up to date); bench.mjs builds the tlb-storm variants.
make -s -C guest-images
exec node bench/bench.mjs "$@"
