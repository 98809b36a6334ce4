/**
 * Typed wrapper over libunicorn for AArch64. Nothing outside emulator/unicorn/
 * sees koffi: callers get numbers, bigints, typed arrays and plain callbacks.
 *
 * Facts this wrapper relies on (measured, see DESIGN.md):
 * - UC_TLB_VIRTUAL + UC_HOOK_TLB_FILL make our MMU model the only translator;
 *   the hook sees 1 KiB-aligned VAs; returning false stops uc_emu_start with
 *   UC_ERR_EXCEPTION with PC at the faulting instruction.
 * - koffi gives a uint64 callback argument as a Number when it is a safe integer
 *   and as a BigInt otherwise: normalised here, once.
 *
 * Size (~1400 lines), why it stays whole: this is the FFI boundary the layering rule allows
 * (ffi.ts only declares the native signatures). Nearly every method is a short typed wrapper
 * over one uc_* or native-helper call on the same handle, scratch buffers and `keep` list
 * (the koffi callbacks that must stay referenced until close()), so the class cannot be cut
 * without exporting that private state. The free-standing parts at the end (the
 * emu_counter probe and RegBatch, and the block-count and fill-index calibrations) are
 * candidates to move to their own files in emulator/unicorn/.
 */
import {
  CodeCb,
  MemHookCb,
  InsnSysCb,
  IntrCb,
  MmioReadCb,
  MmioWriteCb,
  TlbFillCb,
  pointerAt,
  koffi,
  libcMemory,
  sysInsnFilterLib,
  sysInsnBitmapsOff,
  tlbFlushLib,
  nativeTlbLib,
  fillCacheLib,
  insnCountLib,
  type FillCacheLib,
  irqWindowLib,
  uartMmioLib,
  UartSlowCb,
  UartFlushCb,
  unicorn,
  type UnicornApi,
  type UnicornCodeApi,
} from './ffi.js';
import { logger as log } from '../log.js';
import { TlbiFront } from './tlbi-front.js';
import { BlockCounter, type BlockCountOffsets } from './block-count.js';

/** Copy a uc_arm64_cp_reg (crn, crm, op0, op1, op2 as uint32, then the uint64 value at offset 24) into the reused view. */
function readCpReg(view: CpRegView, u32: Uint32Array, u64: BigUint64Array): CpRegView {
  view.crn = u32[0]!;
  view.crm = u32[1]!;
  view.op0 = u32[2]!;
  view.op1 = u32[3]!;
  view.op2 = u32[4]!;
  view.val = u64[0]!;
  return view;
}

/** 32-bit word of native/fill-cache.c's shared header: `enabled`. */
const ENABLED = 2;
/** 32-bit word of the same header: `siblings` (a library without it has an unused pad word there). */
const SIBLINGS = 15;

/** The missing-filter warning is printed once per process. */
let filterWarned = false;

/** Unicorn register ids for arm64 (from unicorn/arm64.h, Unicorn 2.1). */
export const Reg = {
  X29: 1,
  X30: 2,
  NZCV: 3,
  SP: 4,
  Q0: 104,
  X0: 199,
  V0: 228,
  PC: 260,
  TPIDR_EL0: 262,
  TPIDRRO_EL0: 263,
  TPIDR_EL1: 264,
  PSTATE: 265,
  ELR_EL1: 267,
  SP_EL0: 270,
  SP_EL1: 271,
  TTBR0_EL1: 274,
  TTBR1_EL1: 275,
  ESR_EL1: 277,
  FAR_EL1: 281,
  MAIR_EL1: 285,
  VBAR_EL1: 287,
  CP_REG: 290,
  FPCR: 291,
  FPSR: 292,
} as const;

/** Unicorn register id of general-purpose register Xn (n = 0..30). */
export function xreg(n: number): number {
  if (n < 29) return Reg.X0 + n;
  return n === 29 ? Reg.X29 : Reg.X30;
}

export const UC_ERR_OK = 0;
export const UC_ERR_EXCEPTION = 21;
const UC_ARCH_ARM64 = 2;
const UC_MODE_ARM = 0;
const UC_CPU_ARM64_MAX = 3;
const UC_TLB_VIRTUAL = 1;
// UC_CTL_WRITE(type, nr) = type | nr << 26 | 1 << 30 (unicorn.h)
const ctlWrite = (type: number, nr: number) => (type | (nr << 26) | (1 << 30)) >>> 0;
const UC_CTL_CPU_MODEL = 7;
const UC_CTL_TB_REMOVE_CACHE = 9;
const UC_CTL_TB_FLUSH = 10;
const UC_CTL_TLB_FLUSH = 11;
const UC_CTL_TLB_TYPE = 12;

/** UC_CTL_UC_USE_EXITS (unicorn.h): uc_emu_start's `until` is ignored; exits come from a list we leave empty. */
const UC_CTL_UC_USE_EXITS = 4;

const UC_HOOK_INTR = 1 << 0;
const UC_HOOK_INSN = 1 << 1;
const UC_HOOK_CODE = 1 << 2;
const UC_HOOK_BLOCK = 1 << 3;
const UC_HOOK_MEM_READ = 1 << 10;
const UC_HOOK_MEM_WRITE = 1 << 11;
const UC_HOOK_TLB_FILL = 1 << 17;

/** uc_mem_type values passed to the TLB-fill hook. */
export const MemAccess = { READ: 16, WRITE: 17, FETCH: 18 } as const;
export type MemAccessType = (typeof MemAccess)[keyof typeof MemAccess];
/** uc_prot bits. */
export const Prot = { NONE: 0, READ: 1, WRITE: 2, EXEC: 4, ALL: 7 } as const;

/** The system-instruction kinds UC_HOOK_INSN can report (UC_ARM64_INS_*). */
export const SysInsn = { MRS: 1, MSR: 2, SYS: 3, SYSL: 4 } as const;
export type SysInsnKind = (typeof SysInsn)[keyof typeof SysInsn];

/** See Unicorn.interruptWindow. */
export interface InterruptWindow {
  /** [0]: the window stopped the CPU since the caller last cleared it. */
  readonly fired: Uint32Array;
  /** Raise or lower CPU_INTERRUPT_HARD (an FFI call only when it changes); never inside uc_emu_start. */
  raise(on: boolean): void;
}

export class UnicornError extends Error {
  override name = 'UnicornError';
  constructor(
    readonly fn: string,
    readonly code: number,
    message: string,
  ) {
    super(`${fn}: ${message}`);
  }
}

/** Encoding of a system register as Unicorn's uc_arm64_cp_reg wants it. */
export interface SysregEncoding {
  op0: number;
  op1: number;
  crn: number;
  crm: number;
  op2: number;
}

/** Shared host memory that both Unicorn and TypeScript read and write. */
export interface SharedBlock {
  /** Opaque native pointer (keep alive as long as the mapping). */
  readonly ptr: unknown;
  readonly size: number;
  /** How many views cover the block (see segment). */
  readonly segmentCount: number;
  /**
   * View i of the block: bytes [i * SHARED_SEGMENT, (i + 1) * SHARED_SEGMENT)
   * (the last may be shorter). V8 caps one view at 4 GiB and guest RAM goes to
   * 1 TiB; views are made on first use (each costs V8 some external-memory
   * bookkeeping, ~3 ms per GiB), so a 16 GiB guest pays for what TypeScript reads.
   */
  segment(i: number): Uint8Array;
  /** The first segment: the whole block when it fits one (every block but large RAM). */
  readonly bytes: Uint8Array;
}

/** Bytes per view of a shared block (1 GiB: a multiple of every page size, well under V8's 4 GiB cap). */
export const SHARED_SEGMENT = 2 ** 30;

let resetDirtyPatched = false;
/**
 * Once per process: tb_gen_code's scan of every TLB entry after each translated block becomes a
 * flush of that block's pages (native/tlb-flush.c says why that is equivalent). Without the
 * native library, or with $HYPEMU_RESET_DIRTY=off (a measurement baseline), Unicorn scans.
 */
function patchResetDirty(): void {
  if (resetDirtyPatched || process.env.HYPEMU_RESET_DIRTY === 'off') return;
  resetDirtyPatched = true;
  const patch = nativeTlbLib()?.patchResetDirty ?? null;
  const rc = patch === null ? 'not built' : patch();
  if (rc !== 0) log.debug({ rc }, 'tb_gen_code keeps Unicorn\'s whole-TLB dirty scan');
}

/** Host memory could not be reserved (mmap failed): a user error when the size came from --mem. */
export class HostMemoryError extends Error {
  override name = 'HostMemoryError';
}

