// @ts-check
// Benchmark cases on whole-system behaviour (issue 10): start-up, a Linux boot, counter polling,
// console throughput and a TLBI storm, each against QEMU measured in the same run. Wall times
// are best-of-N (bench.mjs); RSS is GNU time's peak RSS of that best run.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** @typedef {import('./bench-types.js').BenchCase} BenchCase */
/** @typedef {import('./bench-types.js').Command} Command */
/** @typedef {import('./bench-types.js').Measure} Measure */
/** @typedef {import('./bench-types.js').SystemContext} SystemContext */

const MiB = 1 << 20;
const UART_BYTES = 4 * MiB; // guest-images/src/uart-flood.c UART_FLOOD_BYTES
const TLBI_OPS = 100_000; // guest-images/src/tlbi-storm.c TLBI_STORM_OPS
/** QEMU for Linux as the issue measures it: no pointer auth / SVE (the kernel would use them; Unicorn's are slow). hypemu offers no pointer auth either unless --pauth. */
const LINUX_CPU = 'max,pauth=off,sve=off';

/** @param {number} x */
const sec = (x) => `${x.toFixed(2)} s`;
/** @param {Measure} m */
const cpuOf = (m) => (m.cpuSeconds === undefined || m.cpuSeconds === null ? '' : `, cpu ${m.cpuSeconds.toFixed(2)} s${m.sysSeconds === undefined ? '' : ` (sys ${m.sysSeconds.toFixed(2)})`}`);
/** Minor page faults of both emulators' best-CPU runs, when measured. @param {Measure} h @param {Measure} q */
const faultsOf = (h, q) => (h.minorFaults === undefined || q.minorFaults === undefined ? '' : `; minor faults ${(h.minorFaults / 1000).toFixed(1)}k vs ${(q.minorFaults / 1000).toFixed(1)}k`);
/** @param {number | null} kb */
const mb = (kb) => (kb === null || Number.isNaN(kb) ? '?' : `${Math.round(kb / 1024)} MB`);
/** @param {Measure} m @returns {m is Measure & { cpuSeconds: number }} */
const hasCpu = (m) => m.cpuSeconds !== undefined && m.cpuSeconds !== null;
/** ", cpu xN" (hypemu CPU s / QEMU CPU s), when both were measured: the steadier figure on a shared machine. @param {Measure} h @param {Measure} q */
const cpuRatio = (h, q) => (hasCpu(h) && hasCpu(q) && q.cpuSeconds > 0 ? `, x${(h.cpuSeconds / q.cpuSeconds).toFixed(2)} cpu` : '');
/** CPU seconds of a run net of its start-up baseline (both best-of-N), or null. @param {Measure} m @param {Measure} base */
const netCpu = (m, base) => (hasCpu(m) && hasCpu(base) ? m.cpuSeconds - base.cpuSeconds : null);
/** A command measured for peak RSS and CPU time too, with what its output must show. @param {Command} c @param {RegExp | null | undefined} expect @returns {Command} */
const rss = (c, expect) => ({ ...c, rss: true, expect });

