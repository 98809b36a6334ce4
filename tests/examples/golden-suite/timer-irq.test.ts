import { goldenCheck } from './check.js';

goldenCheck('timer-irq');
