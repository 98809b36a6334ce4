#!/usr/bin/env bash
# Runs the guest images under QEMU, the oracle for what they print.
#
#   scripts/guests-under-qemu.sh [guest...]     (default: every guest in guest-images/guests.list)
#
# Each guest's console goes to guest-images/build/qemu/<guest>.out (QEMU's own
# stderr to <guest>.err). Guests marked hypemu-only are skipped; qemu-el2
# and nested guests run with -M virt,virtualization=on,gic-version=3 (they start at EL2).
# A guest is OK when QEMU powers off by itself (the guest reached exit(),
# i.e. PSCI SYSTEM_OFF) within the timeout and printed no FAIL line. The exit
# status is not visible under QEMU; the console is. Exits 1 if any guest is not OK.
#
# Environment: QEMU (default qemu-system-aarch64), QEMU_TIMEOUT (seconds, default 60).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
gi="$root/guest-images"
out="$gi/build/qemu"
qemu="${QEMU:-qemu-system-aarch64}"
limit="${QEMU_TIMEOUT:-60}"

command -v "$qemu" >/dev/null || { echo "error: $qemu not found (run scripts/setup.sh)" >&2; exit 2; }
echo "building guests (make -C guest-images)" >&2
make -s -C "$gi" >&2
mkdir -p "$out"

declare -A wanted=()
for g in "$@"; do wanted[$g]=1; done

bad=0
ran=0
while read -r name where _; do
	[[ -z "$name" || "$name" == \#* ]] && continue
	if (($# > 0)) && [[ -z "${wanted[$name]:-}" ]]; then continue; fi
	unset "wanted[$name]"
	case "$where" in
	both) machine=virt ext=elf args=() ;;
	both-raw) machine=virt ext=bin args=(-append "hypemu $name") ;;
	smp) machine=virt,gic-version=3 ext=elf args=(-smp 4) ;;
	# gic-version=3: hypemu's board has a GICv3 (QEMU 7.2's virt defaults to a GICv2)
	qemu-el2 | nested) machine=virt,virtualization=on,gic-version=3 ext=elf args=() ;;
	hypemu-only)
		printf '%-16s SKIP    (hypemu only)\n' "$name"
		continue
		;;
	*) echo "error: guests.list: unknown placement '$where' for $name" >&2; exit 2 ;;
	esac
	rc=0
	t0=$(date +%s%N)
	timeout "$limit" "$qemu" -M "$machine" -cpu max -m 256M -nographic -nic none \
		-kernel "$gi/build/$name.$ext" "${args[@]}" </dev/null >"$out/$name.out" 2>"$out/$name.err" || rc=$?
	t1=$(date +%s%N)
	npass=$(grep -c '^PASS' "$out/$name.out" || true)
	nfail=$(grep -c '^FAIL' "$out/$name.out" || true)
	if ((rc == 124)); then
		verdict=TIMEOUT
	elif ((rc != 0)); then
		verdict="QEMU-RC-$rc"
	elif ((nfail > 0)); then
		verdict=FAIL
	else
		verdict=OK
	fi
	[[ "$verdict" == OK ]] || bad=1
	ran=$((ran + 1))
	printf '%-16s %-7s %3d PASS %3d FAIL %6.2fs  %s\n' "$name" "$verdict" "$npass" "$nfail" \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')" \
		"$(tail -n 1 "$out/$name.out" | tr -d '\r')"
done <"$gi/guests.list"

for g in "${!wanted[@]}"; do
	echo "error: no guest named '$g' in guest-images/guests.list" >&2
	bad=1
done
echo "$ran guest(s) run under QEMU; console output in ${out#"$root"/}/" >&2
exit "$bad"
