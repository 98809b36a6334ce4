import { goldenCheck } from './check.js';

goldenCheck('idregs');
