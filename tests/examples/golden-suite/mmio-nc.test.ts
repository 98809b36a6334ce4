import { goldenCheck } from './check.js';

goldenCheck('mmio-nc');
