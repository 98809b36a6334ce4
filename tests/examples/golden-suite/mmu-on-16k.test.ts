import { goldenCheck } from './check.js';

goldenCheck('mmu-on-16k');
