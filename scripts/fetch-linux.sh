#!/usr/bin/env bash
# Fetch a real arm64 Linux for benchmarks and CI, cached outside git:
#
#   .cache/linux/Image          Debian bookworm's linux-image-6.1.0-*-cloud-arm64-unsigned
#                               (an uncompressed arm64 Image: PL011, GICv3, arch timer, PSCI,
#                               initrd + gzip built in)
#   .cache/linux/initramfs.gz   gzip'd newc cpio: busybox-static (arm64) and an /init that
#                               prints HYPEMU-INIT-OK, runs one command line read from the
#                               console, prints HYPEMU-CMD-DONE and powers off (PSCI SYSTEM_OFF)
#   .cache/linux/cmdline        the kernel command line the test and the bench use
#   .cache/linux/VERSION        which packages these came from
#
# The packages are downloaded with `apt-get download` from a private sources list
# (bookworm main, arch=arm64) and private apt state under .cache/linux/apt; the
# system's apt configuration is never touched (the same approach as setup.sh's
# libunicorn fetch). Idempotent: a second run only prints the paths.
#
# Usage: scripts/fetch-linux.sh [--print]   (--print: only print the paths, fail if not cached)
# Prints three shell-quoted lines on stdout (eval "$(scripts/fetch-linux.sh)"): KERNEL=, INITRD=, CMDLINE=
# Exit status 0: ready; 3: Debian's arm64 packages could not be reached (callers skip);
# anything else: a real failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${HYPEMU_LINUX_CACHE:-$root/.cache/linux}"
log() { printf '[fetch-linux] %s\n' "$*" >&2; }
die() { printf '[fetch-linux] error: %s\n' "$*" >&2; exit "${2:-1}"; }

cmdline='console=ttyAMA0 rdinit=/init panic=-1'

print_paths() {
	printf 'KERNEL=%q\nINITRD=%q\nCMDLINE=%q\n' "$dir/Image" "$dir/initramfs.gz" "$(cat "$dir/cmdline")"
}

if [[ -s "$dir/Image" && -s "$dir/initramfs.gz" && -s "$dir/cmdline" && "$dir/initramfs.gz" -nt "$root/scripts/mkinitramfs.mjs" ]]; then
	print_paths
	exit 0
fi
[[ "${1:-}" == --print ]] && die "not cached yet: run scripts/fetch-linux.sh" 1

state="$dir/apt"
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/debs"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -e "$keyring" ]] || die "$keyring is missing (apt-get install debian-archive-keyring; npm run setup does it)"
cat >"$state/sources.list" <<SOURCES
deb [arch=arm64 signed-by=$keyring] http://deb.debian.org/debian bookworm main
SOURCES
: >"$state/status"
apt_private=(-q -o "Dir::Etc::sourcelist=$state/sources.list" -o Dir::Etc::sourceparts=/dev/null
	-o "Dir::State::Lists=$state/lists" -o "Dir::State::status=$state/status" -o "Dir::Cache=$state/cache"
	-o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o APT::Sandbox::User="$(id -un)")

log "apt-get update (private state in $state, bookworm main arm64)"
if ! apt-get "${apt_private[@]}" update >"$state/update.log" 2>&1 || grep -qE '^(W|E): Failed to fetch' "$state/update.log"; then
	tail -n 3 "$state/update.log" >&2
	die "cannot reach Debian's arm64 package lists (deb.debian.org)" 3
fi

# The newest 6.1.0-N cloud kernel in the list (the unsigned package holds the plain Image).
kpkg="$(apt-cache "${apt_private[@]}" pkgnames linux-image-6.1.0- 2>/dev/null | grep -E '^linux-image-6\.1\.0-[0-9]+-cloud-arm64-unsigned$' | sort -V | tail -n 1)"
[[ -n "$kpkg" ]] || die "no linux-image-6.1.0-*-cloud-arm64-unsigned in bookworm's arm64 list"

rm -f "$state"/debs/*.deb
log "apt-get download $kpkg busybox-static"
if ! (cd "$state/debs" && apt-get "${apt_private[@]}" download "$kpkg:arm64" "busybox-static:arm64" >"$state/download.log" 2>&1); then
	tail -n 3 "$state/download.log" >&2
	die "apt-get download failed" 3
fi

tmp="$(mktemp -d "$dir/x.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$state"/debs/linux-image-*.deb "$tmp/k"
dpkg-deb -x "$state"/debs/busybox-static_*.deb "$tmp/b"
kimg="$(ls "$tmp"/k/boot/vmlinuz-* | head -n 1)"
# An arm64 Image has the magic "ARM\x64" at offset 56 (Documentation/arm64/booting.rst).
[[ "$(dd if="$kimg" bs=1 skip=56 count=4 2>/dev/null)" == $'ARM\x64' ]] || die "$kimg is not an uncompressed arm64 Image"
cp "$kimg" "$dir/Image.tmp"
node "$root/scripts/mkinitramfs.mjs" "$tmp/b/bin/busybox" "$dir/initramfs.gz.tmp"
mv "$dir/Image.tmp" "$dir/Image"
mv "$dir/initramfs.gz.tmp" "$dir/initramfs.gz"
printf '%s\n' "$cmdline" >"$dir/cmdline"
{
	dpkg-deb -f "$state"/debs/linux-image-*.deb Package Version
	dpkg-deb -f "$state"/debs/busybox-static_*.deb Package Version
} >"$dir/VERSION"
log "ready: $(tr '\n' ' ' <"$dir/VERSION")"
print_paths
