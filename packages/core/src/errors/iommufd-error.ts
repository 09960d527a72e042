import { ERRNO, type ErrnoCode } from './errno.js'

const brand = Symbol.for('@iommu-sim/core/IommufdError')

/**
 * The failure of an iommufd operation, carrying the errno the kernel would return.
 * Guard with `IommufdError.is(e)` (a brand survives duplicate package copies), not `instanceof`.
 */
export class IommufdError extends Error {
  override readonly name = 'IommufdError'
  readonly [brand] = true
  readonly code: ErrnoCode
  /** The operation that failed, e.g. 'IOMMU_IOAS_MAP'. */
  readonly op: string
  /** Outputs the kernel writes back even on failure (e.g. `entryNum` of IOMMU_HWPT_INVALIDATE). */
  details: Readonly<Record<string, unknown>> | undefined

  constructor(code: ErrnoCode, op: string, message: string, options?: ErrorOptions) {
    super(`${op}: ${code}: ${message}`, options)
    this.code = code
    this.op = op
  }

  /** The Linux errno number (positive), e.g. 22 for EINVAL. */
  get errno(): number {
    return ERRNO[this.code]
  }

  static is(e: unknown): e is IommufdError {
    return typeof e === 'object' && e !== null && brand in e
  }

  /** Same error re-attributed to an outer operation (drivers and helpers throw with their own op). */
  withOp(op: string): IommufdError {
    if (op === this.op) return this
    return new IommufdError(this.code, op, this.message.replace(/^[^:]*: [A-Z0-9]+: /, ''), { cause: this })
  }
}

/** Shorthand used throughout core: `throw fail('EINVAL', op, 'why')`. */
export function fail(code: ErrnoCode, op: string, message: string): IommufdError {
  return new IommufdError(code, op, message)
}