const PROT_READ_WRITE = 3;
const MAP_PRIVATE = 0x02;
const MAP_ANONYMOUS = 0x20;
const MAP_NORESERVE = 0x4000;
const MADV_DONTNEED = 4;
const MAP_FIXED = 0x10;
const ENOMEM = 12;

/** Fields of the uc_arm64_cp_reg a system-instruction hook receives, decoded without allocation. */
export interface CpRegView {
  op0: number;
  op1: number;
  crn: number;
  crm: number;
  op2: number;
  /** The value (for MSR: what the guest writes); bigint because sysregs are 64-bit. */
  val: bigint;
}

export type TlbFillHandler = (vaddrPage: number, type: MemAccessType) => { pa: number; perms: number } | null;
/**
 * Return true to skip the instruction (the handler must then advance PC itself, take an
 * exception, or stop the CPU: see onSysInsn).
 */
export type SysInsnHandler = (rtRegId: number, cp: CpRegView) => boolean;
export type InterruptHandler = (intno: number) => void;
export type CodeHandler = (address: number, size: number) => void;
export type MmioRead = (offset: number, size: number) => number | bigint;
/** A UART access the native window does not complete itself: returns what a read gets (the low 32 bits). */
export type NativeUartSlow = (offset: number, size: number, write: boolean, value: number) => number;
/** Views of the native console window's shared struct (native/uart-mmio.c hypemu_uart). */
export interface NativeUart {
  /** [0] flags (1: UARTDR writes to the ring, 2: UARTFR reads from [1]), [1] UARTFR, [2] bytes in the ring, [3] flush threshold */
  readonly ctl: Uint32Array;
  /** [0] UARTDR writes, [1] UARTFR reads completed natively */
  readonly counters: BigUint64Array;
  readonly ring: Uint8Array;
}
export type MmioWrite = (offset: number, size: number, value: bigint) => void;

/**
 * Addresses cross the FFI as uint64. In TypeScript a virtual address is held
 * as a number in its *signed* 64-bit reading, so every canonical VA (upper
 * bits all ones, as kernel addresses are) is an exact double: 0xffff_8000_0000_1000
 * is -0x7fff_ffff_f000. See emulator/types.ts.
 */
function toNum(v: number | bigint): number {
  return typeof v === 'number' ? v : Number(BigInt.asIntN(64, v));
}
function toU64(v: number | bigint): number | bigint {
  if (typeof v === 'bigint') return BigInt.asUintN(64, v);
  return v < 0 ? BigInt.asUintN(64, BigInt(v)) : v;
}

export class Unicorn {
  private readonly api: UnicornApi;
  private readonly code: UnicornCodeApi | null;
  /** RAM address (QEMU's ram_addr_t) of each mapped block's first byte, for invalidateCode. */
  private readonly ramAddrs = new Map<SharedBlock, number>();
  private handle: unknown;
  /** Everything registered with koffi stays referenced here until close(). */
  private readonly keep: unknown[] = [];
  /** The native filter of each system-instruction hook kind (SysInsn - 1), when loaded. */
  private readonly sysFilters: unknown[] = [null, null, null, null];
  private readonly hooks: number[] = [];
  /** Blocks mapped into this instance: their pages are released at close(). */
  private readonly mapped: SharedBlock[] = [];
  // Scratch buffers so that register access allocates nothing per call.
  private readonly scratch = new BigUint64Array(2);
  private readonly scratch32 = new Uint32Array(this.scratch.buffer);
  private readonly cpBuf = new ArrayBuffer(32);
  private readonly cpU32 = new Uint32Array(this.cpBuf);
  private readonly cpU64 = new BigUint64Array(this.cpBuf);
  private readonly qBuf = new Uint8Array(16);
  readonly version: [number, number];
  readonly libraryPath: string;

  constructor() {
    const { api, code, path, version } = unicorn();
    this.api = api;
    this.code = code;
    this.version = version;
    this.libraryPath = path;
    const out: unknown[] = [null];
    this.check('uc_open', api.uc_open(UC_ARCH_ARM64, UC_MODE_ARM, out));
    this.handle = out[0];
    this.check('uc_ctl(CPU_MODEL)', api.uc_ctl(this.handle, ctlWrite(UC_CTL_CPU_MODEL, 1), 'int', UC_CPU_ARM64_MAX));
    this.check('uc_ctl(TLB_TYPE)', api.uc_ctl(this.handle, ctlWrite(UC_CTL_TLB_TYPE, 1), 'int', UC_TLB_VIRTUAL));
    // No stop address: with `until` set, Unicorn compiles a stop into any
    // block starting there and, after every slice, looks the address up
    // through the TLB-fill hook to invalidate that block (2.1.1's
    // resume_all_vcpus); every address is one some guest can reach, so a
    // sentinel page showed through the top 1 KiB of the VA space and a branch
    // there spun forever. With exits enabled and the list empty, slices end by
    // instruction count or uc_emu_stop only (DESIGN.md).
    this.check('uc_ctl(USE_EXITS)', api.uc_ctl(this.handle, ctlWrite(UC_CTL_UC_USE_EXITS, 1), 'int', 1));
    patchResetDirty();
  }

  private check(fn: string, code: number): void {
    if (code !== UC_ERR_OK) throw new UnicornError(fn, code, this.api.uc_strerror(code) as string);
  }

  strerror(code: number): string {
    return this.api.uc_strerror(code) as string;
  }

  // ---------------------------------------------------------------- registers

  regRead(id: number): bigint {
    this.check('uc_reg_read', this.api.uc_reg_read(this.handle, id, this.scratch));
    return this.scratch[0]!;
  }

  /** Read a register holding an address, in the signed reading (exact for canonical VAs). */
  regReadNum(id: number): number {
    this.api.uc_reg_read(this.handle, id, this.scratch);
    return (this.scratch32[1]! | 0) * 0x1_0000_0000 + this.scratch32[0]!;
  }

  /** Read the low 32 bits of a register (no BigInt). */
  regRead32(id: number): number {
    this.api.uc_reg_read(this.handle, id, this.scratch);
    return this.scratch32[0]!;
  }

  regWrite(id: number, value: bigint | number): void {
    if (typeof value === 'number') {
      this.scratch32[0] = value >>> 0;
      this.scratch32[1] = Math.floor(value / 0x1_0000_0000) >>> 0;
    } else {
      this.scratch[0] = BigInt.asUintN(64, value);
    }
    this.check('uc_reg_write', this.api.uc_reg_write(this.handle, id, this.scratch));
    if (id === Reg.PC) this.flowEpoch++;
  }

  /**
   * Bumped by every PC write and stop request: Unicorn then leaves its run of translated code
   * (quit_request / stop_request), which a skipping system-instruction hook must do at once
   * (onSysInsn).
   */
  private flowEpoch = 0;

  /** 128-bit SIMD register Vn as 16 little-endian bytes (a copy). */
  vregRead(n: number): Uint8Array {
    this.check('uc_reg_read(Q)', this.api.uc_reg_read(this.handle, Reg.Q0 + n, this.qBuf));
    return this.qBuf.slice();
  }

  vregWrite(n: number, bytes: Uint8Array): void {
    this.qBuf.set(bytes.subarray(0, 16));
    this.check('uc_reg_write(Q)', this.api.uc_reg_write(this.handle, Reg.Q0 + n, this.qBuf));
  }

  private cpSet(e: SysregEncoding): void {
    const u = this.cpU32;
    u[0] = e.crn;
    u[1] = e.crm;
    u[2] = e.op0;
    u[3] = e.op1;
    u[4] = e.op2;
  }

  /**
   * Read a system register by encoding through UC_ARM64_REG_CP_REG. Returns
   * null when QEMU does not implement that register (Unicorn says UC_ERR_ARG).
   */
  sysregRead(e: SysregEncoding): bigint | null {
    this.cpSet(e);
    this.cpU64[3] = 0n;
    const rc = this.api.uc_reg_read(this.handle, Reg.CP_REG, this.cpBuf);
    return rc === UC_ERR_OK ? this.cpU64[3]! : null;
  }

  /**
   * Write a system register by encoding. A CP_REG write also rebuilds QEMU's
   * cached translation flags (DESIGN.md), which a PSTATE write does not.
   * Returns false when QEMU does not implement the register.
   */
  sysregWrite(e: SysregEncoding, value: bigint): boolean {
    this.cpSet(e);
    this.cpU64[3] = BigInt.asUintN(64, value);
    return this.api.uc_reg_write(this.handle, Reg.CP_REG, this.cpBuf) === UC_ERR_OK;
  }

