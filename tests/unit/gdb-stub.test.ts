// The GDB stub over real TCP on 127.0.0.1 against the in-memory fake target: protocol
// commands (GDB manual Appendix E "Remote Serial Protocol"): queries and registers, memory,
// execution control. Monitor commands, session lifecycle and hostile input: gdb-stub-sessions.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { AARCH64_REGISTERS, regnumOf } from '../../emulator/debug/aarch64-registers.js';
import { TOY_HLT, TOY_LDR, TOY_STR } from './fake-target.js';
import { leHex, parseLeHex } from '../../emulator/debug/rsp.js';
import { CODE, PC, runCleanups, setup, handshake, pcHex } from './gdb-stub-setup.js';

afterEach(runCleanups);

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
