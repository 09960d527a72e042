import { describe, expect, it } from 'vitest'
import { IommufdError, UserData, UserDataArray } from '../src/index.js'

function errCode(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (e) {
    return IommufdError.is(e) ? e.code : String(e)
  }
  return undefined
}

describe('UserData copy helpers (include/linux/iommu.h iommu_copy_struct_*)', () => {
  it('copy_struct_from_user: type mismatch → EINVAL', () => {
    expect(errCode(() => UserData.fromBytes(1, new Uint8Array(8)).copyStruct(2, 8, 4))).toBe('EINVAL')
  })
  it('copy_struct_from_user: shorter than the minimum → EINVAL', () => {
    expect(errCode(() => UserData.fromBytes(1, new Uint8Array(3)).copyStruct(1, 8, 4))).toBe('EINVAL')
  })
  it('copy_struct_from_user: longer than the kernel struct → EINVAL even with a zero tail', () => {
    expect(errCode(() => UserData.fromBytes(1, new Uint8Array(12)).copyStruct(1, 8, 4))).toBe('EINVAL')
  })
  it('copy_struct_from_user: a short struct is zero-extended', () => {
    const got = UserData.fromBytes(1, new Uint8Array([1, 2, 3, 4])).copyStruct(1, 8, 4)
    expect([...got]).toEqual([1, 2, 3, 4, 0, 0, 0, 0])
  })
  it('copy_struct_to_user writes back len bytes, refusing a len outside [min, size]', () => {
    const bytes = new Uint8Array(8)
    const ud = UserData.fromBytes(7, bytes)
    ud.copyToUser(7, new Uint8Array([9, 9, 9, 9, 9, 9, 9, 9, 9, 9]), 4)
    expect([...bytes]).toEqual([9, 9, 9, 9, 9, 9, 9, 9])
    expect(errCode(() => UserData.fromBytes(7, new Uint8Array(2)).copyToUser(7, new Uint8Array(8), 4))).toBe('EINVAL')
  })
  it('copy_struct_from_user_array: index beyond entry_num or an empty array → EINVAL', () => {
    const arr = UserDataArray.fromBytes(3, new Uint8Array(16), 8, 2)
    expect(errCode(() => arr.copyEntry(3, 2, 8, 8))).toBe('EINVAL')
    expect(errCode(() => UserDataArray.fromBytes(3, new Uint8Array(0), 8, 0).copyEntry(3, 0, 8, 8))).toBe('EINVAL')
    expect(arr.copyEntry(3, 1, 8, 8).length).toBe(8)
  })
  it('copy_struct_from_full_user_array: longer entries need a zero tail (E2BIG), shorter are zero-extended', () => {
    const bytes = new Uint8Array(2 * 12)
    bytes[0] = 5
    bytes[12] = 6
    const ok = UserDataArray.fromBytes(9, bytes, 12, 2).copyAll(9, 8)
    expect(ok.map((e) => e[0])).toEqual([5, 6])
    bytes[10] = 1
    expect(errCode(() => UserDataArray.fromBytes(9, bytes, 12, 2).copyAll(9, 8))).toBe('E2BIG')
    const short = UserDataArray.fromBytes(9, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), 4, 2).copyAll(9, 8)
    expect([...short[1]!]).toEqual([5, 6, 7, 8, 0, 0, 0, 0])
    expect(errCode(() => UserDataArray.fromBytes(9, new Uint8Array(0), 8, 0).copyAll(9, 8))).toBe('EINVAL')
  })
  it('unreadable user memory → EFAULT', () => {
    const arr = UserDataArray.fromBytes(3, new Uint8Array(8), 8, 2)
    expect(errCode(() => arr.copyEntry(3, 1, 8, 8))).toBe('EFAULT')
  })
})
