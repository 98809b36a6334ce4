// The GDB stub over real TCP on 127.0.0.1 against the in-memory fake target: protocol
// commands (GDB manual Appendix E "Remote Serial Protocol"), execution control, monitor
// commands, session lifecycle, and hostile input.
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AARCH64_REGISTERS, regnumOf } from '../../emulator/debug/aarch64-registers.js';
import { FakeTarget, TOY_HLT, TOY_HVC, TOY_LDR, TOY_STR } from './fake-target.js';
import { DEFAULT_GDB_PORT, GdbStub, parseGdbPort, type GdbStubOptions } from '../../emulator/debug/gdbstub.js';
import { encodePacket, leHex, parseLeHex } from '../../emulator/debug/rsp.js';
import { RspClient } from './gdb-client.js';

const CODE = 0x4008_0000n;
const PC = regnumOf(AARCH64_REGISTERS, 'pc');

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function setup(opts: Partial<GdbStubOptions> = {}, sliceInstructions = 50) {
  const target = new FakeTarget({ sliceInstructions });
  target.map(0x4000_0000n, 0x10_0000);
  const logs: string[] = [];
  const stub = new GdbStub(target, { port: 0, waitForAttach: true, log: (l) => logs.push(l), ...opts });
  const port = await stub.listen();
  cleanups.push(() => target.kill()); // a free-running fake would otherwise spin on after the test
  cleanups.push(() => stub.close());
  const client = await RspClient.connect(port);
  cleanups.push(() => client.close());
  return { target, stub, port, client, logs };
}

async function handshake(client: RspClient): Promise<void> {
  const sup = await client.request('qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386;vContSupported+');
  expect(sup).toMatch(/PacketSize=[0-9a-f]+/);
  await client.startNoAck();
}

const pcHex = (pc: bigint): string => leHex(pc, 8);