  /**
   * A fixed set of registers read or written in one FFI call each way
   * (uc_reg_read_batch / uc_reg_write_batch): what a world switch needs to
   * move a whole guest context without a hundred round trips.
   */
  createBatch(regs: readonly BatchReg[]): RegBatch {
    return new RegBatch(this.api, () => this.handle, regs, () => this.flowEpoch++);
  }

  // ------------------------------------------------------------------- memory

  /**
   * Reserve zeroed host memory that can be mapped into the guest and viewed
   * from TypeScript without copies: an anonymous private mapping (MAP_NORESERVE),
   * which costs nothing until touched; the OS zero-fills each page on first use.
   */
  static allocShared(size: number): SharedBlock {
    const libc = libcMemory();
    const ptr = libc.mmap(null, size, PROT_READ_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    const raw = BigInt(koffi.address(ptr) as bigint | number);
    if (raw === 0n || raw === 0xffff_ffff_ffff_ffffn) { // MAP_FAILED is (void *)-1
      const errno = libc.errno();
      throw new HostMemoryError(`cannot reserve ${size} bytes of host memory (mmap: ${errno === ENOMEM ? 'out of memory or address space' : `errno ${errno}`})`);
    }
    const segmentCount = Math.ceil(size / SHARED_SEGMENT);
    const views: Array<Uint8Array | undefined> = new Array(segmentCount);
    const segment = (i: number): Uint8Array => {
      let v = views[i];
      if (v === undefined) {
        if (!(i >= 0 && i < segmentCount)) throw new RangeError(`segment ${i} of a ${segmentCount}-segment block`);
        const off = i * SHARED_SEGMENT;
        v = new Uint8Array(koffi.view(off === 0 ? ptr : pointerAt(Number(raw) + off), Math.min(SHARED_SEGMENT, size - off)));
        views[i] = v;
      }
      return v;
    };
    return { ptr, size, segmentCount, segment, get bytes() { return segment(0); } };
  }

  /**
   * Give a block's pages back to the OS (after close). The mapping itself
   * stays, so a view still held somewhere reads zeros rather than faulting.
   */
  static releaseShared(block: SharedBlock): void {
    libcMemory().madvise(block.ptr, block.size, MADV_DONTNEED);
  }

  /**
   * Replace bytes [offset, offset + length) of a block (page-aligned) by a private copy-on-write
   * mapping of `length` bytes of file `fd` at `fileOffset` (mmap MAP_PRIVATE | MAP_FIXED): the
   * host addresses stay the same, so Unicorn's mapping and every view remain valid, and the OS
   * reads each page from the file when it is first touched (a snapshot restore copies nothing).
   * Returns false when the OS refuses (then the caller reads the bytes in).
   */
  static mapFileInto(block: SharedBlock, offset: number, length: number, fd: number, fileOffset: number): boolean {
    if (offset < 0 || length <= 0 || offset + length > block.size || offset % 4096 !== 0 || fileOffset % 4096 !== 0) return false;
    const at = Number(BigInt(koffi.address(block.ptr) as bigint | number)) + offset;
    const got = libcMemory().mmap(pointerAt(at) as null, length, PROT_READ_WRITE, MAP_PRIVATE | MAP_FIXED, fd, fileOffset);
    return Number(BigInt(koffi.address(got) as bigint | number)) === at;
  }

  mapShared(address: number, block: SharedBlock, perms: number = Prot.ALL): void {
    this.keep.push(block);
    this.mapped.push(block);
    this.check(
      'uc_mem_map_ptr',
      this.api.uc_mem_map_ptr(this.handle, address, block.size, perms, block.ptr),
    );
  }

  mapMmio(address: number, size: number, read: MmioRead, write: MmioWrite): void {
    const rd = koffi.register(
      (_uc: unknown, off: number | bigint, sz: number) => {
        this.enterAccess();
        const r = BigInt(read(toNum(off), sz));
        this.inAccess = false;
        return r;
      },
      koffi.pointer(MmioReadCb),
    );
    const wr = koffi.register(
      (_uc: unknown, off: number | bigint, sz: number, value: number | bigint) => {
        this.enterAccess();
        write(toNum(off), sz, BigInt(value));
        this.inAccess = false;
      },
      koffi.pointer(MmioWriteCb),
    );
    this.keep.push(rd, wr);
    this.check('uc_mmio_map', this.api.uc_mmio_map(this.handle, address, size, rd, null, wr, null));
  }

  /**
   * The native console window (native/uart-mmio.c) over [address, address + size): UARTDR writes
   * into a ring and UARTFR reads from a cached value, in C, while `ctl[0]` allows them; `flush`
   * is called at a newline or a full ring, `slow` for every other access (its return value is
   * what a read gets). Null when the native library is not built (or HYPEMU_NATIVE_UART=off).
   */
  mapNativeUart(address: number, size: number, slow: NativeUartSlow, flush: () => void): NativeUart | null {
    const { lib } = uartMmioLib();
    if (lib === null) return null;
    const slowCb = koffi.register(
      (off: number | bigint, sz: number, write: number, value: number | bigint) => {
        this.enterAccess();
        const r = slow(Number(off), sz, write !== 0, typeof value === 'bigint' ? Number(value & 0xffff_ffffn) : value >>> 0);
        this.inAccess = false;
        return r;
      },
      koffi.pointer(UartSlowCb),
    );
    const flushCb = koffi.register(() => {
      this.enterAccess();
      flush();
      this.inAccess = false;
    }, koffi.pointer(UartFlushCb));
    const u = lib.create(slowCb, flushCb);
    if (u === null) throw new UnicornError('hypemu_uart_new', 1, 'out of memory');
    this.keep.push(slowCb, flushCb, u);
    this.check('uc_mmio_map', this.api.uc_mmio_map_native(this.handle, address, size, lib.readCb(), u, lib.writeCb(), u) as number);
    const ab = koffi.view(u, lib.size());
    if (lib.setRecompile !== null) {
      this.uartWindow = { ptr: u, blockSlice: new Uint32Array(ab, 48 + 4096, 2) };
      this.linkIoRecompile();
    } else this.uartWindow = { ptr: u, blockSlice: new Uint32Array(2) }; // an older build: its struct ends at the ring
    return { ctl: new Uint32Array(ab, 0, 4), counters: new BigUint64Array(ab, 16, 2), ring: new Uint8Array(ab, 48, 4096) };
  }

  /**
   * The native interrupt window (native/irq-window.c) on this CPU, made once: while raised, Unicorn
   * stops right after an instruction that clears PSTATE.I and sets `fired[0]` (the caller clears
   * it). Null when the library is not built, disabled, or the CPU's class slot was not found.
   */
  interruptWindow(): InterruptWindow | null {
    if (this.irqWindow !== undefined) return this.irqWindow;
    this.irqWindow = null;
    const lib = irqWindowLib();
    const off = lib === null ? -1 : this.cpuStateOffset();
    const w = off < 0 ? null : lib!.create(this.handle, off);
    if (w === null) {
      if (lib !== null) log.warn('the native interrupt window could not be installed (Unicorn\'s CPU class not found): a masked pending interrupt is sliced in JavaScript');
      return null;
    }
    this.keep.push(w);
    const fired = new Uint32Array(koffi.view(w, 8), 0, 2);
    let raised = false;
    this.irqWindow = {
      fired,
      raise: (on: boolean) => {
        if (on === raised) return;
        raised = on;
        lib!.raise(w, on ? 1 : 0);
      },
    };
    return this.irqWindow;
  }
  private irqWindow: InterruptWindow | null | undefined = undefined;

  memRead(address: number | bigint, size: number): Uint8Array {
    const buf = new Uint8Array(size);
    this.check('uc_mem_read', this.api.uc_mem_read(this.handle, toU64(address), buf, size));
    return buf;
  }

  memWrite(address: number | bigint, bytes: Uint8Array): void {
    this.check('uc_mem_write', this.api.uc_mem_write(this.handle, toU64(address), bytes, bytes.byteLength));
  }

  // -------------------------------------------------------------------- hooks

  private addHook(type: number, cb: unknown, begin: number | bigint, end: number | bigint, extra?: number, ud: unknown = null): number {
    const hh = [0];
    const rc =
      extra === undefined
        ? this.api.uc_hook_add(this.handle, hh, type, cb, ud, toU64(begin), toU64(end))
        : this.api.uc_hook_add(this.handle, hh, type, cb, ud, toU64(begin), toU64(end), 'int', extra);
    this.check('uc_hook_add', rc);
    this.keep.push(cb);
    this.hooks.push(hh[0]!);
    return hh[0]!;
  }

  removeHook(hh: number): void {
    this.check('uc_hook_del', this.api.uc_hook_del(this.handle, hh));
    this.memHooks.delete(hh);
    this.codeHooks.delete(hh);
  }

  /**
   * The TLB-fill hook: called on every miss of Unicorn's TLB with the 1 KiB
   * page-aligned VA. The handler returns the physical page and permissions,
   * or null to refuse (Unicorn then stops with UC_ERR_EXCEPTION).
   */
  onTlbFill(handler: TlbFillHandler): number {
    // The uc_tlb_entry Unicorn fills comes from one of a few stack slots:
    // views over each are made once (koffi.encode per call costs far more than
    // a typed-array store), keyed by the address as a plain number.
    const views = new Map<number, Uint32Array>();
    let lastAddr = -1;
    let lastView: Uint32Array | undefined;
    const cb = koffi.register(
      (_uc: unknown, vaddr: number | bigint, type: number, out: number | bigint) => {
        const va = toNum(vaddr);
        this.inAccess = true;
        const r = handler(va, type as MemAccessType);
        this.inAccess = false;
        if (r === null) return false;
        const addr = Number(out);
        // Almost always the same slot as the last fill: no Map lookup then.
        let u32 = addr === lastAddr ? lastView : views.get(addr);
        if (u32 === undefined) {
          u32 = new Uint32Array(koffi.view(pointerAt(addr), 16), 0, 4);
          views.set(addr, u32);
        }
        lastAddr = addr;
        lastView = u32;
        // uint64 paddr (exact below 2^53) as two little-endian words, then the int perms.
        u32[0] = r.pa >>> 0;
        u32[1] = Math.floor(r.pa / 0x1_0000_0000) >>> 0;
        u32[2] = r.perms;
        return true;
      },
      koffi.pointer(TlbFillCb),
    );
    // With the native fill cache (native/fill-cache.c), Unicorn calls C first, which answers a
    // fill the handler marked repeatable (cacheFill) when the same TLB entry is asked for again,
    // and calls `cb` for everything else.
    const fl = fillCacheLib();
    if (fl.lib !== null && this.fillCache === null) {
      const cache = fl.lib.create(cb);
      if (cache === null) throw new UnicornError('hypemu_fill_new', 1, 'out of memory');
      const ab = koffi.view(cache, fl.lib.headerSize());
      this.fillCache = { lib: fl.lib, ptr: cache, key: new Float64Array(ab, 0, 1), ctl: new Uint32Array(ab), counters: new BigUint64Array(ab, 16, 3) };
      this.fillRegs = new Uint32Array(ab, 40, 4);
      this.fillIdx = ab.byteLength >= 60 ? new Int32Array(ab, 56, 1) : null;
      this.fillCache.ctl[ENABLED] = 1;
      this.keep.push(cb, cache);
      this.keyFillsByMmuIndex();
      return this.addHook(UC_HOOK_TLB_FILL, fl.lib.hook(), 1, 0, undefined, cache);
    }
    return this.addHook(UC_HOOK_TLB_FILL, cb, 1, 0);
  }

  /** The fill's MMU index as the native fill cache read it from Unicorn's frame (-1: unknown); null from an older library. */
  private fillIdx: Int32Array | null = null;

  /** Inside the fill handler: QEMU's core MMU index of this fill (0 EL0, 2 EL1, 3 EL1 with PAN), or -1 when not known. */
  fillMmuIndex(): number {
    return this.fillIdx?.[0] ?? -1;
  }

  /**
   * The native fill cache keys a fill by the MMU index it reads from unicorn_fill_tlb's frame
   * (calibrated once per process, fillIdxOffset), so a hit needs no PC or LDTR/STTR site check;
   * and then, with per-block counting, the counter's PC restoration in data fills waits until
   * the cache misses (insn-count.c lazy restoration): a hit reads no PC at all.
   */
  private keyFillsByMmuIndex(offset: number | null = fillIdxOffset()): void {
    const c = this.fillCache;
    if (c === null || offset === null || c.lib.setIdxOffset === null) return;
    c.lib.setIdxOffset(c.ptr, offset);
    const b = this.blocks;
    const count = insnCountLib().lib;
    if (b === null || count?.setLazy == null || count.restoreFn === null || c.lib.setRestore === null) return;
    c.lib.setRestore(c.ptr, count.restoreFn(), b.ptr);
    count.setLazy(b.ptr, 1);
  }

  /** Calibration only: the fill cache reads the MMU index at this distance from its uc_tlb_entry. */
  fillIdxCandidate(offset: number): boolean {
    const c = this.fillCache;
    if (c === null || c.lib.setIdxOffset === null || this.fillIdx === null) return false;
    c.lib.setIdxOffset(c.ptr, offset);
    return true;
  }

  /** The native fill cache in front of the fill hook (onTlbFill), when loaded. */
  private fillCache: { lib: FillCacheLib; ptr: unknown; key: Float64Array; ctl: Uint32Array; counters: BigUint64Array } | null = null;

  /** PSTATE (low word) and PC (two words) as the native fill hook read them before calling the handler. */
  private fillRegs: Uint32Array | null = null;

  /**
   * Inside the fill handler: PSTATE (its low 32 bits), as regRead32(Reg.PSTATE) would read it,
   * without an FFI call when the native fill cache read it already; and PC as regReadNum(Reg.PC).
   */
  fillPstate(): number {
    const r = this.fillRegs;
    return r !== null ? r[0]! : this.regRead32(Reg.PSTATE);
  }
  fillPc(): number {
    const r = this.fillRegs;
    return r !== null ? (r[3]! | 0) * 0x1_0000_0000 + r[2]! : this.regReadNum(Reg.PC);
  }

  /** Is the native fill cache in use? */
  get hasFillCache(): boolean {
    return this.fillCache !== null;
  }

  /**
   * From inside the fill handler, before it returns its answer: the native fill cache may give
   * the same answer again, without calling the handler, to a fill of the same TLB entry `key`
   * (the signed VA of the 1 KiB page + QEMU's MMU index: 0 EL0, 1 EL1, 2 EL1 with PAN) and of
   * the same kind (fetch, or read/write within the answer's perms), until the next flush of
   * Unicorn's TLB (flushTlb, flushTlbPages) or dropFillCache. A no-op without the cache.
   */
  cacheFill(key: number, siblings = 0): void {
    const c = this.fillCache;
    if (c === null) return;
    c.key[0] = key;
    // Bit j: the same answer for 1 KiB page j of the fill's 4 KiB page (paddr moved alike), whose
    // entries the handler has already accounted for (fill-cache.c `siblings`, header word 15).
    c.ctl[SIBLINGS] = siblings;
  }

  /** Forget every answer the native fill cache holds (the translation regime may have changed). */
  dropFillCache(): void {
    const c = this.fillCache;
    if (c !== null) c.lib.clear(c.ptr);
  }

  /**
   * Turn the native fill cache off (every fill goes to the handler; what it holds is kept, and
   * forgotten as well when `forget`) or on again. No FFI call: a word of the shared header.
   */
  setFillCacheEnabled(on: boolean, forget = true): void {
    const c = this.fillCache;
    if (c === null) return;
    c.ctl[ENABLED] = on ? 1 : 0;
    if (!on && forget) c.lib.clear(c.ptr);
  }

  /** An EL1 data fill whose PC is `va` (an LDTR/STTR site) must reach the handler: its MMU index is EL0's. */
  addUnprivilegedSite(va: number): void {
    const c = this.fillCache;
    if (c !== null) c.lib.addSite(c.ptr, va);
  }

  /** Fills the native cache answered, and the ones it passed to the handler (0 without it). */
  get fillCacheHits(): number {
    return this.fillCache === null ? 0 : Number(this.fillCache.counters[0]!);
  }
  get fillCacheMisses(): number {
    return this.fillCache === null ? 0 : Number(this.fillCache.counters[1]!);
  }

  /** MRS/MSR/SYS/SYSL hook. Rt arrives as a Unicorn register id. */
  /**
   * The system-instruction hook for one kind (MRS/MSR/SYS/SYSL). With the native filter
   * (native/sysinsn-filter.c, built by setup) Unicorn calls C first, which returns at once for
   * the encodings setSysInsnFilter marked native and calls `handler` for the others; without
   * it, every instruction reaches `handler` (a one-line warning says so once).
   */
  onSysInsn(kind: SysInsnKind, handler: SysInsnHandler): number {
    const view: CpRegView = { op0: 0, op1: 0, crn: 0, crm: 0, op2: 0, val: 0n };
    const fl = sysInsnFilterLib();
    if (fl.lib !== null) {
      // The filter copies the uc_arm64_cp_reg to its own fixed buffer: one view, made here.
      const lib = fl.lib;
      let u32 = new Uint32Array(0);
      let u64 = new BigUint64Array(0);
      // A skip that moved PC or stopped the CPU returns 3: the filter leaves the translation
      // block at once (native/sysinsn-filter.c), so nothing after the instruction runs or is
      // counted before Unicorn honours the new PC (issue 13: an MRS answered by the EL2 model
      // counted the next instruction twice). A skip that did neither returns 1: Unicorn goes on
      // with the next instruction of the block.
      let leave = 1;
      const cb = koffi.register((_uc: unknown, reg: number) => {
        const epoch = this.flowEpoch;
        // Per-block counting: where the instruction is (Unicorn synced PC before the hook), in
        // case the handler moves PC and the block is left here (settle).
        const at = this.counting === 'block' ? this.regReadNum(Reg.PC) : 0;
        this.hookPc = this.counting === 'block' ? at : null;
        const done = handler(reg, readCpReg(view, u32, u64));
        this.hookPc = null;
        if (!done) return 0;
        if (this.flowEpoch === epoch) return 1;
        if (this.counting === 'block' && leave === 3) this.blocks!.settle(at);
        return leave;
      }, koffi.pointer(InsnSysCb));
      // TLBI (a SYS instruction) may be completed in C in front of the JavaScript callback.
      const front = kind === SysInsn.SYS ? this.makeTlbiFront(cb) : null;
      const filter = lib.create(front ?? cb);
      if (filter === null) throw new UnicornError('hypemu_sysinsn_filter_new', 1, 'out of memory');
      if (this.armLeaveBlock(filter)) leave = 3;
      const ab = koffi.view(lib.cp(filter), 32);
      u32 = new Uint32Array(ab, 0, 5);
      u64 = new BigUint64Array(ab, 24, 1);
      this.keep.push(cb, filter);
      this.sysFilters[kind - 1] = filter;
      return this.addHook(UC_HOOK_INSN, lib.hook(), 1, 0, kind, filter);
    }
    if (!filterWarned) {
      filterWarned = true;
      log.warn(`native system-instruction filter not loaded (${fl.why}): every MRS/MSR/SYS/SYSL goes through JavaScript, and an instruction after a trapped MRS may be counted twice`);
    }
    // Unicorn passes the same uc_arm64_cp_reg address on every call (measured:
    // it lives in the CPU state), and koffi.view costs ~1.6 us per call, so the
    // typed-array views are made once per distinct address (~0.25 us).
    let cachedAddr = -1;
    let u32 = new Uint32Array(0);
    let u64 = new BigUint64Array(0);
    const cb = koffi.register((_uc: unknown, reg: number, cpAddr: number | bigint) => {
      const addr = Number(cpAddr);
      if (addr !== cachedAddr) {
        const ab = koffi.view(pointerAt(addr), 32);
        u32 = new Uint32Array(ab, 0, 5);
        u64 = new BigUint64Array(ab, 24, 1);
        cachedAddr = addr;
      }
      return handler(reg, readCpReg(view, u32, u64)) ? 1 : 0;
    }, koffi.pointer(InsnSysCb));
    this.jsSysHooks++;
    return this.addHook(UC_HOOK_INSN, cb, 1, 0, kind);
  }

  /**
   * Can a skipping system-instruction hook leave the translation block at once (the native
   * filter's cpu_loop_exit, armed for every hook kind)? Without it, a hook that moves PC makes
   * Unicorn's count hook count the next instruction twice (the JavaScript-only fallback).
   */
  get leavesBlock(): boolean {
    return this.leaveArmed > 0 && this.leaveArmed === this.sysFilters.filter((f) => f !== null).length;
  }
  private leaveArmed = 0;
  private armLeaveBlock(filter: unknown): boolean {
    const init = sysInsnFilterLib().lib?.exitInit ?? null;
    const off = init === null ? -1 : this.cpuStateOffset();
    if (init !== null && off >= 0 && init(filter, this.libraryPath, off) === 0) {
      this.leaveArmed++;
      return true;
    }
    if (!leaveWarned) {
      leaveWarned = true;
      log.warn(`the native system-instruction filter cannot leave a translation block (${init === null ? 'built from an older source: run npm run setup' : 'Unicorn\'s CPU state not found'}): an instruction after a trapped MRS may be counted twice`);
    }
    return false;
  }

  /** Is the native filter in use (onSysInsn installed it)? */
  get hasNativeSysInsnFilter(): boolean {
    return !sysInsnBitmapsOff && this.sysFilters.some((f) => f !== null);
  }

  /**
   * Which encodings of a hook kind run natively without calling the handler (8192 bytes, one
   * bit per sysregKey); null: none. A no-op without the native filter.
   */
  setSysInsnFilter(kind: SysInsnKind, bits: Uint8Array | null): void {
    const f = this.sysFilters[kind - 1];
    if (f !== null && f !== undefined && !sysInsnBitmapsOff) sysInsnFilterLib().lib!.set(f, bits);
  }

  onInterrupt(handler: InterruptHandler): number {
    const cb = koffi.register((_uc: unknown, intno: number) => {
      // QEMU left the block at the exception (PC exact): the rest of it does not run.
      if (this.counting === 'block') this.blocks!.settle(this.regReadNum(Reg.PC));
      this.inAccess = false;
      handler(intno);
    }, koffi.pointer(IntrCb));
    return this.addHook(UC_HOOK_INTR, cb, 1, 0);
  }

  /** A data-access hook has been added once: code translated since calls data hooks (onMemAccess). */
  private dataHookAnchored = false;

  /** Code hook over [begin, end] (inclusive); begin > end means every instruction. */
  onCode(begin: number | bigint, end: number | bigint, handler: CodeHandler): number {
    const cb = koffi.register(
      (_uc: unknown, address: number | bigint, size: number) => {
        const epoch = this.flowEpoch;
        const at = toNum(address);
        this.inAccess = false;
        this.hookPc = at;
        handler(at, size);
        this.hookPc = null;
        // A PC write or a stop leaves the block before the hooked instruction (Unicorn's exit check after a code hook).
        if (this.flowEpoch !== epoch && this.counting === 'block') this.blocks!.settle(at);
      },
      koffi.pointer(CodeCb),
    );
    const hh = this.addHook(UC_HOOK_CODE, cb, begin, end);
    this.codeHooks.add(hh);
    return hh;
  }

  /**
   * Data-access hook over guest addresses [begin, end] (inclusive): UC_HOOK_MEM_READ |
   * UC_HOOK_MEM_WRITE, called before each load or store that touches the range, with
   * MemAccess.READ or WRITE, the address and the size.
   */
  onMemAccess(begin: number | bigint, end: number | bigint, handler: (type: number, address: number, size: number) => void): number {
    if (!this.dataHookAnchored) {
      // Unicorn compiles a load/store's TLB-hit fast path, which calls no hook, into code
      // translated while no UC_HOOK_MEM_READ/WRITE exists (decided at translation, whatever the
      // range): a hook added later is missed by code already translated (measured: a guest
      // watchpoint on a store in a function that ran before it was set never fired). So the
      // first data hook comes with a hook that stays (its range, the last byte of the address
      // space, it does nothing for) and all translated code is dropped once.
      this.dataHookAnchored = true;
      const anchor = koffi.register(() => {}, koffi.pointer(MemHookCb));
      this.addHook(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, anchor, 0xffff_ffff_ffff_ffffn, 0xffff_ffff_ffff_ffffn);
      this.dropAllCode();
    }
    const cb = koffi.register(
      (_uc: unknown, type: number, address: number | bigint, size: number) => handler(type, toNum(address), size),
      koffi.pointer(MemHookCb),
    );
    const hh = this.addHook(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, cb, begin, end);
    // A stop asked from a data-access hook must land right after the instruction: counted per instruction meanwhile.
    this.memHooks.add(hh);
    return hh;
  }

  // ---------------------------------------------------------------- execution

  /**
   * Run from `begin` for at most `count` instructions. Returns Unicorn's error
   * code (0 = ran to the count or was stopped; UC_ERR_EXCEPTION = a refused
   * TLB fill or an exception Unicorn could not deliver).
   */
  emuStart(begin: number | bigint, count: number): number {
    const b = this.blocks;
    if (b !== null && this.memHooks.size === 0 && this.codeHooks.size === 0 && this.jsSysHooks === 0) {
      // Per-block counting (block-count.ts). Unicorn drops its count hook, and the code
      // translated with it, by itself on the first uc_emu_start with count 0.
      this.counting = 'block';
      b.begin(count);
      if (this.uartWindow !== null) this.uartWindow.blockSlice[0] = 1;
      this.running = true;
      const rc = this.api.uc_emu_start(this.handle, toU64(begin), 0, 0, 0) as number;
      this.running = false;
      this.inAccess = false;
      return rc;
    }
    // Code translated for per-block counting has no per-instruction count: retranslate.
    if (this.counting === 'block') this.dropAllCode();
    this.counting = 'insn';
    if (this.uartWindow !== null) this.uartWindow.blockSlice[0] = 0;
    // The block hook stays installed: it must never stop the CPU meanwhile.
    b?.begin(Number.MAX_SAFE_INTEGER);
    // Unicorn's counter found here, outside any hook (its calibration runs another Unicorn).
    if (this.counterView === null) this.sliceCounter();
    return this.api.uc_emu_start(this.handle, toU64(begin), 0, 0, count) as number;
  }

  /** How the last slice counted: per block (native/insn-count.c) or Unicorn's per-instruction count hook. */
  get countingMode(): 'block' | 'insn' | null {
    return this.counting;
  }
  private counting: 'block' | 'insn' | null = null;
  private blocks: BlockCounter | null = null;
  /** Inside uc_emu_start (block counting), and inside a data access's hook (fill, MMIO). */
  private running = false;
  private inAccess = false;
  /**
   * Data-access hooks (watchpoints), code hooks (the debugger's breakpoints, WFE and code-site
   * hooks) and system-instruction hooks without the native filter: per-instruction counting
   * meanwhile (a debugger's breakpoints and an --smp scheduler's quanta were not proven exact
   * together with per-block counting).
   */
  private readonly memHooks = new Set<number>();
  private readonly codeHooks = new Set<number>();
  private jsSysHooks = 0;
  /**
   * Inside a system-instruction or code hook (block counting): the hooked instruction's PC. The
   * count is read from it, not from PC, which the handler may have moved already (an exception
   * taken at the instruction, then the counter read for the exit record or the redirect).
   */
  private hookPc: number | null = null;

  private enterAccess(): void {
    this.inAccess = true;
    if (this.counting === 'block' && this.running) this.blocks!.syncIoPc();
  }

  /** Blocks entered, budget splits and PC restorations of the per-block counter (null without it). */
  get blockCountStats(): { blocks: number; splits: number; restores: number } | null {
    return this.blocks?.stats ?? null;
  }

  /**
   * Count instructions per translation block (native/insn-count.c) from now on, when the native
   * counter is built and calibrates on this libunicorn. Must come before onTlbFill (its fill
   * hook runs first). Returns false, changing nothing, when it cannot.
   */
  enableBlockCounting(offsets: BlockCountOffsets | null = blockCountOffsets()): boolean {
    const { lib } = insnCountLib();
    const off = this.cpuStateOffset();
    if (lib === null || off < 0 || offsets === null || this.blocks !== null) return false;
    const ptr = lib.create(this.handle, this.handle, off);
    if (ptr === null) return false;
    const b = new BlockCounter(lib, ptr);
    b.setOffsets(offsets);
    this.keep.push(ptr);
    this.addHook(UC_HOOK_BLOCK, lib.blockHook(), 1, 0, undefined, ptr);
    this.addHook(UC_HOOK_TLB_FILL, lib.fillHook(), 1, 0, undefined, ptr);
    this.blocks = b;
    this.blockOffsets = offsets;
    this.linkIoRecompile();
    return true;
  }

  /** The console window (native/uart-mmio.c), once mapped; blockSlice[0]: the slice counts per block, [1]: restarts. */
  private uartWindow: { ptr: unknown; blockSlice: Uint32Array } | null = null;
  private blockOffsets: BlockCountOffsets | null = null;
  private ioRecompileLinked = false;

  /**
   * With both the console window and the per-block counter: each slow console access restarts
   * as a one-instruction block first (uart-mmio.c io_recompile, QEMU's cpu_io_recompile), so an
   * interrupt it raises is taken right after it. Not with a library built before that.
   */
  private linkIoRecompile(): void {
    const { lib } = uartMmioLib();
    const w = this.uartWindow;
    const o = this.blockOffsets;
    if (w === null || this.blocks === null || o === null || lib?.recompileInit == null || lib.setRecompile === null) return;
    const off = this.cpuStateOffset();
    if (off < 0 || lib.recompileInit(unicorn().path) !== 0) return;
    lib.setRecompile(w.ptr, this.handle, off, o.cflags, o.ioPc, this.blocks.ptr);
    this.ioRecompileLinked = true;
  }

  /** Slow console accesses restarted as a one-instruction block (statistics). */
  get ioRecompiles(): number {
    return this.uartWindow?.blockSlice[1] ?? 0;
  }

  /**
   * Would a slice started now count per block, with the console window's slow accesses restarted
   * alone (linkIoRecompile)? Otherwise a stop such an access asks for cannot fall right after it
   * (per-instruction counting even runs the access again), and the window must not be used.
   * With a console window built before io_recompile existed, the window is used as before it:
   * an interrupt a slow access raises is then taken at the end of the block.
   */
  get exactIoStops(): boolean {
    if (this.uartWindow !== null && uartMmioLib().lib?.setRecompile === null) return true;
    return this.ioRecompileLinked && this.memHooks.size === 0 && this.codeHooks.size === 0 && this.jsSysHooks === 0;
  }

  /** Calibration only: a bare counter on this instance, to read its offset candidates. */
  blockCountCandidates(): { cflags: number; ioPc: number } | null {
    const { lib } = insnCountLib();
    const off = this.cpuStateOffset();
    if (lib === null || off < 0) return null;
    const ptr = lib.create(this.handle, this.handle, off);
    if (ptr === null) return null;
    this.keep.push(ptr);
    return { cflags: lib.cflagsCandidate(ptr), ioPc: lib.ioPcCandidate(ptr) };
  }

  /** Calibration only: uc_emu_start with a timeout (microseconds), so a wrong offset cannot hang. */
  emuStartTimed(begin: number, count: number, timeoutUs: number): number {
    const b = this.blocks!;
    this.counting = 'block';
    b.begin(count);
    this.running = true;
    const rc = this.api.uc_emu_start(this.handle, toU64(begin), 0, timeoutUs, 0) as number;
    this.running = false;
    return rc;
  }

  /**
   * Instructions started in the current/last uc_emu_start slice (Unicorn's
   * private uc->emu_counter, maintained by its count hook). Unicorn has no API
   * for it, so its offset in uc_struct is found once per process by
   * calibration (calibrateSliceCounter) and checked, never assumed.
   * Includes an instruction that was started but aborted (data fault).
   */
  sliceCounter(): number {
    if (this.counting === 'block') return this.blocks!.started(this.hookPc ?? this.regReadNum(Reg.PC));
    if (this.counterView === null) {
      const off = sliceCounterOffset();
      if (off === null) return -1;
      this.counterView = new BigUint64Array(koffi.view(this.handle, off + 8), off, 1);
    }
    return Number(this.counterView[0]!);
  }
  private counterView: BigUint64Array | null = null;

  /** The native handle, for calibration only. */
  rawHandle(): unknown {
    return this.handle;
  }

  emuStop(): void {
    this.flowEpoch++;
    if (this.inAccess && this.running) {
      // From a data access's hook, the block runs to its end (native/insn-count.c).
      this.blocks!.stopNext();
      return;
    }
    this.api.uc_emu_stop(this.handle);
  }

  /** Drop every cached translation in Unicorn's TLB (after the model's TLB changed). */
  flushTlb(): void {
    this.check('uc_ctl(TLB_FLUSH)', this.api.uc_ctl(this.handle, ctlWrite(UC_CTL_TLB_FLUSH, 0)));
    this.dropFillCache();
    this.tlbiFront?.clearBlocks();
  }

  /**
   * The native TLBI front (tlb-flush.c) on this engine's SYS hook, when built: C completes a guest
   * TLBI by VA whose encoding `tlbiFront.bits` marks, and queues it for the model TLB. Null without it.
   */
  tlbiFront: TlbiFront | null = null;

  /** The front in place of the JavaScript callback `js` (its C callback, to hand to the filter), or null. */
  private makeTlbiFront(js: unknown): unknown {
    const front = tlbFlushLib()?.front ?? null;
    const off = front === null ? -1 : this.cpuStateOffset();
    if (front === null || off < 0) return null;
    const fl = fillCacheLib();
    const fill = this.fillCache;
    const ptr = front.create(this.handle, off, js, fill?.ptr ?? null, fl.lib?.path ?? '');
    if (ptr === null) return null;
    this.keep.push(ptr);
    this.tlbiFront = new TlbiFront(ptr, front.layout, front.icLayout);
    return front.cb();
  }

  /**
   * Drop Unicorn's TLB entries for the 1 KiB pages at vas[0..n) (signed VAs, 1 KiB aligned),
   * every MMU index (native/tlb-flush.c). Returns false, having done nothing, when the native
   * flush is not available (the caller then flushes the whole TLB).
   */
  flushTlbPages(vas: Float64Array, n: number): boolean {
    const lib = tlbFlushLib();
    if (lib === null) return false;
    const off = this.cpuStateOffset();
    if (off < 0) return false;
    lib.flushPages(this.handle, off, vas, n);
    const c = this.fillCache;
    if (c !== null) c.lib.dropPages(c.ptr, vas, n);
    return true;
  }
  private cpuOffset: number | undefined;
  /** Offset of uc_struct's `CPUState *cpu` (native/tlb-flush.c), found once; -1 when unknown. */
  private cpuStateOffset(): number {
    if (this.cpuOffset === undefined) this.cpuOffset = this.locateCpu();
    return this.cpuOffset;
  }

  /** uc_struct's CPUState pointer, found twice with different X0/X1 markers (both must agree), or -1. */
  private locateCpu(): number {
    const lib = nativeTlbLib();
    if (lib === null) return -1;
    const x0 = this.regRead(Reg.X0);
    const x1 = this.regRead(Reg.X0 + 1);
    let off = -1;
    for (const [m0, m1] of [[0x6879_7065_6d75_0001n, 0x5a5a_c3c3_0f0f_1e1en], [0x1357_9bdf_2468_ace0n, 0x0fed_cba9_8765_4321n]] as const) {
      this.regWrite(Reg.X0, m0);
      this.regWrite(Reg.X0 + 1, m1);
      const o = lib.locateCpu(this.handle, m0, m1);
      if (o < 0 || (off >= 0 && o !== off)) {
        off = -1;
        break;
      }
      off = o;
    }
    this.regWrite(Reg.X0, x0);
    this.regWrite(Reg.X0 + 1, x1);
    if (off < 0) log.warn('Unicorn\'s CPU state was not found: TLB maintenance by VA flushes its whole TLB, and an instruction after a trapped MRS may be counted twice');
    return off;
  }

  /** Drop the translated blocks covering guest VAs [begin, end) (uc_ctl_remove_cache). */
  removeTbCache(begin: number, end: number): void {
    this.check('uc_ctl(TB_REMOVE_CACHE)', this.api.uc_ctl(this.handle, ctlWrite(UC_CTL_TB_REMOVE_CACHE, 2), 'uint64_t', toU64(begin), 'uint64_t', toU64(end)));
  }

  /**
   * Drop the translated blocks whose code lies in bytes [offset, offset + length) of a mapped
   * block, whatever virtual address they were translated for (QEMU's tb_invalidate_phys_range).
   * Safe from a hook inside uc_emu_start (QEMU does it from its store path). Returns false when
   * this libunicorn does not export the function: the caller must flush all code instead.
   */
  invalidateCode(block: SharedBlock, offset: number, length: number): boolean {
    const code = this.code;
    if (code === null) return false;
    let base = this.ramAddrs.get(block);
    if (base === undefined) {
      const r = code.ramAddrFromHost(this.handle, block.ptr);
      if (typeof r !== 'number' || r < 0) return false; // RAM_ADDR_INVALID: not mapped here
      base = r;
      this.ramAddrs.set(block, base);
    }
    code.invalidatePhysRange(this.handle, base + offset, base + offset + length);
    return true;
  }

  /**
   * Drop all translated code, by physical range over every mapped block (QEMU's
   * tb_invalidate_phys_range: all executable memory is mapped through mapShared) when this
   * libunicorn can, else with a TB flush. A TB flush makes the instance touch its whole code
   * buffer (RSS grows by up to 1 GiB; measured: about 3 s of CPU for an instance's first one).
   */
  dropAllCode(): void {
    for (const b of this.mapped) {
      if (!this.invalidateCode(b, 0, b.size)) {
        this.flushTb();
        return;
      }
    }
  }

  /** flushTb calls so far: what code in guest memory changed behind QEMU's back must be looked at again (code-guard.ts scan cache). */
  tbFlushes = 0;

  /** Drop translated code (after code in guest memory changed behind QEMU's back). */
  flushTb(): void {
    this.tbFlushes++;
    this.check('uc_ctl(TB_FLUSH)', this.api.uc_ctl(this.handle, ctlWrite(UC_CTL_TB_FLUSH, 0)));
  }

  close(): void {
    if (this.handle === null) return;
    this.api.uc_close(this.handle);
    this.handle = null;
    for (const b of this.mapped) Unicorn.releaseShared(b);
    this.mapped.length = 0;
    for (const k of this.keep) {
      try {
        koffi.unregister(k as never);
      } catch {
        /* not a registered callback */
      }
    }
    this.keep.length = 0;
  }
}

let leaveWarned = false;

let counterOffset: number | null | undefined;

/**
 * Find uc->emu_counter: run a 6-instruction program ending in a refused data
 * fill twice from two different starting points, and look for the one 64-bit
 * word in uc_struct that holds the number of instructions started both times.
 */
export function sliceCounterOffset(): number | null {
  if (counterOffset !== undefined) return counterOffset;
  counterOffset = null;
  const SCAN = 4096;
  const uc = new Unicorn();
  try {
    const ram = Unicorn.allocShared(0x1000);
    // nop x5; movz x1,#0x900,lsl#16 (0x0900_0000); ldr x2,[x1]; b .
    const prog = [0xd503201f, 0xd503201f, 0xd503201f, 0xd503201f, 0xd503201f, 0xd2a12001, 0xf9400022, 0x14000000];
    new DataView(ram.bytes.buffer, ram.bytes.byteOffset).setUint32(0, 0, true);
    prog.forEach((w, i) => new DataView(ram.bytes.buffer, ram.bytes.byteOffset).setUint32(i * 4, w, true));
    uc.mapShared(0x4000_0000, ram);
    uc.onTlbFill((va) => (va >= 0x4000_0000 && va < 0x4000_1000 ? { pa: va, perms: Prot.ALL } : null));
    const view = new BigUint64Array(koffi.view(uc.rawHandle(), SCAN));
    const runs: Array<[number, BigUint64Array]> = [];
    for (const [start, expect] of [
      [0x4000_0000, 7],
      [0x4000_0008, 5],
    ] as const) {
      uc.emuStart(start, 1000);
      runs.push([expect, view.slice()]);
    }
    for (let i = 0; i < SCAN / 8; i++) {
      if (runs.every(([expect, snap]) => snap[i] === BigInt(expect))) {
        counterOffset = i * 8;
        break;
      }
    }
  } finally {
    uc.close();
  }
  return counterOffset;
}

/** One register of a batch: a Unicorn register id (16-byte slot, Q registers fit) or a system register by encoding. */
export type BatchReg = { id: number } | { sysreg: SysregEncoding };

/**
 * Native buffers laid out once: regids[], a slot per register (16 bytes, or a
 * 32-byte uc_arm64_cp_reg with its encoding pre-filled), and the array of slot
 * addresses Unicorn's batch calls take. Values are read and written through
 * typed-array views of the same native memory.
 */
export class RegBatch {
  readonly count: number;
  private readonly ids: Int32Array;
  private readonly addrs: BigUint64Array;
  private readonly u64: BigUint64Array;
  private readonly bytes: Uint8Array;
  /** Offset (in bytes) of each register's value in the slot buffer. */
  private readonly valueOffset: Int32Array;
  private readonly keepAlive: unknown;

