/** Linux errno numbers (asm-generic/errno-base.h, errno.h) for every code iommufd can return. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  ENOMEM: 12,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOTTY: 25,
  ENOSPC: 28,
  ESPIPE: 29,
  ERANGE: 34,
  EDEADLOCK: 35,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
  EOVERFLOW: 75,
  EBADFD: 77,
  /** Invalid exchange: the selftest's ACCESS_PAGES page check (selftest.c iommufd_test_check_pages). */
  EBADE: 52,
} as const

export type ErrnoCode = keyof typeof ERRNO

const BY_NUMBER = new Map<number, ErrnoCode>(Object.entries(ERRNO).map(([k, v]) => [v, k as ErrnoCode]))

export function errnoCode(errno: number): ErrnoCode | undefined {
  return BY_NUMBER.get(Math.abs(errno))
}

/**
 * The errno an ioctl returns for a thrown error: an IommufdError's own, or the `code` of another
 * error that names a Linux errno (e.g. a hardware model's `ENOMEM` when host frames run out), so a
 * driver error that escapes untranslated still becomes `-errno` instead of an exception.
 */
export function errnoOfError(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null) return undefined
  const code = (e as { code?: unknown }).code
  return typeof code === 'string' && Object.hasOwn(ERRNO, code) ? ERRNO[code as ErrnoCode] : undefined
}

/** `-errno` for an errno-coded error (what a syscall returns); anything else is rethrown as a simulator bug. */
export function negErrnoOrThrow(e: unknown): number {
  const errno = errnoOfError(e)
  if (errno === undefined) throw e
  return -errno
}