/** scripts/fetch-linux.sh (cached): { KERNEL, INITRD, CMDLINE }. @param {string} root */
function fetchLinux(root) {
  const r = spawnSync('bash', [join(root, 'scripts/fetch-linux.sh')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench linux-boot: scripts/fetch-linux.sh exited ${r.status}:\n${r.stderr.slice(-800)}`);
  const env = spawnSync('bash', ['-c', `${r.stdout}\nprintf '%s\\0' "$KERNEL" "$INITRD" "$CMDLINE"`], { encoding: 'utf8' });
  const [KERNEL, INITRD, CMDLINE] = env.stdout.split('\0');
  return { KERNEL, INITRD, CMDLINE };
}

/** A raw image of three instructions: x0 = PSCI SYSTEM_OFF (0x8400_0008), HVC #0. @param {string} out */
function offImage(out) {
  mkdirSync(out, { recursive: true });
  const file = join(out, 'system-off.bin');
  const words = [0xd2800100, 0xf2b08000, 0xd4000002]; // movz x0,#8; movk x0,#0x8400,lsl #16; hvc #0
  const b = Buffer.alloc(12);
  words.forEach((w, i) => b.writeUInt32LE(w, i * 4));
  writeFileSync(file, b);
  return file;
}

/**
 * The whole-system cases, in the order bench.mjs runs and prints them.
 * @param {SystemContext} ctx
 * @returns {BenchCase[]}
 */
export function systemCases(ctx) {
  return [
    startupCase(ctx, 'startup', null, 'start-up: a 3-instruction raw guest (PSCI SYSTEM_OFF), default --mem 256M, process start to exit'),
    startupCase(ctx, 'startup-16g', '16G', 'start-up with --mem 16G (QEMU -m 256M)'),
    linuxBootCase(ctx),
    counterPollCase(ctx),
    uartCase(ctx),
    tlbiCase(ctx),
  ];
}

/**
 * Process start to exit of a guest that powers off at once, with the default or a large --mem.
 * @param {SystemContext} ctx @param {string} name @param {string | null} mem @param {string} what
 * @returns {BenchCase}
 */
function startupCase({ hypemu, qemu, OUT }, name, mem, what) {
  return {
    name,
    what,
    cmds: () => {
      const img = offImage(OUT);
      return {
        hypemu: rss(hypemu(img, ['--format', 'raw', ...(mem ? ['--mem', mem] : [])]), null),
        qemu: rss(qemu(img), null),
      };
    },
    compute: (m) => {
      const h = m.hypemu, q = m.qemu;
      const met = h.seconds <= 0.3 && (h.rssKb === null || h.rssKb <= 80 * 1024);
      return {
        rows: [{
          case: name,
          hypemu: `${sec(h.seconds)}, ${mb(h.rssKb)}${cpuOf(h)}`,
          qemu: `${sec(q.seconds)}, ${mb(q.rssKb)}${cpuOf(q)}`,
          figure: `x${(h.seconds / q.seconds).toFixed(2)} wall`,
          reference: `process start to exit of a 3-instruction guest (PSCI SYSTEM_OFF)${mem ? ` with --mem ${mem}` : ''}; target <= 0.3 s and <= 80 MB`,
          met,
        }],
        data: { hypemuSeconds: +h.seconds.toFixed(3), hypemuRssKb: h.rssKb, hypemuCpuSeconds: h.cpuSeconds, qemuSeconds: +q.seconds.toFixed(3), qemuRssKb: q.rssKb, qemuCpuSeconds: q.cpuSeconds, target: 'wall <= 0.3 s, RSS <= 80 MB', met },
      };
    },
  };
}

/** Linux to /init and power-off, against QEMU with the same kernel, initrd and command line. @param {SystemContext} ctx @returns {BenchCase} */
function linuxBootCase({ root, hypemu, qemu }) {
  return {
    name: 'linux-boot',
    what: 'Debian bookworm linux-image-6.1.0-*-cloud-arm64 + busybox-static initramfs (scripts/fetch-linux.sh) to /init, then power-off; QEMU -M virt -cpu max,pauth=off,sve=off, same kernel, initrd and command line',
    cmds: () => {
      const L = fetchLinux(root);
      const append = `${L.CMDLINE} hypemu_cmd=true`;
      return {
        hypemu: rss(hypemu(L.KERNEL, ['--initrd', L.INITRD, '--append', append]), /HYPEMU-CMD-DONE/),
        qemu: rss(
          { ...qemu(L.KERNEL), argv: ['qemu-system-aarch64', '-M', 'virt', '-cpu', LINUX_CPU, '-m', '256M', '-nographic', '-no-reboot', '-nic', 'none', '-kernel', L.KERNEL, '-initrd', L.INITRD, '-append', append] },
          /HYPEMU-CMD-DONE/,
        ),
      };
    },
    compute: (m) => {
      const h = m.hypemu, q = m.qemu;
      const wall = h.seconds / q.seconds;
      const mem = h.rssKb && q.rssKb ? h.rssKb / q.rssKb : NaN;
      const met = wall <= 2 && mem <= 1.5;
      const ex = h.stats.exits;
      return {
        rows: [{
          case: 'linux-boot',
          hypemu: `${sec(h.seconds)}, ${mb(h.rssKb)}${cpuOf(h)}`,
          qemu: `${sec(q.seconds)}, ${mb(q.rssKb)}${cpuOf(q)}`,
          figure: `x${wall.toFixed(2)} wall${cpuRatio(h, q)}, x${mem.toFixed(2)} RSS`,
          reference: `${(h.stats.instructions / 1e6).toFixed(0)}M instructions; exits ${ex.total}: ${Object.entries(ex.byReason).filter(([, n]) => n).map(([k, n]) => `${k} ${n}`).join(', ')}${faultsOf(h, q)}; target <= 2x wall, <= 1.5x RSS`,
          met,
        }],
        data: {
          hypemuSeconds: +h.seconds.toFixed(3), qemuSeconds: +q.seconds.toFixed(3), wallRatio: +wall.toFixed(2),
          hypemuRssKb: h.rssKb, qemuRssKb: q.rssKb, rssRatio: +mem.toFixed(2),
          hypemuCpuSeconds: h.cpuSeconds, qemuCpuSeconds: q.cpuSeconds,
          hypemuSysSeconds: h.sysSeconds, qemuSysSeconds: q.sysSeconds, hypemuMinorFaults: h.minorFaults, qemuMinorFaults: q.minorFaults,
          instructions: h.stats.instructions, virtualTimeNs: h.stats.virtualTimeNs, exits: ex, tlb: h.stats.tlb,
          target: 'wall <= 2x QEMU, RSS <= 1.5x QEMU', met,
        },
      };
    },
  };
}

/** A busy-wait on the virtual counter: virtual time against QEMU's real time. @param {SystemContext} ctx @returns {BenchCase} */
function counterPollCase({ guest, hypemu, qemu }) {
  return {
    name: 'counter-poll',
    what: 'counter-poll: a 100 ms busy-wait on CNTVCT_EL0 (virtual time on hypemu, QEMU default TCG in real time)',
    cmds: { hypemu: rss(hypemu(guest('counter-poll')), /PASS counter-poll/), qemu: rss(qemu(guest('counter-poll')), /PASS counter-poll/) },
    compute: (m) => {
      const h = m.hypemu, q = m.qemu;
      const r = h.seconds / q.seconds;
      return {
        rows: [{
          case: 'counter-poll',
          hypemu: `${sec(h.seconds)}${cpuOf(h)}`, qemu: `${sec(q.seconds)}${cpuOf(q)}`, figure: `x${r.toFixed(2)} wall${cpuRatio(h, q)}`,
          reference: `${h.stats.instructions} instructions, ${h.stats.counterWarp?.reads ?? '?'} warped counter reads; target <= 2x QEMU`,
          met: r <= 2,
        }],
        data: { hypemuSeconds: +h.seconds.toFixed(3), qemuSeconds: +q.seconds.toFixed(3), hypemuCpuSeconds: h.cpuSeconds, qemuCpuSeconds: q.cpuSeconds, ratio: +r.toFixed(2), instructions: h.stats.instructions, counterWarp: h.stats.counterWarp, target: 'wall <= 2x QEMU', met: r <= 2 },
      };
    },
  };
}

/** Console throughput through the PL011, net of start-up. @param {SystemContext} ctx @returns {BenchCase} */
function uartCase({ guest, hypemu, qemu }) {
  return {
    name: 'uart-throughput',
    what: 'uart-flood: 4 MiB through the PL011 (poll UARTFR, write UARTDR per byte) to stdout (a pipe); net of start-up (hello guest)',
    cmds: {
      hypemu: rss(hypemu(guest('uart-flood')), null), hBase: rss(hypemu(guest('hello')), null),
      qemu: rss(qemu(guest('uart-flood')), null), qBase: rss(qemu(guest('hello')), null),
    },
    compute: (m) => {
      const hs = Math.max(1e-3, m.hypemu.seconds - m.hBase.seconds), qs = Math.max(1e-3, m.qemu.seconds - m.qBase.seconds);
      const hm = UART_BYTES / MiB / hs, qm = UART_BYTES / MiB / qs;
      const hc = netCpu(m.hypemu, m.hBase), qc = netCpu(m.qemu, m.qBase);
      const hmCpu = hc === null ? null : UART_BYTES / MiB / Math.max(1e-3, hc);
      const qmCpu = qc === null ? null : UART_BYTES / MiB / Math.max(1e-3, qc);
      return {
        rows: [{
          case: 'uart-throughput',
          hypemu: `${hm.toFixed(2)} MiB/s${hmCpu === null ? '' : ` (cpu ${hmCpu.toFixed(2)})`}`, qemu: `${qm.toFixed(2)} MiB/s${qmCpu === null ? '' : ` (cpu ${qmCpu.toFixed(2)})`}`, figure: `x${(hm / qm).toFixed(1)}`,
          reference: `(${sec(m.hypemu.seconds)} - hello ${sec(m.hBase.seconds)}) vs QEMU (${sec(m.qemu.seconds)} - ${sec(m.qBase.seconds)}); by CPU time (user+sys, net of hello) in parentheses; MMIO exits ${m.hypemu.stats.exits.byReason.dabt_s2}; target >= 10 MiB/s`,
          met: hm >= 10,
        }],
        data: { hypemuMiBs: +hm.toFixed(3), qemuMiBs: +qm.toFixed(3), hypemuMiBsByCpu: hmCpu, qemuMiBsByCpu: qmCpu, hypemuSeconds: +m.hypemu.seconds.toFixed(3), qemuSeconds: +m.qemu.seconds.toFixed(3), exits: m.hypemu.stats.exits, target: '>= 10 MiB/s', met: hm >= 10 },
      };
    },
  };
}

/** Guest TLBIs run natively (HCR_EL2.TTLB clear), net of start-up. @param {SystemContext} ctx @returns {BenchCase} */
function tlbiCase({ guest, hypemu, qemu }) {
  return {
    name: 'tlbi-storm',
    what: `tlbi-storm: ${TLBI_OPS} x TLBI VALE1IS; DSB ISH; ISB (HCR_EL2.TTLB clear); net of start-up (hello guest)`,
    cmds: { hypemu: rss(hypemu(guest('tlbi-storm')), undefined), hBase: rss(hypemu(guest('hello')), null), qemu: rss(qemu(guest('tlbi-storm')), undefined), qBase: rss(qemu(guest('hello')), null) },
    compute: (m) => {
      const hus = (Math.max(0, m.hypemu.seconds - m.hBase.seconds) / TLBI_OPS) * 1e6;
      const qus = (Math.max(0, m.qemu.seconds - m.qBase.seconds) / TLBI_OPS) * 1e6;
      const hc = netCpu(m.hypemu, m.hBase), qc = netCpu(m.qemu, m.qBase);
      const husCpu = hc === null ? null : (Math.max(0, hc) / TLBI_OPS) * 1e6;
      const qusCpu = qc === null ? null : (Math.max(0, qc) / TLBI_OPS) * 1e6;
      const r = m.hypemu.seconds / m.qemu.seconds;
      return {
        rows: [{
          case: 'tlbi-storm',
          hypemu: `${hus.toFixed(2)} us/TLBI${husCpu === null ? '' : ` (cpu ${husCpu.toFixed(2)})`}`, qemu: `${qus.toFixed(2)} us/TLBI${qusCpu === null ? '' : ` (cpu ${qusCpu.toFixed(2)})`}`, figure: `x${r.toFixed(2)} wall (whole runs)${husCpu !== null && qusCpu ? `, x${(husCpu / qusCpu).toFixed(2)} cpu per TLBI` : ''}`,
          reference: `${sec(m.hypemu.seconds)} vs ${sec(m.qemu.seconds)}; by CPU time (user+sys, net of hello, 10 ms resolution) in parentheses; sysreg exits ${m.hypemu.stats.exits.byReason.sysreg}, world switches ${m.hypemu.stats.exits.worldSwitch}; target <= 2x QEMU wall`,
          met: r <= 2,
        }],
        data: { hypemuUsPerTlbi: +hus.toFixed(3), qemuUsPerTlbi: +qus.toFixed(3), hypemuUsPerTlbiByCpu: husCpu, qemuUsPerTlbiByCpu: qusCpu, wallRatio: +r.toFixed(2), exits: m.hypemu.stats.exits, target: 'wall <= 2x QEMU', met: r <= 2 },
      };
    },
  };
}
