import { goldenCheck } from './check.js';

goldenCheck('boot-mmu-dc');