describe('gdb stub: queries and registers', () => {
  it('answers qSupported with the advertised features', async () => {
    const { client } = await setup();
    const sup = await client.request('qSupported:swbreak+');
    expect(sup.split(';').sort()).toEqual(['PacketSize=4000', 'QStartNoAckMode+', 'qXfer:features:read+', 'vContSupported+']);
  });

  it('acks in ack mode, then stops acking after QStartNoAckMode', async () => {
    const { client } = await setup();
    client.send('qC');
    expect(await client.nextAck()).toBe('+');
    expect(await client.nextPacket()).toBe('QC1');
    await client.startNoAck();
    client.raw.length = 0;
    expect(await client.request('qC')).toBe('QC1');
    expect(Buffer.concat(client.raw).toString('latin1')).toBe('$QC1#c5');
  });

  it('serves target.xml in chunks with consecutive regnums for core, fpu and sysregs', async () => {
    const { client } = await setup();
    await handshake(client);
    let xml = '';
    for (;;) {
      const r = await client.request(`qXfer:features:read:target.xml:${xml.length.toString(16)},200`);
      expect(r[0]).toMatch(/[ml]/);
      xml += r.slice(1);
      if (r[0] === 'l') break;
    }
    expect(xml).toContain('<feature name="org.gnu.gdb.aarch64.core">');
    expect(xml).toContain('<feature name="org.gnu.gdb.aarch64.fpu">');
    expect(xml).toContain('<feature name="org.hypemu.sysregs">');
    const regnums = [...xml.matchAll(/<reg name="([^"]+)"[^>]*regnum="(\d+)"/g)].map((m) => [m[1], Number(m[2])] as const);
    expect(regnums.map(([, n]) => n)).toEqual(regnums.map((_, i) => i));
    const names = new Map(regnums);
    expect(names.get('x0')).toBe(0);
    expect(names.get('sp')).toBe(31);
    expect(names.get('pc')).toBe(32);
    expect(names.get('cpsr')).toBe(33);
    expect(names.get('v0')).toBe(34);
    expect(names.get('fpcr')).toBe(67);
    for (const r of ['sctlr_el1', 'ttbr0_el1', 'mair_el1', 'vbar_el1', 'esr_el1', 'cntvct_el0', 'currentel', 'hcr_el2', 'vttbr_el2', 'vtcr_el2', 'hpfar_el2', 'vbar_el2']) {
      expect(names.get(r)).toBeGreaterThan(67);
    }
    expect(await client.request('qXfer:features:read:target.xml:fffff,100')).toBe('l');
    expect(await client.request('qXfer:features:read:other.xml:0,100')).toBe('E00');
    expect(await client.request('qXfer:features:read:target.xml:zz,100')).toBe('E22');
  });

  it('reads the g set (core + fpu) and single registers, writes with G and P', async () => {
    const { client, target } = await setup();
    await handshake(client);
    target.setReg('x1', 0x1122334455667788n);
    target.setReg('v3', (0xdeadbeefn << 96n) | 1n);
    const g = await client.request('g');
    expect(g.length).toBe(2 * (31 * 8 + 8 + 8 + 4 + 32 * 16 + 4 + 4));
    expect(g.slice(16, 32)).toBe('8877665544332211');
    expect(g.slice(32 * 16, 33 * 16)).toBe(pcHex(CODE));
    expect(await client.request(`p${PC.toString(16)}`)).toBe(pcHex(CODE));
    const v3 = await client.request(`p${regnumOf(AARCH64_REGISTERS, 'v3').toString(16)}`);
    expect(parseLeHex(v3, 16)).toBe((0xdeadbeefn << 96n) | 1n);
    const hcr = regnumOf(AARCH64_REGISTERS, 'hcr_el2');
    expect(await client.request(`P${hcr.toString(16)}=${leHex(0x80000001n, 8)}`)).toBe('OK');
    expect(target.getReg('hcr_el2')).toBe(0x80000001n);
    expect(await client.request(`p${hcr.toString(16)}`)).toBe(leHex(0x80000001n, 8));
    // read-only register, wrong width, out-of-range regnum, non-hex
    expect(await client.request(`P${regnumOf(AARCH64_REGISTERS, 'currentel').toString(16)}=${leHex(0n, 8)}`)).toBe('E01');
    expect(await client.request(`P${hcr.toString(16)}=00`)).toBe('E22');
    expect(await client.request('p1000')).toBe('E22');
    expect(await client.request('pzz')).toBe('E22');
    expect(await client.request('P20')).toBe('E22');
    // G: write x0 only (short packet), leave the rest; 'xx' fields are skipped
    expect(await client.request('G' + leHex(42n, 8) + 'xx'.repeat(8))).toBe('OK');
    expect(target.getReg('x0')).toBe(42n);
    expect(target.getReg('x1')).toBe(0x1122334455667788n);
    expect(await client.request('G0')).toBe('E22');
    expect(await client.request('Gzz')).toBe('E22');
  });

  it('answers thread and misc queries', async () => {
    const { client } = await setup();
    await handshake(client);
    expect(await client.request('?')).toBe(`T05thread:01;20:${pcHex(CODE)};`);
    expect(await client.request('qAttached')).toBe('1');
    expect(await client.request('qfThreadInfo')).toBe('m1');
    expect(await client.request('qsThreadInfo')).toBe('l');
    expect(await client.request('Hg0')).toBe('OK');
    expect(await client.request('Hc-1')).toBe('OK');
    expect(await client.request('T1')).toBe('OK');
    expect(await client.request('qOffsets')).toBe('Text=0;Data=0;Bss=0');
    expect(await client.request('vCont?')).toBe('vCont;c;C;s;S');
    expect(await client.request('vMustReplyEmpty')).toBe('');
    expect(await client.request('qFoo')).toBe('');
    expect(await client.request('!')).toBe('');
    expect(await client.request('Z9,0,0')).toBe('');
  });
});

