/**
 * golden.json's shape, a types-only leaf: golden.ts writes and reads it, golden-compare.ts reports
 * against it, without the two importing each other.
 */
import type { RunEnd } from './exit-status.js';
import type { CheckpointMeta } from './golden-checkpoints.js';

/** golden.json */
export interface GoldenMeta {
  readonly format: number;
  readonly hypemu: string;
  /** The image, relative to the golden directory. */
  readonly image: string;
  readonly imageSha256: string;
  /** The run options (MachineConfig fields the user gave), initrd relative to the golden directory. */
  readonly options: Readonly<Record<string, unknown>>;
  readonly status: number;
  readonly end: RunEnd;
  readonly instructions: number;
  /** Lines in trace.jsonl. */
  readonly records: number;
  /** The register-state checkpoints (format 2; absent when recorded with checkpointEvery 0). */
  readonly checkpoints?: CheckpointMeta;
  /** With a kept image (`image` is then the copy in the directory): where it was copied from, relative to the directory. */
  readonly source?: string;
}
