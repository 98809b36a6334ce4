/**
 * FEAT_RNG (Arm ARM DDI0487 D19.2 "RNDR, Random Number" and "RNDRRS, Reseeded Random Number";
 * C6.2 "MRS"): RNDR and RNDRRS return 64 random bits and set PSTATE.NZCV = 0b0000 on success
 * (NZCV = 0b0100 and a zero value would mean "no entropy this time"; ours never fails).
 *
 * The core (Unicorn 2.1, QEMU's rndr_readfn) draws host entropy through qemu_guest_getrandom,
 * which would make two runs differ. hypemu answers both registers from a seeded deterministic
 * generator instead (`--seed N`), as QEMU does under `-seed`: the vCPU's system-instruction
 * hook sees the MRS before QEMU looks the register up, and the device route skips it, so the
 * core's own RNDR never runs. RNDRRS ("reseeded") draws from the same stream: the architecture
 * asks only that it be reseeded from a true source, which a reproducible machine has none of.
 *
 * The generator is SplitMix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number
 * generators", OOPSLA 2014): 64 bits of state, every seed a distinct full-period stream.
 * Independent streams (RNDR, the device tree's seeds) mix a name into the seed.
 */
import type { SysregCatalogue, SysregDef, SysregEntry } from '../cpu/sysreg-catalogue.js';
import { applyState, captureState, type RestoreContext, type SnapshotContext, type Snapshottable, type StateValue } from '../snapshot/state.js';

const MASK64 = 0xffff_ffff_ffff_ffffn;
const GOLDEN = 0x9e37_79b9_7f4a_7c15n;

/** The default of `--seed`: fixed, so that runs are reproducible unless the user varies it. */
export const DEFAULT_SEED = 0n;

/** FNV-1a (64-bit) of a stream name: domain separation between streams of one seed. */
function nameHash(name: string): bigint {
  let h = 0xcbf2_9ce4_8422_2325n;
  for (let i = 0; i < name.length; i++) h = ((h ^ BigInt(name.charCodeAt(i))) * 0x100_0000_01b3n) & MASK64;
  return h;
}

/** A deterministic 64-bit generator (SplitMix64). */
export class SeededRandom implements Snapshottable {
  private state: bigint;

  /** The stream `name` of `seed` (0 <= seed < 2^64). */
  constructor(seed: bigint, name: string) {
    this.state = (BigInt.asUintN(64, seed) ^ nameHash(name)) & MASK64;
  }

  next64(): bigint {
    this.state = (this.state + GOLDEN) & MASK64;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58_476d_1ce4_e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d0_49bb_1331_11ebn) & MASK64;
    return z ^ (z >> 31n);
  }

  /** n bytes, little-endian from successive 64-bit draws. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 8) {
      let v = this.next64();
      for (let j = i; j < Math.min(n, i + 8); j++, v >>= 8n) out[j] = Number(v & 0xffn);
    }
    return out;
  }

  snapshot(ctx: SnapshotContext): StateValue {
    return captureState(this, ctx);
  }
  restore(state: StateValue, ctx: RestoreContext): void {
    applyState(this, state, ctx);
  }
}

/** What the device needs of the CPU: RNDR writes PSTATE.NZCV. */
export interface RngCpu {
  /** Set PSTATE.NZCV (bits [31:28] of the value, as the NZCV system register holds them). */
  setNzcv(nzcv: number): void;
}

/**
 * Answer the catalogue's RNDR/RNDRRS rows (group 'RNDR') from `rng`. A read sets NZCV = 0b0000
 * (success) and returns the next 64 bits; the instruction is read-only (writes are UNDEFINED
 * by the row's access, never reach here).
 */
export function registerRng(catalogue: SysregCatalogue, rows: readonly SysregDef[], rng: SeededRandom, cpu: RngCpu): void {
  const defs = rows.filter((d) => d.group === 'RNDR');
  if (defs.length !== 2) throw new Error(`FEAT_RNG: expected the RNDR and RNDRRS rows, found ${defs.map((d) => d.name).join(', ')}`);
  catalogue.register(
    defs,
    {
      read: (_e: SysregEntry) => {
        cpu.setNzcv(0);
        return rng.next64();
      },
      write: () => {},
    },
    { replace: true },
  );
}
