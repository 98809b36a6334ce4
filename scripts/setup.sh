#!/usr/bin/env bash
# hypemu setup (npm run setup): everything a fresh Debian 12 machine needs, then
# one run of the emulator. Idempotent; a re-run only checks and skips.
#
#   1. apt packages: cross toolchain, QEMU (the oracle), gdb-multiarch
#   2. libunicorn >= 2.1 into vendor/unicorn/ (from Debian trixie, without
#      touching the system's apt configuration; see DESIGN.md)
#   3. npm ci when node_modules is missing or older than package-lock.json
#   4. npm run build (tsc)
#   5. make -C guest-images
#   6. node dist/cli/main.js run
#
# Progress goes to stderr. Environment: HYPEMU_SKIP_RUN=1 skips step 6.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "need root to run: $* (no sudo available)"
	fi
}

# ---------------------------------------------------------------- 1. apt packages
apt_packages=(gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-system-arm gdb-multiarch
	make debian-archive-keyring)
missing=()
for p in "${apt_packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if ((${#missing[@]})); then
	log "installing apt packages: ${missing[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
else
	log "apt packages present: ${apt_packages[*]}"
fi

# ---------------------------------------------------------------- 2. libunicorn >= 2.1
# Debian bookworm ships Unicorn 2.0.1 (no TLB hook); trixie's libunicorn2t64
# (2.1.x) depends only on libc6 >= 2.34 and runs here. A private sources list
# and private apt state under vendor/apt/ fetch it; the system apt config is
# never touched. The library ends at vendor/unicorn/usr/lib/<triplet>/libunicorn.so.2.
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

# ---------------------------------------------------------------- 3. npm ci
if [[ ! -d node_modules || ! -e node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
	log "npm ci (node_modules missing or older than package-lock.json)"
	mkdir -p vendor
	if ! npm ci --no-audit --no-fund >vendor/npm-ci.log 2>&1; then
		# The registry reachable here does not serve every optional platform
		# package of rollup, so package-lock.json lists only the linux ones and
		# npm 11's `npm ci` refuses it as "not in sync". `npm install` accepts
		# it and resolves to exactly the locked versions.
		grep -E '^npm error (code|`npm ci`|Missing)' vendor/npm-ci.log | head -n 4 >&2 || true
		log "npm ci refused the lock file (full log: vendor/npm-ci.log); falling back to npm install"
		cp package-lock.json vendor/package-lock.before-install.json
		npm install --no-audit --no-fund >&2
		if ! cmp -s package-lock.json vendor/package-lock.before-install.json; then
			log "warning: npm install changed package-lock.json (previous copy: vendor/package-lock.before-install.json)"
		fi
	fi
else
	log "node_modules up to date with package-lock.json"
fi
# npm may skip dependency install scripts; what we need works without them:
# koffi ships prebuilt binaries, vite's esbuild comes from its platform package.
node -e "require('koffi')" || die "koffi does not load (node_modules broken? try: rm -rf node_modules && npm run setup)"
node -e "require('esbuild').transformSync('let a = 1')" 2>/dev/null ||
	die "esbuild (used by vitest) does not run; try: rm -rf node_modules && npm run setup"

# ---------------------------------------------------------------- 4. build
log "npm run build (tsc)"
npm run --silent build >&2

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
