#!/usr/bin/env bash
# hypemu setup (npm run setup): everything a fresh Debian 12 machine needs, then
# one run of the emulator. Idempotent: a re-run skips steps 1-3 when their result
# is there; steps 4 and 5 are incremental (tsc, make) and step 6 always runs.
#
#   0. Node.js >= 20
#   1. apt packages: cross toolchain, QEMU (the oracle), gdb-multiarch,
#      device-tree-compiler (dtc, used by the tests), make, gcc (the native filter)
#   2. libunicorn >= 2.1 into vendor/unicorn/ (from Debian trixie, without
#      touching the system's apt configuration; see DESIGN.md)
#   3. npm ci when node_modules is missing or older than package-lock.json
#      (package-lock.json is never rewritten)
#   4. the native helpers (emulator/unicorn/native/*.c: system-instruction filter,
#      TLB page flush, console window, fill cache, interrupt window) with cc into
#      vendor/native/; npm run build (tsc, then the CLI's single-file bundle and
#      its code cache from one trivial run: scripts/bundle.mjs)
#   5. make -C guest-images
#   6. node dist/cli/main.js run
#
# Progress goes to stderr. Environment: HYPEMU_SKIP_RUN=1 skips step 6;
# HYPEMU_LIBUNICORN=/path/to/libunicorn.so.2 (>= 2.1) replaces step 2.
# Without apt (not Debian) or without root, setup checks for the tools below
# and says what is missing instead of installing it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- 0. Node.js
command -v node >/dev/null || die "Node.js >= 20 is required (https://nodejs.org, or Debian's nodejs from bookworm-backports)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
((node_major >= 20)) || die "Node.js >= 20 is required; this is $(node --version) ($(command -v node))"

# ---------------------------------------------------------------- 1. apt packages
# Each Debian package, and a command that proves it is there (for systems without dpkg).
apt_packages=(gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-system-arm gdb-multiarch
	device-tree-compiler make gcc debian-archive-keyring)
declare -A probe=(
	[gcc-aarch64-linux-gnu]=aarch64-linux-gnu-gcc [binutils-aarch64-linux-gnu]=aarch64-linux-gnu-objcopy
	[qemu-system-arm]=qemu-system-aarch64 [gdb-multiarch]=gdb-multiarch [device-tree-compiler]=dtc
	[make]=make [gcc]=cc [debian-archive-keyring]='')