  /** Does the batch write PC (Unicorn then leaves its translated code, like a PC write)? */
  private readonly writesPc: boolean;

  constructor(
    private readonly api: UnicornApi,
    private readonly handle: () => unknown,
    regs: readonly BatchReg[],
    private readonly onPcWrite: () => void = () => {},
  ) {
    this.count = regs.length;
    this.writesPc = regs.some((r) => 'id' in r && r.id === Reg.PC);
    const slot = 32;
    const size = Math.max(slot, regs.length * slot);
    const mem = koffi.alloc('uint8_t', size);
    this.keepAlive = mem;
    const ab = koffi.view(mem, size);
    this.bytes = new Uint8Array(ab);
    this.bytes.fill(0);
    this.u64 = new BigUint64Array(ab);
    const u32 = new Uint32Array(ab);
    const base = koffi.address(mem) as bigint;
    this.ids = new Int32Array(regs.length);
    this.addrs = new BigUint64Array(regs.length);
    this.valueOffset = new Int32Array(regs.length);
    regs.forEach((r, i) => {
      const off = i * slot;
      this.addrs[i] = base + BigInt(off);
      if ('id' in r) {
        this.ids[i] = r.id;
        this.valueOffset[i] = off;
      } else {
        this.ids[i] = Reg.CP_REG;
        const w = off / 4;
        u32[w] = r.sysreg.crn;
        u32[w + 1] = r.sysreg.crm;
        u32[w + 2] = r.sysreg.op0;
        u32[w + 3] = r.sysreg.op1;
        u32[w + 4] = r.sysreg.op2;
        this.valueOffset[i] = off + 24;
      }
    });
  }

