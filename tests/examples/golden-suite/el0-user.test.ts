import { goldenCheck } from './check.js';

goldenCheck('el0-user');
