// The GDB stub over real TCP on 127.0.0.1 against the in-memory fake target: monitor commands,
// session lifecycle, and hostile input (GDB manual Appendix E "Remote Serial Protocol").
// Queries, registers, memory and execution control: gdb-stub.test.ts.
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeTarget, TOY_HLT, TOY_HVC } from './fake-target.js';
import { DEFAULT_GDB_PORT, GdbStub, parseGdbPort } from '../../emulator/debug/gdbstub.js';
import { encodePacket } from '../../emulator/debug/rsp.js';
import { RspClient } from './gdb-client.js';
import { CODE, cleanups, runCleanups, setup, handshake, pcHex } from './gdb-stub-setup.js';

afterEach(runCleanups);

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
