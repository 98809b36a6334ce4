/**
 * hypemu as a library: `import { Machine } from 'hypemu'`. See README "Library API".
 */
export { Machine, type MachineIo, type RunResult, type Registers, type Until } from './machine.js';
export type { MachineConfig, ResolvedConfig, ImageFormatOption, Numeric } from './config.js';
export type {
  ExitEvent, ExitPath, SysregExitEvent, AbortExitEvent, HypercallExitEvent, WfxExitEvent, IrqExitEvent,
  ConsoleEvent, InterruptEvent, MachineEvent, MachineEventMap, MachineEventName,
} from './events.js';
export { EXIT_CODES, exitCodeFor, describeEnd, type RunEnd } from './exit-status.js';
export { ConfigError } from './errors.js';
export type { MachineStats } from './stats.js';
export type { WalkReport } from '../emulator/mmu/walk-report.js';
export { recordGolden, checkGolden, readGolden, type GoldenMeta, type GoldenCheck, type CheckOptions, type RecordOptions, type RecordResult } from './golden.js';
export type { Divergence, GoldenComparison } from './golden-compare.js';
export type { InstructionDivergence } from './golden-lockstep.js';
export type { CheckpointMeta } from './golden-checkpoints.js';
