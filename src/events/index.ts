export { Emitter } from './emitter.js';
export {
  ConvertEmitter,
  type ConvertEvents,
  type ConvertPhase,
  type ConvertProgress,
} from './progress.js';
