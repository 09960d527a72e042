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

/** Records a successful translation in `out` and returns true (shared by every walker). */
export function setLeaf(out: WalkResult, stage: number, level: number, oa: number, sizeLg2: number, perm: number, lo: number, hi: number, reads: number): true {
  out.fault = 0
  out.stage = stage
  out.level = level
  out.oa = oa
  out.sizeLg2 = sizeLg2
  out.perm = perm
  out.s1Perm = perm
  // Signed 32-bit: keeps the fields small-integer typed in V8 (a uint32 above 2^31 would make
  // them boxed doubles and every walk slower).
  out.leafLo = lo | 0
  out.leafHi = hi | 0
  out.reads += reads
  return true
}

/** Records a permission fault (with the permissions that were granted) and returns false. */
export function setPermFault(out: WalkResult, perm: number, stage: number, level: number, address: number, reads: number): false {
  out.perm = perm
  return setFault(out, 2, stage, level, address, reads)
}