describe('gdb stub: memory', () => {
  it('reads, writes (M and binary X) and reports unmapped memory as E14', async () => {
    const { client, target } = await setup();
    await handshake(client);
    target.writeWords(CODE, [0xd503201f, 0x12345678]);
    expect(await client.request('m40080000,8')).toBe('1f2003d578563412');
    expect(await client.request('M40080010,4:aabbccdd')).toBe('OK');
    expect(await client.request('m40080010,4')).toBe('aabbccdd');
    // binary write with every byte that needs escaping
    const data = new Uint8Array([0x24, 0x23, 0x7d, 0x2a, 0x00, 0x03]);
    const xpkt = Buffer.concat([Buffer.from('X40080020,6:', 'latin1'), Buffer.from(data)]);
    expect(await client.request(xpkt)).toBe('OK');
    expect(await client.request('m40080020,6')).toBe('24237d2a0003');
    expect(await client.request('X40080020,0:')).toBe('OK');
    expect(await client.request('m0,4')).toBe('E14');
    expect(await client.request('M0,4:00000000')).toBe('E14');
    expect(await client.request('X0,1:a')).toBe('E14');
    // partial read up to the end of the mapping
    expect(await client.request('m400ffffe,4')).toBe('0000');
  });

  it('clamps huge lengths and rejects malformed requests without crashing', async () => {
    const { client } = await setup();
    await handshake(client);
    const r = await client.request('m40000000,ffffffff');
    expect(r.length).toBeLessThanOrEqual(0x4000);
    expect(r).toMatch(/^(00)+$/);
    expect(await client.request('mffffffffffffffff,ffff')).toBe('E14');
    expect(await client.request('m40000000,0')).toBe('E22');
    expect(await client.request('m4000000')).toBe('E22');
    expect(await client.request('mzz,4')).toBe('E22');
    expect(await client.request('m11111111111111111111,4')).toBe('E22');
    expect(await client.request('M40000000,4:abc')).toBe('E22'); // truncated hex
    expect(await client.request('M40000000,4:aabb')).toBe('E22'); // length mismatch
    expect(await client.request('M40000000,2:zzzz')).toBe('E22');
    expect(await client.request('M40000000,4')).toBe('E22');
    expect(await client.request('X40000000,4:ab')).toBe('E22');
    expect(await client.request('X40000000')).toBe('E22');
    expect(await client.request('qC')).toBe('QC1'); // still alive
  });
});

describe('gdb stub: execution', () => {
  it('stops at a Z0 breakpoint without patching memory, steps, and removes it', async () => {
    const { client, target } = await setup();
    await handshake(client);
    const before = await client.request('m40080000,40');
    expect(await client.request('Z0,40080010,4')).toBe('OK');
    expect(await client.request('m40080000,40')).toBe(before);
    expect(await client.request('c')).toBe(`T05thread:01;20:${pcHex(CODE + 0x10n)};`);
    expect(await client.request('s')).toBe(`T05thread:01;20:${pcHex(CODE + 0x14n)};`);
    expect(await client.request('vCont;s:1')).toBe(`T05thread:01;20:${pcHex(CODE + 0x18n)};`);
    expect(await client.request('z0,40080010,4')).toBe('OK');
    expect(await client.request('Z0,40080020,4')).toBe('OK');
    expect(await client.request('Z0,40080020,4')).toBe('OK'); // idempotent
    expect(await client.request('vCont;c')).toBe(`T05thread:01;20:${pcHex(CODE + 0x20n)};`);
    // continuing from a breakpoint runs the instruction under it first
    expect(await client.request('Z0,40080024,4')).toBe('OK');
    expect(await client.request('c')).toBe(`T05thread:01;20:${pcHex(CODE + 0x24n)};`);
    expect(target.breakpoints.size).toBe(2);
    // c with an address resumes there
    expect(await client.request('c40080020')).toBe(`T05thread:01;20:${pcHex(CODE + 0x24n)};`);
    expect(await client.request('cZZ')).toBe('E22');
    expect(await client.request('?')).toBe(`T05thread:01;20:${pcHex(CODE + 0x24n)};`);
  });

  it('reports write, read and access watchpoints with the address', async () => {
    const { client, target } = await setup();
    await handshake(client);
    target.writeWords(CODE, [0xd503201f, TOY_STR, TOY_LDR]);
    target.setReg('x1', 0xabcdn);
    target.setReg('x2', 0x4000_1000n);
    expect(await client.request('Z2,40001004,4')).toBe('OK');
    expect(await client.request('c')).toBe(`T05thread:01;20:${pcHex(CODE + 4n)};watch:40001004;`);
    expect(await client.request('z2,40001004,4')).toBe('OK');
    expect(await client.request('Z3,40001000,8')).toBe('OK');
    expect(await client.request('c')).toBe(`T05thread:01;20:${pcHex(CODE + 8n)};rwatch:40001000;`);
    expect(await client.request('m40001000,8')).toBe(leHex(0xabcdn, 8)); // the store ran
    expect(await client.request('z3,40001000,8')).toBe('OK');
    expect(await client.request('Z4,40001000,1')).toBe('OK');
    target.pc = CODE; // resume from the NOP: the STR after it is checked
    expect(await client.request('c')).toBe(`T05thread:01;20:${pcHex(CODE + 4n)};awatch:40001000;`);
    expect(await client.request('Z2,40001000,0')).toBe('E22');
  });

  it('interrupts a running guest on Ctrl-C (0x03) with SIGINT', async () => {
    const { client, target } = await setup();
    await handshake(client);
    client.send('c');
    expect(await client.silentFor(50)).toBe(true);
    expect(target.running).toBe(true);
    client.write('\x03');
    const stop = await client.nextPacket();
    expect(stop).toMatch(/^T02thread:01;20:[0-9a-f]{16};$/);
    expect(target.running).toBe(false);
    expect(target.instructions).toBeGreaterThan(0);
    // Ctrl-C while halted is ignored
    client.write('\x03');
    expect(await client.request('qC')).toBe('QC1');
  });

  it('queues packets that arrive while running and answers them after the stop', async () => {
    const { client } = await setup();
    await handshake(client);
    client.send('c');
    client.send('qC');
    await new Promise((r) => setTimeout(r, 20));
    client.write('\x03');
    expect(await client.nextPacket()).toMatch(/^T02/);
    expect(await client.nextPacket()).toBe('QC1');
  });

  it('reports a guest exit with W and ends the session', async () => {
    const { client, target, stub } = await setup();
    await handshake(client);
    target.writeWords(CODE, [0xd503201f, TOY_HLT]);
    target.setReg('x0', 3n);
    expect(await client.request('c')).toBe('W03');
    await client.waitClosed();
    expect(await stub.finished).toEqual({ kind: 'exited', exitCode: 3 });
  });

  it('kills the run on k', async () => {
    const { client, target, stub } = await setup();
    await handshake(client);
    client.send('k');
    expect(await stub.finished).toEqual({ kind: 'killed' });
    await client.waitClosed();
    expect(target.killed).toBe(true);
  });
});

