import { goldenCheck } from './check.js';

goldenCheck('boot-dtb-raw');
