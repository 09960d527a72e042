/** Inclusive IOVA ranges (`struct iommu_iova_range`) and the few set operations IOAS needs. */
import { U64_MAX } from '../uapi/constants.js'

export interface IovaRange {
  readonly start: bigint
  readonly last: bigint
}

/** The largest u64 (kept under this name for the range code). */
export const U64 = U64_MAX

export function overlaps(aStart: bigint, aLast: bigint, bStart: bigint, bLast: bigint): boolean {
  return aStart <= bLast && bStart <= aLast
}

/** Sorts and merges overlapping or touching ranges. */
export function mergeRanges(ranges: readonly IovaRange[]): IovaRange[] {
  const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))
  const out: { start: bigint; last: bigint }[] = []
  for (const r of sorted) {
    const prev = out[out.length - 1]
    if (prev !== undefined && r.start <= prev.last + 1n) {
      if (r.last > prev.last) prev.last = r.last
    } else {
      out.push({ start: r.start, last: r.last })
    }
  }
  return out
}

/** The holes of `used` inside [from, to], ascending. */
export function holes(used: readonly IovaRange[], from: bigint, to: bigint): IovaRange[] {
  const out: IovaRange[] = []
  let cur = from
  for (const r of mergeRanges(used)) {
    if (r.last < cur) continue
    if (r.start > to) break
    if (r.start > cur) out.push({ start: cur, last: r.start - 1n })
    if (r.last >= to) return out
    cur = r.last + 1n
  }
  if (cur <= to) out.push({ start: cur, last: to })
  return out
}

/** roundup_pow_of_two for a positive bigint. */
export function roundupPowOfTwo(x: bigint): bigint {
  let p = 1n
  while (p < x) p <<= 1n
  return p
}

/** 1 << __ffs(x): the lowest set bit of a non-zero bigint. */
export function lowestSetBit(x: bigint): bigint {
  return x & -x
}

/** Linux ALIGN(x, a) on a u64 (wraps like C). */
export function alignUp(x: bigint, a: bigint): bigint {
  return ((x + a - 1n) & ~(a - 1n)) & U64
}