describe('gdb stub: monitor commands', () => {
  it('lists commands with help text', async () => {
    const { client } = await setup();
    await handshake(client);
    const { text, reply } = await client.monitor('help');
    expect(reply).toBe('OK');
    for (const c of ['help', 'trap-break on|off [REASON...]', 'exits [N]', 'walk VA', 'tlb', 'stats']) expect(text).toContain(c);
    expect((await client.monitor('help walk')).text).toContain('translate a virtual address');
  });

  it('validates arguments before calling the target', async () => {
    const { client, target } = await setup();
    await handshake(client);
    expect((await client.monitor('trap-break maybe')).text).toContain("expected 'on' or 'off'");
    expect((await client.monitor('trap-break on hvc bogus')).text).toContain("unknown trap reason 'bogus'");
    expect(target.trapBreak.size).toBe(0);
    expect((await client.monitor('exits -3')).text).toContain('is not a count');
    expect((await client.monitor('walk nothex')).text).toContain('is not a 64-bit address');
    expect((await client.monitor('walk 0x10000000000000000')).text).toContain('is not a 64-bit address');
    expect((await client.monitor('tlb extra')).text).toContain('takes no arguments');
    expect((await client.monitor('frobnicate')).text).toContain("unknown monitor command 'frobnicate'");
    expect((await client.monitor('walk 0x40080000')).text).toBe('VA 0x40080000 -> PA 0x40080000 (fake target: identity, no MMU)\n');
    expect((await client.monitor('walk 1074266112')).text).toContain('VA 0x40080000 ->'); // decimal, like GDB
    expect((await client.monitor('walk 4008abcd')).text).toContain('is not a 64-bit address'); // bare hex is ambiguous
    expect((await client.monitor('tlb')).text).toContain('TLB');
    expect((await client.monitor('stats')).text).toContain('instructions: 0');
    expect((await client.monitor('exits 5')).text).toBe('no exits yet\n');
    expect(await client.request('qRcmd,zz')).toBe('E22');
  });

  it('trap-break stops on an EL2 exit with a console message, then continues past it', async () => {
    const { client, target } = await setup();
    await handshake(client);
    target.writeWords(CODE, [0xd503201f, TOY_HVC, 0xd503201f, TOY_HVC]);
    expect((await client.monitor('trap-break on hvc')).text).toBe('trap-break: on for hvc\n');
    client.send('c');
    const out = await client.nextPacket();
    expect(Buffer.from(out.slice(1), 'hex').toString()).toBe('hypemu: trap-break (hvc): HVC #0 at 0x40080004, ESR_EL2=0x5a000000\n');
    expect(await client.nextPacket()).toBe(`T05thread:01;20:${pcHex(CODE + 4n)};`);
    client.send('c');
    await client.nextPacket(); // O packet
    expect(await client.nextPacket()).toBe(`T05thread:01;20:${pcHex(CODE + 12n)};`);
    expect((await client.monitor('exits')).text).toBe('hvc #0 at 0x40080004\n');
    expect((await client.monitor('trap-break off')).text).toBe('trap-break: off\n');
  });
});

