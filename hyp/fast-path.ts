/**
 * EL2 fast-path handlers beyond seed 000's VM-register accesses (those live with their policy
 * in sysreg-policy.ts): each completes a trap on the live vCPU, without saving or restoring
 * the guest context, or returns false for the world switch (KVM's hyp/include/hyp/switch.h
 * contract).
 *
 * ID-register reads under HCR_EL2.TID1/TID2/TID3/TID4 (Arm ARM D19.2.48 "HCR_EL2": TID3 traps the
 * ID group 3 registers, ID_AA64*_EL1 among them): the value is a pure function of the
 * sanitised feature set (hyp/idregs.ts) and, for CCSIDR_EL1, of CSSELR_EL1, which is on the CPU
 * while the guest runs. Nothing needs the host, so the read is answered at EL2, as pKVM answers
 * a protected guest's ID-register reads at EL2 (arch/arm64/kvm/hyp/nvhe/sys_regs.c,
 * kvm_handle_pvm_sysreg / pvm_read_id_reg). Linux reads ID_AA64ISAR0_EL1 on every
 * arch_get_random call before its CPU capabilities are final (issue 10: 48k-246k reads in a
 * 6.12 boot), each a world switch until now.
 *
 * A read the feature set cannot answer (CCSIDR2_EL1 without FEAT_CCIDX: UNDEFINED), a
 * writable ID-group register (CSSELR_EL1) and every write go to the world switch.
 */
import type { SysregExit } from '../emulator/cpu/exits.js';
import type { GuestCpu } from '../emulator/cpu/guest-cpu.js';
import { SR, sysregKey } from '../emulator/cpu/sysregs.js';
import type { FeatureSet } from './idregs.js';
import { rowOf } from './sysreg-table.js';
import type { HypStats } from './stats.js';

const KEY_CCSIDR = sysregKey({ op0: 3, op1: 1, crn: 0, crm: 0, op2: 0 });

/** Is this exit an ID-register read the feature set answers (no side effects)? */
export function idReadApplies(features: FeatureSet, exit: SysregExit): boolean {
  if (!exit.read || exit.row === null) return false;
  const row = rowOf(exit.row);
  const g = row.group;
  if ((g !== 'ID0' && g !== 'ID1' && g !== 'ID2' && g !== 'ID3') || row.access === 'rw') return false;
  // CCSIDR_EL1 is always answerable (a CSSELR selecting no cache reads 0); only CCSIDR2 can be absent.
  return row.key === KEY_CCSIDR || features.readByKey(row.key) !== null;
}

/** The fast path of a trapped ID-register read: Xt = the feature set's value, PC past the MRS. */
export function idReadFastPath(features: FeatureSet, stats: HypStats, vcpu: GuestCpu, exit: SysregExit): boolean {
  if (!idReadApplies(features, exit)) return false;
  const key = exit.row!.key;
  const csselr = key === KEY_CCSIDR ? Number(vcpu.sysreg(SR.CSSELR_EL1) & 0xffn) : 0;
  const v = features.readByKey(key, csselr);
  if (v === null) return false;
  const c = stats.sysreg(rowOf(exit.row!).name);
  c.reads++;
  c.fastPath++;
  vcpu.setX(exit.rt, v);
  vcpu.pc = exit.pc + 4;
  return true;
}
