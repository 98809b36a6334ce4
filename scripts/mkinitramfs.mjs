// Build a gzip'd newc initramfs around a static busybox (used by scripts/fetch-linux.sh).
// Usage: node scripts/mkinitramfs.mjs BUSYBOX OUT.gz
//
// The /init it writes prints HYPEMU-INIT-OK, reads ONE line from the console,
// runs it with the shell, prints HYPEMU-CMD-DONE and powers off (reboot(2)
// POWER_OFF, i.e. PSCI SYSTEM_OFF). A test or a benchmark pipes the line in on
// the UART; `poweroff -f` or `true` gives a plain boot-and-off. A benchmark that
// wants no input at all adds `hypemu_cmd=true` to the kernel command line.
//
// newc format: Documentation/driver-api/early-userspace/buffer-format.rst:
// "070701", 13 eight-digit hex fields, the NUL-terminated name, padding to 4,
// the data, padding to 4; ends with the entry "TRAILER!!!".
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const [busyboxPath, out] = process.argv.slice(2);
if (!busyboxPath || !out) {
  process.stderr.write('usage: node scripts/mkinitramfs.mjs BUSYBOX OUT.gz\n');
  process.exit(64);
}

const INIT = `#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo HYPEMU-INIT-OK
# hypemu_cmd=WORD on the kernel command line (the kernel hands unknown
# key=value parameters to init as environment) replaces the console read.
if [ -n "$hypemu_cmd" ]; then cmd="$hypemu_cmd"; else read -r cmd; fi
eval "$cmd"
echo HYPEMU-CMD-DONE
poweroff -f
`;

const S_IFDIR = 0o040000, S_IFREG = 0o100000, S_IFLNK = 0o120000, S_IFCHR = 0o020000;
const entries = [
  { name: '.', mode: S_IFDIR | 0o755 },
  ...['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'dev', 'proc', 'sys', 'tmp', 'root'].map((name) => ({ name, mode: S_IFDIR | 0o755 })),
  { name: 'dev/console', mode: S_IFCHR | 0o600, rdev: [5, 1] },
  { name: 'bin/busybox', mode: S_IFREG | 0o755, data: readFileSync(busyboxPath) },
  { name: 'bin/sh', mode: S_IFLNK | 0o777, data: Buffer.from('busybox') },
  { name: 'init', mode: S_IFREG | 0o755, data: Buffer.from(INIT) },
  { name: 'TRAILER!!!', mode: 0 },
];

const parts = [];
let offset = 0;
const push = (b) => {
  parts.push(b);
  offset += b.length;
};
const pad4 = () => {
  if (offset % 4) push(Buffer.alloc(4 - (offset % 4)));
};
entries.forEach((e, i) => {
  const data = e.data ?? Buffer.alloc(0);
  const name = Buffer.from(e.name + '\0');
  const [rmaj, rmin] = e.rdev ?? [0, 0];
  const fields = [i + 1, e.mode, 0, 0, e.mode & S_IFDIR ? 2 : 1, 0, data.length, 0, 0, rmaj, rmin, name.length, 0];
  push(Buffer.from('070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join(''), 'ascii'));
  push(name);
  pad4();
  push(data);
  pad4();
});
writeFileSync(out, gzipSync(Buffer.concat(parts), { level: 9 }));
