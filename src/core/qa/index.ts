export * from './types';
export { parseQa, activePairs } from './parse';
export * from './print';
