import { goldenCheck } from './check.js';

goldenCheck('demo-s2-pages');
