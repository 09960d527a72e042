import type { WalkResult } from './result.js'

/**
 * Translates the address of a descriptor before the walker reads it. A single-stage walk has no
 * hook (descriptor addresses are physical). A nested walk passes a stage-2 translator, so every
 * stage-1 table address (an IPA / GPA) is itself walked through stage 2 — the hardware's
 * two-dimensional walk. A unit model may implement its own hook (a stage-2 walk cache, a GCR3
 * fetch, tracing).
 *
 * `fetch` returns the physical address to read, or -1 after recording the fault in `out` (`fault`,
 * `stage`, `level`, `faultAddress`); the calling walker then marks it `duringTableWalk`.
 * Implementations must not reset `out.reads` (walks accumulate into it).
 */
export interface WalkFetch {
  fetch(addr: number, out: WalkResult): number
}
