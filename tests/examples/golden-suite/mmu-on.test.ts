import { goldenCheck } from './check.js';

goldenCheck('mmu-on');
