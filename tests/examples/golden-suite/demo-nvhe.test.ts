import { goldenCheck } from './check.js';

goldenCheck('demo-nvhe');
