/**
 * The koffi binding of libunicorn. This is the only file in the project that
 * imports koffi; everything else goes through the typed wrapper in uc.ts.
 *
 * Library lookup order (first that loads wins):
 *   1. $HYPEMU_LIBUNICORN (a path to libunicorn.so.2 or a directory holding it)
 *   2. vendor/unicorn/usr/lib/x86_64-linux-gnu/libunicorn.so.2 (what `npm run setup` installs)
 *   3. the system's libunicorn.so.2 / libunicorn.so
 * The version must be >= 2.1: 2.0 has no TLB-fill hook (DESIGN.md).
 */
import koffi, { type LibraryHandle } from 'koffi';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { packageRoot } from '../package-root.js';

export class UnicornLoadError extends Error {
  override name = 'UnicornLoadError';
}

function candidates(): string[] {
  const out: string[] = [];
  const env = process.env.HYPEMU_LIBUNICORN;
  if (env) {
    const p = resolve(env);
    out.push(existsSync(p) && statSync(p).isDirectory() ? join(p, 'libunicorn.so.2') : p);
  }
  out.push(join(packageRoot(), 'vendor/unicorn/usr/lib/x86_64-linux-gnu/libunicorn.so.2'));
  out.push('libunicorn.so.2', 'libunicorn.so');
  return out;
}

const FIX =
  'run `npm run setup` (it fetches Debian trixie\'s libunicorn2t64 2.1.x into vendor/unicorn), ' +
  'or point HYPEMU_LIBUNICORN at a libunicorn.so.2 of version 2.1 or later';