  /** Read every register of the batch from the CPU. */
  read(): void {
    const rc = this.api.uc_reg_read_batch(this.handle(), this.ids, this.addrs, this.count);
    if (rc !== UC_ERR_OK) throw new UnicornError('uc_reg_read_batch', rc, this.api.uc_strerror(rc) as string);
  }

  /** Write every register of the batch to the CPU. */
  write(): void {
    const rc = this.api.uc_reg_write_batch(this.handle(), this.ids, this.addrs, this.count);
    if (rc !== UC_ERR_OK) throw new UnicornError('uc_reg_write_batch', rc, this.api.uc_strerror(rc) as string);
    if (this.writesPc) this.onPcWrite();
  }

  /** The 64-bit value of register i (the low half of a Q register). */
  get(i: number): bigint {
    return this.u64[this.valueOffset[i]! / 8]!;
  }

  set(i: number, v: bigint): void {
    this.u64[this.valueOffset[i]! / 8] = BigInt.asUintN(64, v);
  }

  /** 16 bytes of register i (for Q registers), a live view: copy what you keep. */
  bytesOf(i: number): Uint8Array {
    return this.bytes.subarray(this.valueOffset[i]!, this.valueOffset[i]! + 16);
  }

  /** Copy all values out (a snapshot) / back in. */
  snapshot(): Uint8Array {
    return this.bytes.slice();
  }
  restoreSnapshot(s: Uint8Array): void {
    // Only the value bytes change between snapshots; the encodings are constant.
    this.bytes.set(s);
  }