describe('gdb stub: sessions', () => {
  it('refuses a second connection while one is attached', async () => {
    const { client, port, logs } = await setup();
    await handshake(client);
    const second = await RspClient.connect(port);
    cleanups.push(() => second.close());
    await second.waitClosed();
    expect(logs.some((l) => l.includes('refused connection'))).toBe(true);
    expect(await client.request('qC')).toBe('QC1');
  });

  it('detaches: removes breakpoints, resumes the guest, accepts a new debugger that halts it', async () => {
    const { client, port, target } = await setup();
    await handshake(client);
    expect(await client.request('Z0,40080100,4')).toBe('OK');
    await client.monitor('trap-break on');
    expect(await client.request('D')).toBe('OK');
    await client.waitClosed();
    expect(target.breakpoints.size).toBe(0);
    expect(target.detachCount).toBe(1);
    expect(target.trapBreak.size).toBe(0);
    await new Promise((r) => setTimeout(r, 20));
    expect(target.running).toBe(true);
    // a new debugger attaching to the running guest halts it; its first packets wait for the stop
    const again = await RspClient.connect(port);
    cleanups.push(() => again.close());
    const sup = await again.request('qSupported');
    expect(sup).toContain('PacketSize');
    expect(target.running).toBe(false);
    expect(await again.request('?')).toMatch(/^T05thread:01;20:[0-9a-f]{16};$/);
  });

  it('without waitForAttach the guest runs before any debugger attaches', async () => {
    const target = new FakeTarget({ sliceInstructions: 10 });
    target.map(0x4000_0000n, 0x10_0000);
    const stub = new GdbStub(target, { port: 0 });
    const port = await stub.listen();
    cleanups.push(() => target.kill());
    cleanups.push(() => stub.close());
    await new Promise((r) => setTimeout(r, 20));
    expect(target.instructions).toBeGreaterThan(0);
    const client = await RspClient.connect(port);
    cleanups.push(() => client.close());
    await handshake(client);
    expect(await client.request('?')).toMatch(/^T05/);
    const n = target.instructions;
    await new Promise((r) => setTimeout(r, 20));
    expect(target.instructions).toBe(n);
  });

  it('a dropped connection counts as a detach', async () => {
    const { client, target } = await setup();
    await handshake(client);
    await client.request('Z0,40080100,4');
    client.close();
    for (let i = 0; i < 50 && !target.running; i++) await new Promise((r) => setTimeout(r, 10));
    expect(target.running).toBe(true);
    expect(target.breakpoints.size).toBe(0);
  });

  it('a guest exit with no debugger attached resolves finished', async () => {
    const target = new FakeTarget();
    target.map(0x4000_0000n, 0x10_0000);
    target.writeWords(CODE, [TOY_HLT]);
    target.setReg('x0', 7n);
    const stub = new GdbStub(target, { port: 0 });
    cleanups.push(() => stub.close());
    await stub.listen();
    expect(await stub.finished).toEqual({ kind: 'exited', exitCode: 7 });
  });

  it('reports a busy port clearly', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen({ host: '127.0.0.1', port: 0 }, () => r()));
    cleanups.push(() => new Promise<void>((r) => blocker.close(() => r())));
    const port = (blocker.address() as net.AddressInfo).port;
    const stub = new GdbStub(new FakeTarget(), { port, waitForAttach: true });
    await expect(stub.listen()).rejects.toThrow(`gdb: port ${port} on 127.0.0.1 is already in use`);
  });
});

