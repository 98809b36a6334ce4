// The process running this guest dies mid-run, as a native crash in the CPU core would end it
// (Unicorn 2.1.1's decoder asserting on an unallocated FP16 encoding did, with SIGABRT): here
// the child is sent SIGSEGV as soon as it is spawned (not after a delay: on a quiet machine the
// guest finishes within a second and the kill would never land).
import { goldenCheck } from '../golden-suite/check.js';

goldenCheck('timer-irq', { onChild: (child) => void child.kill('SIGSEGV') });