non_debian_help="On a system without apt, install the equivalents yourself: an aarch64-linux-gnu- cross
  gcc and binutils (CROSS=<prefix> make -C guest-images picks another prefix), qemu-system-aarch64,
  gdb-multiarch (a gdb with aarch64 support), dtc (device-tree-compiler), GNU make, and
  libunicorn >= 2.1 (Arch: unicorn; Homebrew: unicorn; or pip's unicorn wheel), then
  export HYPEMU_LIBUNICORN=/path/to/libunicorn.so.2 and re-run npm run setup."
if command -v dpkg-query >/dev/null && command -v apt-get >/dev/null; then
	missing=()
	for p in "${apt_packages[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	if ((${#missing[@]})); then
		if [[ $(id -u) -eq 0 ]]; then
			as_root=()
		elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
			as_root=(sudo)
		else
			die "missing apt packages: ${missing[*]}; setup needs root to install them. As root run:
  apt-get update && apt-get install --no-install-recommends ${missing[*]}
then run npm run setup again."
		fi
		log "installing apt packages: ${missing[*]}"
		"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
		"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
	else
		log "apt packages present: ${apt_packages[*]}"
	fi
else
	missing=()
	for p in "${apt_packages[@]}"; do
		[[ -z "${probe[$p]}" ]] || command -v "${probe[$p]}" >/dev/null || missing+=("${probe[$p]}")
	done
	((${#missing[@]} == 0)) || die "not a Debian system (no apt-get/dpkg) and these commands are missing: ${missing[*]}.
  $non_debian_help"
	[[ -n "${HYPEMU_LIBUNICORN:-}" ]] || die "not a Debian system: setup cannot fetch libunicorn from Debian trixie.
  $non_debian_help"
	log "not a Debian system: found ${probe[*]}; libunicorn from HYPEMU_LIBUNICORN=$HYPEMU_LIBUNICORN"
fi

# ---------------------------------------------------------------- 2. libunicorn >= 2.1
# Debian bookworm ships Unicorn 2.0.1 (no TLB hook); trixie's libunicorn2t64
# (2.1.x) depends only on libc6 >= 2.34 and runs here. A private sources list
# and private apt state under vendor/apt/ fetch it; the system apt config is
# never touched. The library ends at vendor/unicorn/usr/lib/<triplet>/libunicorn.so.2.
if [[ -n "${HYPEMU_LIBUNICORN:-}" ]]; then
	[[ -e "$HYPEMU_LIBUNICORN" ]] || die "HYPEMU_LIBUNICORN=$HYPEMU_LIBUNICORN does not exist"
	log "libunicorn from HYPEMU_LIBUNICORN=$HYPEMU_LIBUNICORN (version checked when hypemu loads it)"
else
arch="$(dpkg --print-architecture)"
case "$arch" in
amd64) triplet=x86_64-linux-gnu ;;
arm64) triplet=aarch64-linux-gnu ;;
*) triplet="$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)" || die "unsupported host architecture $arch" ;;
esac
unicorn_lib="vendor/unicorn/usr/lib/$triplet/libunicorn.so.2"
if [[ -e "$unicorn_lib" ]]; then
	log "libunicorn present: $unicorn_lib ($(cat vendor/unicorn/VERSION 2>/dev/null || echo 'version unknown'))"
else
	log "fetching libunicorn2t64 (>= 2.1) from Debian trixie into vendor/unicorn/"
	state="$root/vendor/apt"
	mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/debs"
	cat >"$state/sources.list" <<SOURCES
deb [arch=$arch signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
SOURCES
	apt_private=(-q -o "Dir::Etc::sourcelist=$state/sources.list" -o Dir::Etc::sourceparts=/dev/null
		-o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache" -o APT::Sandbox::User="$(id -un)")
	apt-get "${apt_private[@]}" update >&2
	rm -f "$state"/debs/libunicorn2t64_*.deb
	(cd "$state/debs" && apt-get "${apt_private[@]}" download "libunicorn2t64:$arch" >&2)
	deb="$(ls "$state"/debs/libunicorn2t64_*.deb)"
	version="$(dpkg-deb -f "$deb" Version)"
	dpkg --compare-versions "$version" ge 2.1 || die "libunicorn2t64 $version from trixie is older than 2.1"
	rm -rf vendor/unicorn.tmp
	dpkg-deb -x "$deb" vendor/unicorn.tmp
	echo "libunicorn2t64 $version (Debian trixie)" >vendor/unicorn.tmp/VERSION
	[[ -e "vendor/unicorn.tmp/usr/lib/$triplet/libunicorn.so.2" ]] || die "libunicorn.so.2 not found in $deb"
	rm -rf vendor/unicorn
	mv vendor/unicorn.tmp vendor/unicorn
	log "libunicorn $version installed: $unicorn_lib"
fi
fi

# ---------------------------------------------------------------- 3. npm ci
# package-lock.json is complete (every optional platform package of rollup and
# esbuild included), so `npm ci` accepts it and never writes it.
if [[ ! -d node_modules || ! -e node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
	log "npm ci (node_modules missing or older than package-lock.json)"
	npm ci --no-audit --no-fund >&2 || die "npm ci failed (see above); package-lock.json was not changed"
else
	log "node_modules up to date with package-lock.json"
fi
# npm may skip dependency install scripts; what we need works without them:
# koffi ships prebuilt binaries, vite's esbuild comes from its platform package.
node -e "require('koffi')" || die "koffi does not load (node_modules broken? try: rm -rf node_modules && npm run setup)"
node -e "require('esbuild').transformSync('let a = 1')" 2>/dev/null ||
	die "esbuild (the CLI bundle, vitest) does not run; try: rm -rf node_modules && npm run setup"

# ---------------------------------------------------------------- 4. build
# The native helpers (README "Architecture"), each rebuilt when its source is newer: the
# system-instruction filter (without it every MRS/MSR/SYS/SYSL crosses into JavaScript, with a
# warning), the page-granular TLB flush (without it a TLBI by VA flushes Unicorn's whole TLB) and
# the console window (uart-mmio: without it every PL011 access is an exit), the fill cache
# (fill-cache: without it every TLB fill goes to JavaScript), the interrupt window (irq-window:
# without it a masked pending interrupt is sliced in JavaScript) and the per-block instruction
# counter (insn-count: without it Unicorn counts every instruction). hypemu runs without any, but
# here a helper that does not compile fails the set-up. The same script is the npm package's
# postinstall: every emulator/unicorn/native/*.c is built, no list to keep.
log "native helpers (scripts/build-native.mjs)"
node scripts/build-native.mjs --strict
# After the native helpers: the bundle's code cache comes from a run that uses them.
log "npm run build (tsc, scripts/bundle.mjs) and type-check of tests/ and bench/"
npm run --silent build >&2
npm run --silent typecheck >&2

# ---------------------------------------------------------------- 5. guests
log "make -C guest-images"
make -s -C guest-images >&2

# ---------------------------------------------------------------- 6. run
if [[ "${HYPEMU_SKIP_RUN:-0}" == 1 ]]; then
	log "skipping the demo run (HYPEMU_SKIP_RUN=1)"
else
	log "node dist/cli/main.js run"
	node dist/cli/main.js run
fi
log "done"
