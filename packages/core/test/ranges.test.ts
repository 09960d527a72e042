import { describe, expect, it } from 'vitest'
import { alignUp, holes, lowestSetBit, mergeRanges, roundupPowOfTwo, U64 } from '../src/ioas/ranges.js'

describe('IOVA range helpers', () => {
  it('merges overlapping and touching ranges', () => {
    expect(mergeRanges([{ start: 10n, last: 19n }, { start: 0n, last: 9n }, { start: 30n, last: 40n }, { start: 35n, last: 50n }])).toEqual([
      { start: 0n, last: 19n },
      { start: 30n, last: 50n },
    ])
  })

  it('finds holes over the whole u64 space', () => {
    expect(holes([], 0n, U64)).toEqual([{ start: 0n, last: U64 }])
    expect(holes([{ start: 0n, last: 0xffffffn }, { start: 0x80000000n, last: U64 }], 0n, U64)).toEqual([{ start: 0x1000000n, last: 0x7fffffffn }])
  })

  it('roundup_pow_of_two, __ffs and ALIGN behave like the kernel helpers', () => {
    expect(roundupPowOfTwo(1n)).toBe(1n)
    expect(roundupPowOfTwo(0x3001n)).toBe(0x4000n)
    expect(lowestSetBit(0x7f0000201000n)).toBe(0x1000n)
    expect(alignUp(0x1001n, 0x1000n)).toBe(0x2000n)
    expect(alignUp(U64 - 10n, 0x1000n)).toBe(0n) // wraps like C
  })
})
