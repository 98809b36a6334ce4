import { goldenCheck } from './check.js';

goldenCheck('mair-uncached');
