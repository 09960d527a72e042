/**
 * Helpers for the ABI tests, written the way tools/testing/selftests/iommu/iommufd_utils.h is:
 * raw structs built with DataView at the kernel's offsets, issued with proc.ioctl on fds from
 * proc.open. Only constants come from the packages; every offset here is written out again from
 * the uAPI headers so the tests check the ABI layer's layouts independently.
 */
import { createHost, ERRNO, type Host, type Process } from '@iommu-sim/core'
import * as C from '@iommu-sim/core'
import { mockDriver } from '../src/index.js'
import * as M from '../src/index.js'

/** A struct buffer: `bytes` for ioctl, little-endian accessors by offset (testkit's StructBuffer). */
export { StructBuffer as Buf } from '@iommu-sim/testkit'
import { StructBuffer as Buf } from '@iommu-sim/testkit'

export const MB = 1024 * 1024
export const PAGE_SIZE = 4096
/** The selftest's BUFFER_SIZE: 512 KiB. */
export const BUFFER_SIZE = 512 * 1024

/** -errno, for `expect(rc).toBe(err('ENOENT'))`. */
export function err(code: keyof typeof ERRNO): number {
  return -ERRNO[code]
}

export interface Selftest {
  host: Host
  proc: Process
  /** fd of /dev/iommu. */
  fd: number
  /** A BUFFER_SIZE mapping of the process (like the selftests' global `buffer`). */
  buffer: bigint
  ioctl(request: number, b: Buf): number
  ioasAlloc(): number
  /** IOMMU_TEST_OP_MOCK_DOMAIN(_FLAGS): { stdevId, hwptId, idevId } or the -errno. */
  mockDomain(ptId: number, devFlags?: number): { rc: number; stdevId: number; hwptId: number; idevId: number }
  /** IOMMU_IOAS_MAP; returns { rc, iova }. */
  map(ioasId: number, userVa: bigint, length: bigint | number, flags?: number, iova?: bigint | number): { rc: number; iova: bigint }
  unmap(ioasId: number, iova: bigint | number, length: bigint | number): { rc: number; length: bigint }
  destroy(id: number): number
  hwptAlloc(devId: number, ptId: number, flags?: number): { rc: number; id: number }
  testCmd(op: number, id: number, fill?: (b: Buf) => void): { rc: number; b: Buf }
  checkRefs(uptr: bigint, length: number, refs: number): number
}

const RW = C.IOMMU_IOAS_MAP_READABLE | C.IOMMU_IOAS_MAP_WRITEABLE

export function selftest(options: { units?: number; memory?: number } = {}): Selftest {
  const host = createHost({ drivers: [mockDriver({ instances: options.units ?? 1 })], memory: { bytes: options.memory ?? 64 * MB } })
  const proc = host.createProcess()
  const fd = proc.open('/dev/iommu')
  const buffer = proc.mmap(BUFFER_SIZE)
  const t: Selftest = {
    host,
    proc,
    fd,
    buffer,
    ioctl: (request, b) => proc.ioctl(fd, request, b.bytes),
    ioasAlloc() {
      const b = new Buf(12)
      const rc = t.ioctl(C.IOMMU_IOAS_ALLOC, b)
      if (rc !== 0) throw new Error(`IOMMU_IOAS_ALLOC: ${rc}`)
      return b.u32(8)
    },
    mockDomain(ptId, devFlags) {
      const b = new Buf(M.SIZEOF_IOMMU_TEST_CMD)
      b.u32(4, devFlags === undefined ? M.IOMMU_TEST_OP_MOCK_DOMAIN : M.IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS)
      b.u32(8, ptId)
      if (devFlags !== undefined) b.u32(28, devFlags)
      const rc = t.ioctl(C.IOMMU_TEST_CMD, b)
      return { rc, stdevId: b.u32(16), hwptId: b.u32(20), idevId: b.u32(24) }
    },
    map(ioasId, userVa, length, flags = RW, iova = 0) {
      const b = new Buf(40)
      b.u32(4, flags)
      b.u32(8, ioasId)
      b.u64(16, userVa)
      b.u64(24, length)
      b.u64(32, iova)
      const rc = t.ioctl(C.IOMMU_IOAS_MAP, b)
      return { rc, iova: b.u64(32) }
    },
    unmap(ioasId, iova, length) {
      const b = new Buf(24)
      b.u32(4, ioasId)
      b.u64(8, iova)
      b.u64(16, length)
      const rc = t.ioctl(C.IOMMU_IOAS_UNMAP, b)
      return { rc, length: b.u64(16) }
    },
    destroy(id) {
      const b = new Buf(8)
      b.u32(4, id)
      return t.ioctl(C.IOMMU_DESTROY, b)
    },
    hwptAlloc(devId, ptId, flags = 0) {
      const b = new Buf(48)
      b.u32(4, flags)
      b.u32(8, devId)
      b.u32(12, ptId)
      const rc = t.ioctl(C.IOMMU_HWPT_ALLOC, b)
      return { rc, id: b.u32(16) }
    },
    testCmd(op, id, fill) {
      const b = new Buf(M.SIZEOF_IOMMU_TEST_CMD)
      b.u32(4, op)
      b.u32(8, id)
      fill?.(b)
      return { rc: t.ioctl(C.IOMMU_TEST_CMD, b), b }
    },
    checkRefs(uptr, length, refs) {
      return t.testCmd(M.IOMMU_TEST_OP_MD_CHECK_REFS, 0, (b) => {
        b.u64(16, length)
        b.u64(24, uptr)
        b.u32(32, refs)
      }).rc
    },
  }
  return t
}

/** Deterministic PRNG (mulberry32) for the property tests. */
export function prng(seed: number): { next(): number; int(n: number): number; u32(): number; u64(): bigint; pick<T>(xs: readonly T[]): T; chance(p: number): boolean } {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const u32 = (): number => Math.floor(next() * 4294967296) >>> 0
  return {
    next,
    u32,
    int: (n) => Math.floor(next() * n),
    u64: () => (BigInt(u32()) << 32n) | BigInt(u32()),
    pick: (xs) => xs[Math.floor(next() * xs.length)]!,
    chance: (p) => next() < p,
  }
}
