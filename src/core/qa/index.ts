export * from './types';
export { parseQa, reparseQa, splitLines, activePairs } from './parse';
export * from './print';
export * from './checks';
export * from './format';
export * from './coverage';
export { QaIndex, NEAR_DUPLICATE_THRESHOLD } from './index-store';
