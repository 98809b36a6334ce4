/**
 * The EL2 software model: what KVM's arch/arm64/kvm is on hardware. It is the
 * El2Handler the machine calls for every exit; it decides which guest
 * accesses trap, handles each exit, and keeps the statistics.
 */
import type { El2Handler, Exit, ExitAction, ExitReason, SysInsnAccess } from '../emulator/cpu/exits.js';
import { RESUME } from '../emulator/cpu/exits.js';
import type { Vcpu } from '../emulator/cpu/vcpu.js';
import { hypercall } from './hypercalls.js';
import { emulateMmio } from './mmio.js';

export interface ExitStats {
  total: number;
  byReason: Record<ExitReason, number>;
}

export class Hypervisor implements El2Handler {
  readonly exits: ExitStats = {
    total: 0,
    byReason: { sysreg: 0, hvc: 0, smc: 0, dabt_s2: 0, iabt_s2: 0, wfx: 0, irq: 0 },
  };

  routeSysInsn(_vcpu: Vcpu, _access: SysInsnAccess): 'native' | 'trap' | 'handled' {
    return 'native';
  }

  trapsWfx(_vcpu: Vcpu, _wfe: boolean): boolean {
    return false;
  }

  /** HCR_EL2.TSC is set, as KVM does, so PSCI calls over SMC reach the hypervisor. */
  trapsSmc(_vcpu: Vcpu): boolean {
    return true;
  }

  handleExit(vcpu: Vcpu, exit: Exit): ExitAction {
    this.exits.total++;
    this.exits.byReason[exit.reason]++;
    switch (exit.reason) {
      case 'hvc':
      case 'smc': {
        const r = hypercall({ args: [vcpu.x(0), vcpu.x(1), vcpu.x(2), vcpu.x(3)], mpidr: 0n });
        if (r.kind === 'halt') return { kind: 'halt', halt: r.halt };
        vcpu.setX(0, r.x0);
        // A trapped SMC returns to the SMC itself (preferred return address): skip it.
        if (exit.reason === 'smc') vcpu.skipInstruction();
        return RESUME;
      }
      case 'dabt_s2': {
        const outcome = emulateMmio(vcpu, exit);
        if (outcome === 'no-syndrome') {
          return {
            kind: 'halt',
            halt: {
              kind: 'fault',
              message: `MMIO access at IPA 0x${exit.ipa.toString(16)} from PC 0x${exit.pc.toString(16)} has no instruction syndrome (ISV=0: pair, SIMD or writeback form); cannot emulate`,
            },
          };
        }
        return RESUME;
      }
      case 'iabt_s2':
        return {
          kind: 'halt',
          halt: { kind: 'fault', message: `instruction fetch from IPA 0x${exit.ipa.toString(16)}, which is not RAM` },
        };
      default:
        return { kind: 'halt', halt: { kind: 'fault', message: `unexpected ${exit.reason} exit` } };
    }
  }
}
