const brand = Symbol.for('@iommu-sim/hw-models/PhysicalMemoryError')

export type PhysicalMemoryErrorCode = 'ENOMEM' | 'EFAULT' | 'EINVAL' | 'EPERM'

/** A physical-memory failure: exhaustion (ENOMEM), an access outside memory (EFAULT), misuse. */
export class PhysicalMemoryError extends Error {
  override readonly name = 'PhysicalMemoryError'
  readonly [brand] = true
  constructor(readonly code: PhysicalMemoryErrorCode, message: string) {
    super(`${code}: ${message}`)
  }
  static is(e: unknown): e is PhysicalMemoryError {
    return typeof e === 'object' && e !== null && brand in e
  }
}
