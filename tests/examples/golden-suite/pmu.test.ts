import { goldenCheck } from './check.js';

goldenCheck('pmu');