describe('gdb stub: hostile input', () => {
  it('NAKs a bad checksum in ack mode and retransmits on NAK', async () => {
    const { client } = await setup();
    client.write('$qC#00');
    expect(await client.nextAck()).toBe('-');
    client.send('qC');
    expect(await client.nextAck()).toBe('+');
    expect(await client.nextPacket()).toBe('QC1');
    client.write('-');
    expect(await client.nextPacket()).toBe('QC1');
  });

  it('ignores bad checksums in no-ack mode', async () => {
    const { client } = await setup();
    await handshake(client);
    client.write('$qC#00');
    expect(await client.silentFor(50)).toBe(true);
    expect(await client.request('qC')).toBe('QC1');
  });

  it('answers oversized and malformed packets with an error and keeps going', async () => {
    const { client, target } = await setup({ packetSize: 0x400 });
    await handshake(client);
    expect(await client.request('M40000000,1000:' + '00'.repeat(0x1000))).toBe('E22');
    expect(await client.request('qC')).toBe('QC1');
    // escape at the very end
    client.write('$X40000000,1:}#' + ((0x58 + [...'40000000,1:}'].reduce((a, c) => a + c.charCodeAt(0), 0)) & 0xff).toString(16).padStart(2, '0'));
    expect(await client.nextPacket()).toBe('E22');
    // run-length encoded incoming packet: '0* ' is '0' plus 3 more copies -> m40080000,4
    target.writeWords(CODE, [0x11223344]);
    const body = 'm40080* ,4';
    const sum = [...body].reduce((a, c) => a + c.charCodeAt(0), 0) & 0xff;
    client.write(`$${body}#${sum.toString(16).padStart(2, '0')}`);
    expect(await client.nextPacket()).toBe('44332211');
  });

  it('survives garbage, truncated packets, empty packets and random streams', async () => {
    const { client } = await setup();
    await handshake(client);
    client.write('hello\r\n\x00\xff\xfe#12#$$$');
    client.write('$m4008'); // truncated, then a new packet resynchronises
    expect(await client.request('qC')).toBe('QC1');
    expect(await client.request('')).toBe('');
    expect(await client.request('Z0')).toBe('E22');
    expect(await client.request('Z0,zz,4')).toBe('E22');
    expect(await client.request('z2,0')).toBe('E22');
    expect(await client.request('P')).toBe('E22');
    expect(await client.request('vCont;x')).toBe('E22');
    expect(await client.request('vCont;')).toBe('E22');
    expect(await client.request('T7')).toBe('E22');
    let seed = 99;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 8;
    const noise = Buffer.alloc(4000);
    for (let i = 0; i < noise.length; i++) {
      const r = rnd() & 0xff;
      noise[i] = r === 3 || r === 0x2d ? 0x20 : r; // keep Ctrl-C and NAK out: they are meaningful
    }
    client.write(noise);
    client.write('#00'); // finish whatever frame the noise left open
    await new Promise((r) => setTimeout(r, 50));
    // drain whatever replies the noise produced, then check the stub still answers
    client.send('qAttached');
    for (let i = 0; i < 50; i++) if ((await client.nextPacket()) === '1') break;
    expect(await client.request('qC')).toBe('QC1');
  });

  it('keeps serving after a target method throws', async () => {
    const { client, target, logs } = await setup();
    await handshake(client);
    target.readMemory = () => {
      throw new Error('boom');
    };
    expect(await client.request('m40000000,4')).toBe('E01');
    expect(logs.some((l) => l.includes('boom'))).toBe(true);
    expect(await client.request('qC')).toBe('QC1');
  });

  it('caps the number of break/watchpoints a client can insert', async () => {
    const { client } = await setup();
    await handshake(client);
    let last = '';
    for (let i = 0; i <= 4096; i++) {
      last = await client.request(`Z0,${(0x1000 + i * 4).toString(16)},4`);
      if (last !== 'OK') break;
    }
    expect(last).toBe('E01');
    expect(await client.request('qC')).toBe('QC1');
  });

  it('applies backpressure to a client that pipelines requests without reading replies', async () => {
    const { client } = await setup();
    await handshake(client);
    client.socket.pause();
    const n = 600; // 600 x 16 KiB replies: far more than the stub buffers for one client
    const req = encodePacket('m40000000,2000');
    client.write(Buffer.concat(Array.from({ length: n }, () => req)));
    await new Promise((r) => setTimeout(r, 100));
    client.socket.resume();
    for (let i = 0; i < n; i++) expect((await client.nextPacket(5000)).length).toBe(2 * 8190); // clamped to fit PacketSize
    expect(await client.request('qC')).toBe('QC1');
  });

  it('parses the --gdb port option', () => {
    expect(parseGdbPort(undefined)).toBe(DEFAULT_GDB_PORT);
    expect(parseGdbPort(true)).toBe(1234);
    expect(parseGdbPort('4321')).toBe(4321);
    expect(() => parseGdbPort('0')).toThrow("--gdb: '0' is not a TCP port (1-65535)");
    expect(() => parseGdbPort('65536')).toThrow();
    expect(() => parseGdbPort('12ab')).toThrow();
  });

  it('frames every reply byte-exactly', () => {
    expect(encodePacket('T05thread:01;').toString('latin1')).toMatch(/^\$T05thread:01;#[0-9a-f]{2}$/);
  });
});
