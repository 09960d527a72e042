import { describe, expect, it } from 'vitest'
import { DmaFault, ERRNO, IommufdError, errnoCode } from '../src/index.js'

describe('IommufdError', () => {
  it('carries code, Linux errno and the operation', () => {
    const e = new IommufdError('EINVAL', 'IOMMU_IOAS_MAP', 'bad')
    expect(e.code).toBe('EINVAL')
    expect(e.errno).toBe(22)
    expect(e.op).toBe('IOMMU_IOAS_MAP')
    expect(e.message).toContain('IOMMU_IOAS_MAP')
  })
  it('is recognised by its brand, not by class identity', () => {
    const e = new IommufdError('ENOENT', 'x', 'y')
    const foreign = { ...e, [Symbol.for('@iommu-sim/core/IommufdError')]: true }
    expect(IommufdError.is(e)).toBe(true)
    expect(IommufdError.is(foreign)).toBe(true)
    expect(IommufdError.is(new Error('x'))).toBe(false)
    expect(IommufdError.is(null)).toBe(false)
  })
  it('uses the Linux errno numbers', () => {
    expect([ERRNO.EPERM, ERRNO.ENOENT, ERRNO.E2BIG, ERRNO.EFAULT, ERRNO.EBUSY, ERRNO.EEXIST, ERRNO.ENOTTY, ERRNO.EOVERFLOW, ERRNO.EOPNOTSUPP, ERRNO.EADDRINUSE]).toEqual([
      1, 2, 7, 14, 16, 17, 25, 75, 95, 98,
    ])
    expect(errnoCode(-95)).toBe('EOPNOTSUPP')
  })
  it('DmaFault has its own brand and describes the failed access', () => {
    const f = new DmaFault({ reason: 'translation', iova: 0x1000n, deviceId: 0x10, pasid: undefined, write: true })
    expect(DmaFault.is(f)).toBe(true)
    expect(IommufdError.is(f)).toBe(false)
    expect(f.message).toContain('0x1000')
  })
})