  /** Keep the native buffer referenced for the batch's lifetime. */
  get native(): unknown {
    return this.keepAlive;
  }
}

let blockOffsets: BlockCountOffsets | null | undefined;

/**
 * The offsets native/insn-count.c needs (block-count.ts), found once per process and each
 * checked by its effect on a throw-away Unicorn running a 9-instruction program with a budget
 * of 7: a data fill whose PC must read exact (retaddr), an MMIO store whose PC must read exact
 * (mem_io_pc), and a stop after exactly 7 instructions (cflags_next_tb). Null (per-instruction
 * counting) when the library is missing or any check fails. `unicorn_fill_tlb`'s frame in
 * Debian's 2.1.1 build puts `retaddr` 96 bytes above its `uc_tlb_entry` (objdump); nearby
 * distances are tried too, for other builds.
 */
export function blockCountOffsets(): BlockCountOffsets | null {
  if (blockOffsets !== undefined) return blockOffsets;
  blockOffsets = null;
  if (insnCountLib().lib === null) return null;
  for (const retaddr of [96, 88, 104, 80, 112, 72, 120, 128, 136, 64]) {
    const r = checkBlockCounting(retaddr);
    if (r === 'no-fields') break;
    if (r !== null) {
      blockOffsets = r;
      return r;
    }
  }
  log.warn('per-block instruction counting did not calibrate on this libunicorn (QEMU\'s CPU state not as expected); counting per instruction');
  return null;
}

let idxOffset: number | null | undefined;
/**
 * Where unicorn_fill_tlb keeps its mmu_idx argument relative to the uc_tlb_entry it hands the fill
 * hooks, found once per process and checked by effect, or null (then the fill cache derives the
 * MMU index from PSTATE and LDTR/STTR sites, as before). Debian's 2.1.1 build spills it 4 bytes
 * below the entry (objdump: `mov %r8d,0xc(%rsp)`, entry at 0x10(%rsp)); a few other distances are
 * tried too. The check runs LDR (EL1: core index 2), LDTR (EL1 unprivileged: 0, Arm ARM C6.2
 * LDTR) and, with PSTATE.PAN set, LDR again (3) on a throw-away instance, each reaching the fill
 * handler, which must read exactly those.
 */
export function fillIdxOffset(): number | null {
  if (idxOffset !== undefined) return idxOffset;
  idxOffset = null;
  for (const off of [-4, -8, -12, -16, 4]) {
    if (checkFillIdx(off)) {
      idxOffset = off;
      break;
    }
  }
  return idxOffset;
}

function checkFillIdx(off: number): boolean {
  const uc = new Unicorn();
  try {
    const ram = Unicorn.allocShared(0x1000);
    const dv = new DataView(ram.bytes.buffer, ram.bytes.byteOffset);
    // ldr x2,[x1]; ldtr x3,[x4]; msr pan,#1; ldr x5,[x6]; b .
    const prog = [0xf9400022, 0xf8400883, 0xd500419f, 0xf94000c5, 0x14000000];
    prog.forEach((w, i) => dv.setUint32(i * 4, w, true));
    uc.mapShared(0x4000_0000, ram);
    // EL1 Non-secure, as every vCPU runs (emulator/cpu/core-setup.ts: SCR_EL3.NS, RW, APK, API):
    // the Secure indexes a bare Unicorn starts with are 7, 8 and 9.
    uc.sysregWrite({ op0: 3, op1: 6, crn: 1, crm: 1, op2: 0 }, 1n | (1n << 10n) | (1n << 16n) | (1n << 17n));
    const seen: number[] = [];
    uc.onTlbFill((va, type) => {
      if (type !== MemAccess.FETCH) seen.push(va, uc.fillMmuIndex());
      if (va >= 0x4000_0000 && va < 0x4000_1000) return { pa: va, perms: Prot.ALL };
      return null;
    });
    if (!uc.fillIdxCandidate(off)) return false;
    uc.regWrite(Reg.X0 + 1, 0x4000_0400);
    uc.regWrite(Reg.X0 + 4, 0x4000_0800);
    uc.regWrite(Reg.X0 + 6, 0x4000_0c00);
    const rc = uc.emuStart(0x4000_0000, 4);
    return rc === UC_ERR_OK && seen.join() === [0x4000_0400, 2, 0x4000_0800, 0, 0x4000_0c00, 3].join();
  } catch {
    return false;
  } finally {
    uc.close();
  }
}

/** One calibration run (see blockCountOffsets) with this retaddr distance: the offsets when every check passed. */
function checkBlockCounting(retaddr: number): BlockCountOffsets | null | 'no-fields' {
  const uc = new Unicorn();
  try {
    const cand = uc.blockCountCandidates();
    if (cand === null || cand.cflags < 0 || cand.ioPc < 0) return 'no-fields';
    const o = { cflags: cand.cflags, ioPc: cand.ioPc, retaddr };
    const ram = Unicorn.allocShared(0x1000);
    const dv = new DataView(ram.bytes.buffer, ram.bytes.byteOffset);
    // nop; nop; ldr x2,[x1]; nop; str x2,[x3]; nop; nop; nop; b .
    const prog = [0xd503201f, 0xd503201f, 0xf9400022, 0xd503201f, 0xf9000062, 0xd503201f, 0xd503201f, 0xd503201f, 0x14000000];
    prog.forEach((w, i) => dv.setUint32(i * 4, w, true));
    uc.mapShared(0x4000_0000, ram);
    if (!uc.enableBlockCounting(o)) return null;
    let fillPc = -1;
    let mmioPc = -1;
    uc.onTlbFill((va, type) => {
      if (va === 0x4000_0800 && type !== MemAccess.FETCH) fillPc = uc.regReadNum(Reg.PC);
      if ((va >= 0x4000_0000 && va < 0x4000_1000) || (va >= 0x0900_0000 && va < 0x0900_1000)) return { pa: va, perms: Prot.ALL };
      return null;
    });
    uc.mapMmio(0x0900_0000, 0x1000, () => 0, () => {
      mmioPc = uc.regReadNum(Reg.PC);
    });
    uc.regWrite(Reg.X0 + 1, 0x4000_0800);
    uc.regWrite(Reg.X0 + 3, 0x0900_0000);
    const rc = uc.emuStartTimed(0x4000_0000, 7, 200_000);
    const pc = uc.regReadNum(Reg.PC);
    const started = uc.sliceCounter();
    return rc === UC_ERR_OK && pc === 0x4000_001c && started === 8 && fillPc === 0x4000_0008 && mmioPc === 0x4000_0010 ? o : null;
  } catch {
    return null;
  } finally {
    uc.close();
  }
}
