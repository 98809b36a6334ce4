import { goldenCheck } from '../golden-suite/check.js';

goldenCheck('demo-vhe');
