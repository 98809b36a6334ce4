import { goldenCheck } from '../golden-suite/check.js';

goldenCheck('hello');
