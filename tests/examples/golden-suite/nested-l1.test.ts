import { goldenCheck } from './check.js';

goldenCheck('nested-l1');
