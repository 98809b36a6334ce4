import { goldenCheck } from './check.js';

goldenCheck('debug-events');
