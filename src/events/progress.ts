/**
 * Progress of a conversion (or a diff), as typed events.
 *
 * @module
 */
import { Emitter } from './emitter.js';

/**
 * Where a conversion is: `bases` (a diff reading the indexes of its bases), `reading` (the
 * layer is being cut and stored), `finishing` (the input has ended; the index is being
 * completed), `done`.
 */
export type ConvertPhase = 'bases' | 'reading' | 'finishing' | 'done';

/** Totals so far. */
export interface ConvertProgress {
  phase: ConvertPhase;
  /** Bytes of the blob read (compressed, if it is). */
  bytesIn: number;
  /** Tar entries seen (whiteouts included). */
  entries: number;
  /** Data chunk references so far, and how many of them were new to the store. */
  chunks: number;
  newChunks: number;
  /** Bytes of those new chunks. */
  newBytes: number;
}

/** The events a conversion emits. */
export type ConvertEvents = {
  /** The phase changed. */
  phase: (phase: ConvertPhase, progress: ConvertProgress) => void;
  /** The totals changed (after each tar entry and each chunk). */
  progress: (progress: ConvertProgress) => void;
};

/** The emitter of a conversion's {@link ConvertEvents}. */
export class ConvertEmitter extends Emitter<ConvertEvents> {
  /** The current totals (a live object: copy it to keep a snapshot). */
  readonly current: ConvertProgress = {
    phase: 'reading',
    bytesIn: 0,
    entries: 0,
    chunks: 0,
    newChunks: 0,
    newBytes: 0,
  };

  /** Moves to a phase and tells the listeners. */
  setPhase(phase: ConvertPhase): void {
    if (this.current.phase === phase) return;
    this.current.phase = phase;
    this.emit('phase', phase, this.current);
    this.emit('progress', this.current);
  }

  /** Tells the listeners the totals changed. */
  changed(): void {
    this.emit('progress', this.current);
  }
}
