/**
 * What an exit would cost on hardware: a cycle-cost model with documented,
 * configurable defaults, so a user can quantify the performance hit of a
 * trapping policy (seed 000 set out to do exactly that), next to the host
 * nanoseconds our model really spent.
 *
 * Defaults are orders of magnitude from published measurements of KVM/arm64
 * (Dall et al., "ARM Virtualization: Performance and Architectural
 * Implications", ISCA 2016, Table 3; and the seed 000 thread): a trap to EL2
 * and ERET back costs tens of cycles, a full nVHE world switch thousands, a
 * VHE one several hundred, and an exit to the user-space device model
 * thousands more. They are a model, not a measurement of this machine.
 */
import type { ExitReason } from '../emulator/cpu/exits.js';
import type { HypMode } from './context.js';

export interface CostModel {
  /** Exception entry to EL2 plus the ERET back (every exit pays it). */
  trap: number;
  /** A fast-path handler at EL2 (no context save). */
  fastPath: number;
  /** Saving and restoring the guest context and switching to the host. */
  worldSwitch: Record<HypMode, number>;
  /** The host's handler for each exit reason (`debug`: DEBUG_HANDLER_CYCLES unless set). */
  handler: Record<Exclude<ExitReason, 'debug'>, number> & { debug?: number };
  /** Returning to the user-space device model and back (vcpu_put/vcpu_load, ioctl). */
  userspace: number;
}

export const DEFAULT_COST_MODEL: CostModel = {
  trap: 70,
  fastPath: 30,
  worldSwitch: { nvhe: 4500, vhe: 600 },
  handler: { sysreg: 150, hvc: 300, smc: 300, dabt_s2: 900, iabt_s2: 800, wfx: 200, irq: 300 },
  userspace: 5000,
};

/** A debug exit's handler (MDCR_EL2.TDE), as an HVC's: decode the syndrome, reflect or resume. */
export const DEBUG_HANDLER_CYCLES = 300;

/** Keys a user can set with `--cost KEY=CYCLES`. */
export const COST_KEYS = [
  'trap',
  'fastPath',
  'worldSwitch.nvhe',
  'worldSwitch.vhe',
  'userspace',
  ...(['sysreg', 'hvc', 'smc', 'dabt_s2', 'iabt_s2', 'wfx', 'irq', 'debug'] as const).map((r) => `handler.${r}`),
] as const;

/** Apply `KEY=CYCLES` overrides; throws with a one-line message on a bad key or value. */
export function costModelWith(overrides: readonly string[], base: CostModel = DEFAULT_COST_MODEL): CostModel {
  const m: CostModel = structuredClone(base);
  for (const o of overrides) {
    const eq = o.indexOf('=');
    const key = eq > 0 ? o.slice(0, eq) : o;
    const val = Number(eq > 0 ? o.slice(eq + 1) : NaN);
    if (!(COST_KEYS as readonly string[]).includes(key)) throw new Error(`unknown cost key '${key}' (known: ${COST_KEYS.join(', ')})`);
    if (!Number.isFinite(val) || val < 0) throw new Error(`cost ${key}: '${o.slice(eq + 1)}' is not a non-negative number of cycles`);
    const [a, b] = key.split('.') as [string, string | undefined];
    if (b === undefined) (m as unknown as Record<string, number>)[a] = val;
    else (m as unknown as Record<string, Record<string, number>>)[a]![b] = val;
  }
  return m;
}
