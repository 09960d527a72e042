const brand = Symbol.for('@iommu-sim/hw-models/PageTableError')

/**
 * A refused page-table operation. Codes follow the errno the Linux page-table code returns for the
 * same situation, so a driver can pass them through: EEXIST (map over a present entry), EINVAL
 * (misaligned / out-of-range / unsupported arguments), ENOENT (unmap of something not mapped is
 * *not* an error: it returns 0 bytes), ENOMEM comes from PhysicalMemory as PhysicalMemoryError.
 */
export type PageTableErrorCode = 'EEXIST' | 'EINVAL' | 'ENOENT'

export class PageTableError extends Error {
  override readonly name = 'PageTableError'
  readonly [brand] = true
  constructor(readonly code: PageTableErrorCode, message: string) {
    super(`${code}: ${message}`)
  }
  static is(e: unknown): e is PageTableError {
    return typeof e === 'object' && e !== null && brand in e
  }
}
