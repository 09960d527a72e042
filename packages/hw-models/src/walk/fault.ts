import type { WalkResult } from './result.js'

/** Records a fault in `out` and returns false (cold path; shared by every walker). */
export function setFault(out: WalkResult, kind: number, stage: number, level: number, address: number, reads: number): false {
  out.fault = kind
  out.stage = stage
  out.level = level
  out.faultAddress = address
  out.reads += reads
  return false
}
