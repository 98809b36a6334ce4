import { goldenCheck } from './check.js';

goldenCheck('hello');
