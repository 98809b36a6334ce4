import { goldenCheck } from './check.js';

goldenCheck('exceptions');
