/** hypemu MMU model: public surface (see the module headers for the Arm ARM references). */
export * from './memory.js';
export * from './descriptors.js';
export * from './config.js';
export * from './walker.js';
export * from './attributes.js';
export * from './faults.js';
export * from './translate.js';
export * from './tlb.js';
export * from './stage2-builder.js';
