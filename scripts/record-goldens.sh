#!/usr/bin/env bash
# The suite of boots with golden checks (tests/examples/golden-suite, README "A suite of boots"):
# this list is its manifest. For each entry it records tests/examples/golden-suite/golden/NAME
# with `hypemu record` and writes the two-line vitest file NAME.test.ts that checks it.
#
#   scripts/record-goldens.sh            record every entry (after an intended change; review git diff)
#   scripts/record-goldens.sh demo-vhe   record the named entries only
#
# The goldens are committed, each with the image it was recorded from (--keep-image: golden/NAME/
# image.elf), so the suite checks the same bytes on every machine, whatever cross compiler built
# guest-images/ there: a check fails when a change alters what a guest or the EL2 model does, and
# names the first instruction where it did. Recording copies the images built here: build first
# (npm run build; make -C guest-images), then review git diff (a changed image.elf is a new build).
set -euo pipefail
cd "$(dirname "$0")/.."
G=guest-images/build
SUITE=tests/examples/golden-suite

# name               image and run options
ENTRIES=(
  "hello             $G/hello.elf"
  "demo-vhe          $G/demo.elf --mair-mangle"
  "demo-nvhe         $G/demo.elf --mair-mangle --hyp-mode nvhe --no-fast-path"
  "demo-s2-pages     $G/demo.elf --stage2-map page"
  "exceptions        $G/exceptions.elf"
  "mmu-on            $G/mmu-on.elf"
  "mmu-on-16k        $G/mmu-on-16k.elf"
  "mmu-on-64k        $G/mmu-on-64k.elf"
  "mmu-faults        $G/mmu-faults.elf"
  "el0-user          $G/el0-user.elf"
  "boot-mmu-dc       $G/boot-mmu-dc.elf --default-cacheable"
  "mair-uncached     $G/mair-uncached.elf --mair-mangle"
  "mmio-nc           $G/mmio-nc.elf --device-s2 normal-nc"
  "idregs            $G/idregs.elf"
  "boot-dtb-raw      $G/boot-dtb.bin --format raw --append 'hypemu boot-dtb'"
  "counter-poll      $G/counter-poll.elf"
  "pmu               $G/pmu.elf"
  "debug-events      $G/debug-events.elf"
  "timer-irq         $G/timer-irq.elf"
  "nested-l1         $G/nested-l1.elf --nested"
)

want=("$@")
for entry in "${ENTRIES[@]}"; do
  read -r name image opts <<<"$entry"
  if [ ${#want[@]} -gt 0 ] && [[ ! " ${want[*]} " == *" $name "* ]]; then continue; fi
  eval "args=($opts)" # the options are shell words ('hypemu boot-dtb' is one)
  node dist/cli/main.js record "$image" --golden "$SUITE/golden/$name" --keep-image "${args[@]}"
  test -f "$SUITE/$name.test.ts" || printf "import { goldenCheck } from './check.js';\n\ngoldenCheck('%s');\n" "$name" > "$SUITE/$name.test.ts"
done
