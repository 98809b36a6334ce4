import { goldenCheck } from './check.js';

goldenCheck('counter-poll');