function loadLibrary(): { lib: LibraryHandle; path: string } {
  const tried: string[] = [];
  for (const path of candidates()) {
    try {
      return { lib: koffi.load(path), path };
    } catch (e) {
      tried.push(`${path}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new UnicornLoadError(`cannot load libunicorn (tried ${tried.length} places); ${FIX}\n  ${tried.join('\n  ')}`);
}

// Prototypes of the callbacks Unicorn calls back into JavaScript.
export const CpReg = koffi.struct('uc_arm64_cp_reg', {
  crn: 'uint32_t',
  crm: 'uint32_t',
  op0: 'uint32_t',
  op1: 'uint32_t',
  op2: 'uint32_t',
  val: 'uint64_t',
});
// `out` arrives as an integer address (a Number: user-space addresses are
// below 2^47), which is much cheaper to compare than koffi.address() on a pointer.
export const TlbFillCb = koffi.proto('bool hypemu_tlb_fill_cb(void *uc, uint64_t vaddr, int type, uint64_t out, void *ud)');

/** A native pointer for an integer address: memcpy(dst, dst, 0) returns dst, as a koffi pointer. */
let libcMemcpy: ((dst: number, src: number, n: number) => unknown) | null = null;
export function pointerAt(address: number): unknown {
  libcMemcpy ??= koffi.load('libc.so.6').func('void *memcpy(uint64_t dst, uint64_t src, size_t n)') as (dst: number, src: number, n: number) => unknown;
  return libcMemcpy(address, address, 0);
}
// cp_reg as an integer address too (a Number): the hook compares it with the last one seen,
// without koffi.address() making a BigInt on every call.
export const InsnSysCb = koffi.proto('uint32_t hypemu_insn_sys_cb(void *uc, int reg, uint64_t cp_reg, void *ud)');
export const IntrCb = koffi.proto('void hypemu_intr_cb(void *uc, uint32_t intno, void *ud)');
export const CodeCb = koffi.proto('void hypemu_code_cb(void *uc, uint64_t address, uint32_t size, void *ud)');
export const MmioReadCb = koffi.proto('uint64_t hypemu_mmio_read_cb(void *uc, uint64_t offset, unsigned int size, void *ud)');
export const MmioWriteCb = koffi.proto(
  'void hypemu_mmio_write_cb(void *uc, uint64_t offset, unsigned int size, uint64_t value, void *ud)',
);
/** UC_HOOK_MEM_READ / UC_HOOK_MEM_WRITE (uc_cb_hookmem_t): called before the access. */
export const MemHookCb = koffi.proto(
  'void hypemu_mem_hook_cb(void *uc, int type, uint64_t address, int size, int64_t value, void *ud)',
);
export const MemEventCb = koffi.proto(
  'bool hypemu_mem_event_cb(void *uc, int type, uint64_t address, int size, int64_t value, void *ud)',
);

function bind(lib: LibraryHandle) {
  return {
    uc_version: lib.func('unsigned int uc_version(_Out_ unsigned int *major, _Out_ unsigned int *minor)'),
    uc_open: lib.func('int uc_open(int arch, int mode, _Out_ void **uc)'),
    uc_close: lib.func('int uc_close(void *uc)'),
    uc_strerror: lib.func('const char *uc_strerror(int code)'),
    uc_ctl: lib.func('int uc_ctl(void *uc, int control, ...)'),
    uc_reg_read: lib.func('int uc_reg_read(void *uc, int regid, void *value)'),
    uc_reg_write: lib.func('int uc_reg_write(void *uc, int regid, void *value)'),
    uc_mem_read: lib.func('int uc_mem_read(void *uc, uint64_t address, void *bytes, size_t size)'),
    uc_mem_write: lib.func('int uc_mem_write(void *uc, uint64_t address, void *bytes, size_t size)'),
    uc_mem_map: lib.func('int uc_mem_map(void *uc, uint64_t address, size_t size, uint32_t perms)'),
    uc_mem_map_ptr: lib.func('int uc_mem_map_ptr(void *uc, uint64_t address, size_t size, uint32_t perms, void *ptr)'),
    uc_mmio_map: lib.func(
      'int uc_mmio_map(void *uc, uint64_t address, size_t size, hypemu_mmio_read_cb *rd, void *ud_r, hypemu_mmio_write_cb *wr, void *ud_w)',
    ),
    // The same with native callbacks (native/uart-mmio.c): raw function pointers.
    uc_mmio_map_native: lib.func('uc_mmio_map', 'int', ['void *', 'uint64_t', 'size_t', 'void *', 'void *', 'void *', 'void *']),
    // vals is declared as an array of addresses (void ** in C): see RegBatch in uc.ts.
    uc_reg_read_batch: lib.func('int uc_reg_read_batch(void *uc, int *regs, uint64_t *vals, int count)'),
    uc_reg_write_batch: lib.func('int uc_reg_write_batch(void *uc, int *regs, uint64_t *vals, int count)'),
    uc_emu_start: lib.func('int uc_emu_start(void *uc, uint64_t begin, uint64_t until, uint64_t timeout, size_t count)'),
    uc_emu_stop: lib.func('int uc_emu_stop(void *uc)'),
    uc_hook_add: lib.func(
      'int uc_hook_add(void *uc, _Out_ size_t *hh, int type, void *callback, void *ud, uint64_t begin, uint64_t end, ...)',
    ),
    uc_hook_del: lib.func('int uc_hook_del(void *uc, size_t hh)'),
  };
}

export type UnicornApi = ReturnType<typeof bind>;

/**
 * Two functions of Unicorn's QEMU that its public API does not offer: translated code invalidated
 * by *physical* (RAM) address. uc_ctl_remove_cache takes a guest VA and translates it for fetch
 * with the current regime, which cannot name code reached through another alias. libunicorn
 * exports QEMU's functions with the target suffix (Debian's 2.1.1 does); a build that hides them
 * yields null, and the caller falls back to flushing all translated code.
 */
export interface UnicornCodeApi {
  /** ram_addr_t qemu_ram_addr_from_host(uc, host pointer): RAM_ADDR_INVALID (all ones) if not RAM. */
  ramAddrFromHost(uc: unknown, ptr: unknown): number | bigint;
  /** void tb_invalidate_phys_range(uc, ram_addr start, ram_addr end). */
  invalidatePhysRange(uc: unknown, start: number, end: number): void;
}
function bindCode(lib: LibraryHandle): UnicornCodeApi | null {
  if (process.env.HYPEMU_TB_INVALIDATE === 'off') return null;
  try {
    return {
      ramAddrFromHost: lib.func('uint64_t qemu_ram_addr_from_host_aarch64(void *uc, void *ptr)') as never,
      invalidatePhysRange: lib.func('void tb_invalidate_phys_range_aarch64(void *uc, uint64_t start, uint64_t end)') as never,
    };
  } catch {
    return null;
  }
}

/**
 * libc's mmap/madvise: guest RAM is an anonymous private mapping, so the OS
 * zero-fills pages when first touched and RSS grows with what the guest uses
 * (koffi.alloc would allocate and zero everything up front, and caps at 2 GiB).
 */
let libcMem: {
  mmap: (addr: null, len: number, prot: number, flags: number, fd: number, off: number) => unknown;
  madvise: (addr: unknown, len: number, advice: number) => number;
  errno: () => number;
} | null = null;
export function libcMemory(): NonNullable<typeof libcMem> {
  if (libcMem) return libcMem;
  const libc = koffi.load('libc.so.6');
  const errnoLoc = libc.func('int *__errno_location(void)');
  libcMem = {
    mmap: libc.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)') as never,
    madvise: libc.func('int madvise(void *addr, size_t len, int advice)') as never,
    errno: () => koffi.decode(errnoLoc() as never, 'int') as number,
  };
  return libcMem;
}

/** A native library of ours, or why there is none (`why` is '' when it loaded). */
export interface NativeLib<T> {
  readonly lib: T | null;
  readonly why: string;
}

const nativeLibs = new Map<string, NativeLib<unknown>>();
/** How to get the native helpers: setup in a checkout, the package's install script when installed. */
const NATIVE_FIX = 'build it with a C compiler: npm run setup in a checkout, `npm rebuild hypemu` where hypemu is installed';

/**
 * One of our native libraries in vendor/native/ (built by `npm run setup`, or by the installed
 * package's postinstall, scripts/build-native.mjs), loaded and bound once:
 * null with the reason when $`env`=off disables it (a measurement baseline; `env` null: no such
 * switch), the file is missing, or it does not load or bind (`bind` may throw to refuse it).
 */
function nativeLib<T>(file: string, env: string | null, bind: (lib: LibraryHandle, path: string) => T): NativeLib<T> {
  if (env !== null && process.env[env] === 'off') return { lib: null, why: `${env}=off` };
  const known = nativeLibs.get(file) as NativeLib<T> | undefined;
  if (known !== undefined) return known;
  const path = join(packageRoot(), 'vendor/native', file);
  let r: NativeLib<T>;
  if (!existsSync(path)) r = { lib: null, why: `${path} missing (${NATIVE_FIX})` };
  else {
    try {
      r = { lib: bind(koffi.load(path), path), why: '' };
    } catch (e) {
      r = { lib: null, why: `${path}: ${(e as Error).message.split('\n')[0]}` };
    }
  }
  nativeLibs.set(file, r);
  return r;
}

/**
 * A helper that calls into libunicorn resolves those symbols itself: its `int NAME(const char
 * *libpath)` gets the path we loaded and returns 0 when it found everything; otherwise `bind`
 * refuses the helper with `why` (and the helper's code).
 */
function initWithUnicorn(lib: LibraryHandle, name: string, why: string): void {
  const init = lib.func(`int ${name}(const char *libpath)`) as (p: string) => number;
  const rc = init(unicorn().path);
  if (rc !== 0) throw new Error(`${name}: ${why} (${rc})`);
}

/**
 * The native system-instruction filter (native/sysinsn-filter.c, built by `npm run setup` into
 * vendor/native/): null when it is not built, and the caller falls back to the plain JS hook.
 * $HYPEMU_SYSINSN_FILTER=off keeps its bitmaps empty (a measurement baseline: every system
 * instruction reaches JavaScript), but the hook still goes through it, so a skip still leaves
 * the translation block at once and counts stay the same (issue 13).
 */
export interface SysInsnFilterLib {
  readonly path: string;
  create(js: unknown): unknown;
  hook(): unknown;
  cp(filter: unknown): unknown;
  set(filter: unknown, bits: Uint8Array | null): void;
  /**
   * Arm "leave the translation block" for a callback returning 3 (cpu_loop_exit_noexc, see the
   * C file); 0 when armed. Null with a filter built before it existed (then 3 is a plain skip).
   */
  exitInit: ((filter: unknown, libpath: string, cpuOffset: number) => number) | null;
}
/** A function the library may not export (built from an older source): null then. */
function optionalFunc(lib: LibraryHandle, proto: string): unknown {
  try {
    return lib.func(proto);
  } catch {
    return null;
  }
}
/** HYPEMU_SYSINSN_FILTER=off: the native filter's bitmaps stay empty (the library is still loaded). */
export const sysInsnBitmapsOff = process.env.HYPEMU_SYSINSN_FILTER === 'off';
export function sysInsnFilterLib(): NativeLib<SysInsnFilterLib> {
  return nativeLib('libhypemu-sysinsn-filter.so', null, (lib, path) => ({
    path,
    create: lib.func('void *hypemu_sysinsn_filter_new(void *js)') as never,
    hook: lib.func('void *hypemu_sysinsn_filter_hook(void)') as never,
    cp: lib.func('void *hypemu_sysinsn_filter_cp(void *f)') as never,
    set: lib.func('void hypemu_sysinsn_filter_set(void *f, const uint8_t *bits)') as never,
    exitInit: optionalFunc(lib, 'int hypemu_sysinsn_filter_exit_init(void *f, const char *libpath, long cpu_off)') as never,
  }));
}

/**
 * The native page-granular TLB flush (native/tlb-flush.c, built by `npm run setup` into
 * vendor/native/): null when it is not built or libunicorn does not export
 * tlb_flush_page_aarch64; Unicorn's TLB is then flushed whole where a page would do.
 * $HYPEMU_TLB_PAGE_FLUSH=off disables it (a measurement baseline).
 */
export interface TlbFlushLib {
  locateCpu(uc: unknown, m0: bigint, m1: bigint): number;
  flushPages(uc: unknown, cpuOffset: number, vas: Float64Array, n: number): void;
  /**
   * Route tb_gen_code's whole-TLB scan (tlb_reset_dirty_by_vaddr) to a flush of the block's
   * pages (tlb-flush.c hypemu_tlb_reset_dirty_patch): 0 done, <0 left as it was; null from a
   * library built before it existed.
   */
  patchResetDirty: (() => number) | null;
  /** The native TLBI front (tlb-flush.c); null from a library built before it existed. */
  front: {
    create(uc: unknown, cpuOffset: number, js: unknown, fill: unknown, fillLib: string): unknown;
    cb(): unknown;
    layout(what: number): number;
    /** The IC IVAU gate's layout in a front (hypemu_tlbi_front_ic_layout); null from a library built before it. */
    icLayout: ((front: unknown, what: number) => number) | null;
  } | null;
}
export function tlbFlushLib(): TlbFlushLib | null {
  if (process.env.HYPEMU_TLB_PAGE_FLUSH === 'off') return null;
  return nativeTlbLib();
}
/** The same library whatever HYPEMU_TLB_PAGE_FLUSH says: its CPU locator serves the system-instruction filter too. */
export function nativeTlbLib(): TlbFlushLib | null {
  return nativeLib('libhypemu-tlb-flush.so', null, (lib) => {
    initWithUnicorn(lib, 'hypemu_tlb_init', 'libunicorn does not export tlb_flush_page_aarch64');
    const create = optionalFunc(lib, 'void *hypemu_tlbi_front_new(void *uc, long cpu_off, void *js, void *fill, const char *fill_lib)');
    return {
      locateCpu: lib.func('long hypemu_tlb_locate_cpu(void *uc, uint64_t m0, uint64_t m1)') as never,
      flushPages: lib.func('void hypemu_tlb_flush_pages(void *uc, long cpu_off, const double *vas, int n)') as never,
      patchResetDirty: optionalFunc(lib, 'int hypemu_tlb_reset_dirty_patch(void)') as never,
      front:
        create === null || process.env.HYPEMU_NATIVE_TLBI === 'off'
          ? null
          : {
              create: create as never,
              cb: lib.func('void *hypemu_tlbi_front_cb(void)') as never,
              layout: lib.func('uint32_t hypemu_tlbi_front_layout(int what)') as never,
              icLayout: optionalFunc(lib, 'uint32_t hypemu_tlbi_front_ic_layout(void *front, int what)') as never,
            },
    };
  }).lib;
}

/**
 * The native fill cache (native/fill-cache.c, built by `npm run setup` into vendor/native/): null
 * when it is not built or libunicorn does not export uc_reg_read to it, and every TLB fill then
 * goes to JavaScript. $HYPEMU_FILL_CACHE=off disables it (a measurement baseline).
 */
export interface FillCacheLib {
  readonly path: string;
  create(js: unknown): unknown;
  hook(): unknown;
  headerSize(): number;
  clear(cache: unknown): void;
  dropPages(cache: unknown, vas: Float64Array, n: number): void;
  addSite(cache: unknown, va: number): void;
  /** Read each fill's MMU index at this distance from its uc_tlb_entry (0: off); null from a library built before it. */
  setIdxOffset: ((cache: unknown, off: number) => void) | null;
  /** Call `fn(state)` (insn-count.c's lazy PC restoration) before PC is read; null from a library built before it. */
  setRestore: ((cache: unknown, fn: unknown, state: unknown) => void) | null;
}
export function fillCacheLib(): NativeLib<FillCacheLib> {
  return nativeLib('libhypemu-fill-cache.so', 'HYPEMU_FILL_CACHE', (lib, path) => {
    initWithUnicorn(lib, 'hypemu_fill_init', 'uc_reg_read not found in libunicorn');
    return {
      path,
      create: lib.func('void *hypemu_fill_new(void *js)') as never,
      hook: lib.func('void *hypemu_fill_hook(void)') as never,
      headerSize: lib.func('uint32_t hypemu_fill_header_size(void)') as never,
      clear: lib.func('void hypemu_fill_clear(void *f)') as never,
      dropPages: lib.func('void hypemu_fill_drop_pages(void *f, const double *vas, int n)') as never,
      addSite: lib.func('void hypemu_fill_add_site(void *f, double va)') as never,
      setIdxOffset: optionalFunc(lib, 'void hypemu_fill_set_idx_offset(void *f, long off)') as never,
      setRestore: optionalFunc(lib, 'void hypemu_fill_set_restore(void *f, void *fn, void *state)') as never,
    };
  });
}

/**
 * The native interrupt window (native/irq-window.c, built by `npm run setup` into vendor/native/):
 * null when it is not built or libunicorn lacks what it needs, and the run loop then slices
 * straight-line code while an interrupt is pending and masked (unmask-scan.ts).
 * $HYPEMU_IRQ_WINDOW=off disables it (a measurement baseline).
 */
export interface IrqWindowLib {
  create(uc: unknown, cpuOffset: number): unknown;
  raise(win: unknown, on: number): void;
}
export function irqWindowLib(): IrqWindowLib | null {
  return nativeLib('libhypemu-irq-window.so', 'HYPEMU_IRQ_WINDOW', (lib) => {
    initWithUnicorn(lib, 'hypemu_irqwin_init', 'libunicorn lacks what the interrupt window needs');
    return {
      create: lib.func('void *hypemu_irqwin_new(void *uc, long cpu_off)') as never,
      raise: lib.func('void hypemu_irqwin_raise(void *win, int on)') as never,
    };
  }).lib;
}

/**
 * The native console window (native/uart-mmio.c, built by `npm run setup` into vendor/native/):
 * null when it is not built, and the caller keeps every UART access an exit.
 * $HYPEMU_NATIVE_UART=off disables it (a measurement baseline).
 */
export interface UartMmioLib {
  readonly path: string;
  create(slow: unknown, flush: unknown): unknown;
  readCb(): unknown;
  writeCb(): unknown;
  size(): number;
  /** hypemu_uart_recompile_init and hypemu_uart_set_recompile (null: a library built before them). */
  recompileInit: ((libpath: string) => number) | null;
  setRecompile: ((u: unknown, uc: unknown, cpuOff: number, cflagsOff: number, ioPcOff: number, count: unknown) => void) | null;
}
export const UartSlowCb = koffi.proto('uint64_t hypemu_uart_slow_cb(uint64_t offset, uint32_t size, uint32_t write, uint64_t value)');
export const UartFlushCb = koffi.proto('void hypemu_uart_flush_cb(void)');
export function uartMmioLib(): NativeLib<UartMmioLib> {
  return nativeLib('libhypemu-uart-mmio.so', 'HYPEMU_NATIVE_UART', (lib, path) => ({
    path,
    create: lib.func('void *hypemu_uart_new(void *slow, void *flush)') as never,
    readCb: lib.func('void *hypemu_uart_read_cb(void)') as never,
    writeCb: lib.func('void *hypemu_uart_write_cb(void)') as never,
    size: lib.func('uint32_t hypemu_uart_size(void)') as never,
    recompileInit: optionalFunc(lib, 'int hypemu_uart_recompile_init(const char *libpath)') as never,
    setRecompile: optionalFunc(lib, 'void hypemu_uart_set_recompile(void *u, void *uc, long cpu_off, long cflags_off, long io_pc_off, void *count)') as never,
  }));
}


/**
 * The native per-block instruction counter (native/insn-count.c, built by `npm run setup` into
 * vendor/native/): null when it is not built or libunicorn does not export what it calls, and
 * Unicorn then counts every instruction (uc_emu_start's count). $HYPEMU_BLOCK_COUNT=off disables
 * it (a measurement baseline).
 */
export interface InsnCountLib {
  create(uc: unknown, ucStruct: unknown, cpuOffset: number): unknown;
  headerSize(): number;
  setOffsets(c: unknown, cflags: number, ioPc: number, retaddr: number): void;
  begin(c: unknown, budget: number): void;
  blockHook(): unknown;
  fillHook(): unknown;
  syncIoPc(c: unknown): number;
  settle(c: unknown, pc: number): void;
  stopNext(c: unknown): void;
  cflagsCandidate(c: unknown): number;
  ioPcCandidate(c: unknown): number;
  /** Lazy PC restoration in data fills (insn-count.c); null from a library built before it. */
  setLazy: ((c: unknown, on: number) => void) | null;
  restoreFn: (() => unknown) | null;
}
export function insnCountLib(): NativeLib<InsnCountLib> {
  return nativeLib('libhypemu-insn-count.so', 'HYPEMU_BLOCK_COUNT', (lib) => {
    initWithUnicorn(lib, 'hypemu_count_init', 'libunicorn lacks uc_reg_write, uc_emu_stop or cpu_restore_state_aarch64');
    return {
      create: lib.func('void *hypemu_count_new(void *uc, void *base, long cpu_off)') as never,
      headerSize: lib.func('uint32_t hypemu_count_header_size(void)') as never,
      setOffsets: lib.func('void hypemu_count_set_offsets(void *c, long cflags, long io_pc, long retaddr)') as never,
      begin: lib.func('void hypemu_count_begin(void *c, double budget)') as never,
      blockHook: lib.func('void *hypemu_count_block_hook(void)') as never,
      fillHook: lib.func('void *hypemu_count_fill_hook(void)') as never,
      syncIoPc: lib.func('int hypemu_count_sync_io_pc(void *c)') as never,
      settle: lib.func('void hypemu_count_settle(void *c, double pc)') as never,
      stopNext: lib.func('void hypemu_count_stop_next(void *c)') as never,
      cflagsCandidate: lib.func('long hypemu_count_cflags_candidate(void *c)') as never,
      ioPcCandidate: lib.func('long hypemu_count_io_pc_candidate(void *c)') as never,
      setLazy: optionalFunc(lib, 'void hypemu_count_set_lazy(void *c, int on)') as never,
      restoreFn: optionalFunc(lib, 'void *hypemu_count_restore_fn(void)') as never,
    };
  });
}

let cached: { api: UnicornApi; code: UnicornCodeApi | null; path: string; version: [number, number] } | null = null;

/** Load libunicorn once, check its version and bind the functions. */
export function unicorn(): { api: UnicornApi; code: UnicornCodeApi | null; path: string; version: [number, number] } {
  if (cached) return cached;
  const { lib, path } = loadLibrary();
  const api = bind(lib);
  const major = [0];
  const minor = [0];
  api.uc_version(major, minor);
  const version: [number, number] = [major[0]!, minor[0]!];
  if (version[0] < 2 || (version[0] === 2 && version[1] < 1)) {
    throw new UnicornLoadError(
      `libunicorn at ${path} is version ${version.join('.')}, hypemu needs 2.1 or later (UC_HOOK_TLB_FILL); ${FIX}`,
    );
  }
  cached = { api, code: bindCode(lib), path, version };
  return cached;
}

export { koffi };
