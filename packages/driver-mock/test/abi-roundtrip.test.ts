/**
 * Property tests of the ABI codec (seeded, bounded):
 *  1. round trip — random valid typed requests, run through the typed API on one host and
 *     encoded → proc.ioctl → decoded on an identical fresh host, give the same results (or the
 *     same errno), and leave both contexts in the same state;
 *  2. garbage — random bytes (with random or plausible `size`) to random and real request
 *     numbers on /dev/iommu and a VFIO cdev return a negative errno, never throw, and change
 *     nothing (Iommufd.snapshot()).
 */
import { describe, expect, it } from 'vitest'
import * as C from '@iommu-sim/core'
import { IommufdError, createHost, type Iommufd, type Process } from '@iommu-sim/core'
import * as M from '../src/index.js'
import { mockDriver } from '../src/index.js'
import { Buf, MB, PAGE_SIZE, prng } from './abi-helpers.js'

const RW = C.IOMMU_IOAS_MAP_READABLE | C.IOMMU_IOAS_MAP_WRITEABLE
const BASE = M.MOCK_APERTURE_START

interface World {
  proc: Process
  fd: number
  ctx: Iommufd
  vfd: number
  buf: bigint
  scratch: bigint
  devId: number
  ioas: number[]
}

/** The same setup, through the typed API, on a fresh host (deterministic ids and VAs). */
function world(): World {
  const host = createHost({ drivers: [mockDriver()], memory: { bytes: 32 * MB } })
  const proc = host.createProcess()
  const fd = proc.open('/dev/iommu')
  const ctx = proc.iommufd(fd)
  const buf = proc.mmap(2 * MB)
  const scratch = proc.mmap(4 * PAGE_SIZE)
  const dev = host.addDevice({ iommu: host.iommus[0]!, id: 0x10, flags: M.MOCK_FLAGS_DEVICE_PASID })
  const vfd = proc.open(dev.cdevPath)
  const devId = proc.vfioDevice(vfd).bind(ctx)
  const ioas = [ctx.ioasAlloc().outIoasId, ctx.ioasAlloc().outIoasId]
  proc.vfioDevice(vfd).attach(ioas[0]!)
  return { proc, fd, ctx, vfd, buf, scratch, devId, ioas }
}

type Outcome = { ok: unknown } | { err: string; entryNum?: number }

function typed(fn: () => unknown): Outcome {
  try {
    return { ok: fn() }
  } catch (e) {
    if (!IommufdError.is(e)) throw e
    return { err: e.code }
  }
}

function abi(rc: number, decode: () => unknown): Outcome {
  if (rc === 0) return { ok: decode() }
  const code = C.errnoCode(rc)
  if (code === undefined) throw new Error(`unknown errno ${rc}`)
  return { err: code }
}

type Rand = ReturnType<typeof prng>

/** One random operation: its typed form on world A and its raw-ABI form on world B. */
type Op = { name: string; typed: (w: World) => Outcome; abi: (w: World) => Outcome; target?: number; length?: bigint }

/** Mappings that succeeded on world A, so UNMAP and COPY often name real areas. */
type Mapped = { ioasId: number; iova: bigint; length: bigint }[]

function genOp(r: Rand, a: World, mapped: Mapped): Op {
  const ioasId = r.chance(0.9) ? r.pick(a.ioas) : r.int(12)
  const kind = r.int(11)
  switch (kind) {
    case 0:
    case 1: {
      const fixed = r.chance(0.5)
      const flags = r.pick([RW, RW, C.IOMMU_IOAS_MAP_READABLE, C.IOMMU_IOAS_MAP_WRITEABLE]) | (fixed ? C.IOMMU_IOAS_MAP_FIXED_IOVA : 0)
      const userVa = a.buf + BigInt(r.int(256) * PAGE_SIZE) + (r.chance(0.1) ? 0x800n : 0n)
      const length = BigInt((r.int(16) + 1) * PAGE_SIZE) / (r.chance(0.1) ? 2n : 1n)
      const iova = fixed ? BASE + BigInt(r.int(64) * PAGE_SIZE) : 0n
      return {
        name: 'IOAS_MAP',
        target: ioasId,
        length,
        typed: (w) => typed(() => w.ctx.ioasMap({ flags, ioasId, userVa, length, iova })),
        abi: (w) => {
          const b = new Buf(40)
          b.u32(4, flags)
          b.u32(8, ioasId)
          b.u64(16, userVa)
          b.u64(24, length)
          b.u64(32, iova)
          return abi(w.proc.ioctl(w.fd, C.IOMMU_IOAS_MAP, b.bytes), () => ({ iova: b.u64(32) }))
        },
      }
    }
    case 2: {
      const all = r.chance(0.1)
      const known = mapped.length > 0 && r.chance(0.6) ? r.pick(mapped) : undefined
      const iova = all ? 0n : (known?.iova ?? BASE + BigInt(r.int(64) * PAGE_SIZE))
      const length = all ? 0xffff_ffff_ffff_ffffn : (known?.length ?? BigInt((r.int(16) + 1) * PAGE_SIZE))
      const unmapIoas = known?.ioasId ?? ioasId
      return {
        name: 'IOAS_UNMAP',
        typed: (w) => typed(() => w.ctx.ioasUnmap({ ioasId: unmapIoas, iova, length })),
        abi: (w) => {
          const b = new Buf(24)
          b.u32(4, unmapIoas)
          b.u64(8, iova)
          b.u64(16, length)
          return abi(w.proc.ioctl(w.fd, C.IOMMU_IOAS_UNMAP, b.bytes), () => ({ length: b.u64(16) }))
        },
      }
    }
    case 3: {
      const fixed = r.chance(0.5)
      const flags = RW | (fixed ? C.IOMMU_IOAS_MAP_FIXED_IOVA : 0)
      const known = mapped.length > 0 && r.chance(0.7) ? r.pick(mapped) : undefined
      const dst = r.pick(a.ioas)
      const src = known?.ioasId ?? r.pick(a.ioas)
      const length = known !== undefined ? known.length / BigInt(r.int(2) + 1) : BigInt((r.int(4) + 1) * PAGE_SIZE)
      const srcIova = known?.iova ?? BASE + BigInt(r.int(64) * PAGE_SIZE)
      const dstIova = fixed ? BASE + BigInt(r.int(64) * PAGE_SIZE) : 0n
      return {
        name: 'IOAS_COPY',
        target: dst,
        length,
        typed: (w) => typed(() => w.ctx.ioasCopy({ flags, dstIoasId: dst, srcIoasId: src, length, dstIova, srcIova })),
        abi: (w) => {
          const b = new Buf(40)
          b.u32(4, flags)
          b.u32(8, dst)
          b.u32(12, src)
          b.u64(16, length)
          b.u64(24, dstIova)
          b.u64(32, srcIova)
          return abi(w.proc.ioctl(w.fd, C.IOMMU_IOAS_COPY, b.bytes), () => ({ dstIova: b.u64(24) }))
        },
      }
    }
    case 4:
      return {
        name: 'IOAS_IOVA_RANGES',
        typed: (w) =>
          typed(() => {
            const x = w.ctx.ioasIovaRanges({ ioasId })
            return { numIovas: x.numIovas, ranges: x.allowedIovas.map((q) => [q.start, q.last]), align: x.outIovaAlignment }
          }),
        abi: (w) => {
          const b = new Buf(32)
          b.u32(4, ioasId)
          b.u32(8, 16)
          b.u64(16, w.scratch)
          return abi(w.proc.ioctl(w.fd, C.IOMMU_IOAS_IOVA_RANGES, b.bytes), () => {
            const n = b.u32(8)
            const raw = new DataView(w.proc.memory.read(w.scratch, n * 16).buffer)
            const ranges = Array.from({ length: n }, (_, i) => [raw.getBigUint64(i * 16, true), raw.getBigUint64(i * 16 + 8, true)])
            return { numIovas: n, ranges, align: b.u64(24) }
          })
        },
      }
    case 5: {
      const list = Array.from({ length: r.int(3) }, () => {
        const start = BASE + BigInt(r.int(128) * PAGE_SIZE)
        return { start, last: start + BigInt(r.int(64) * PAGE_SIZE) + (r.chance(0.9) ? BigInt(PAGE_SIZE - 1) : 0n) }
      })
      return {
        name: 'IOAS_ALLOW_IOVAS',
        typed: (w) => typed(() => w.ctx.ioasAllowIovas({ ioasId, allowedIovas: list })),
        abi: (w) => {
          const arr = new Uint8Array(Math.max(16, list.length * 16))
          const dv = new DataView(arr.buffer)
          list.forEach((q, i) => {
            dv.setBigUint64(i * 16, q.start, true)
            dv.setBigUint64(i * 16 + 8, q.last, true)
          })
          w.proc.memory.write(w.scratch, arr)
          const b = new Buf(24)
          b.u32(4, ioasId)
          b.u32(8, list.length)
          b.u64(16, w.scratch)
          return abi(w.proc.ioctl(w.fd, C.IOMMU_IOAS_ALLOW_IOVAS, b.bytes), () => undefined)
        },
      }
    }
    case 6: {
      const optionId = r.pick([C.IOMMU_OPTION_HUGE_PAGES, C.IOMMU_OPTION_HUGE_PAGES, C.IOMMU_OPTION_RLIMIT_MODE])
      const op = r.pick([C.IOMMU_OPTION_OP_GET, C.IOMMU_OPTION_OP_SET])
      const objectId = optionId === C.IOMMU_OPTION_HUGE_PAGES ? ioasId : 0
      const val64 = BigInt(r.int(2))
      return {
        name: 'OPTION',
        typed: (w) => typed(() => w.ctx.option({ optionId, op, objectId, val64 })),
        abi: (w) => {
          const b = new Buf(24)
          b.u32(4, optionId)
          b.u16(8, op)
          b.u32(12, objectId)
          b.u64(16, val64)
          return abi(w.proc.ioctl(w.fd, C.IOMMU_OPTION, b.bytes), () => ({ val64: b.u64(16) }))
        },
      }
    }
    case 7: {
      const flags = r.pick([0, C.IOMMU_HWPT_ALLOC_NEST_PARENT, C.IOMMU_HWPT_ALLOC_DIRTY_TRACKING, C.IOMMU_HWPT_ALLOC_PASID])
      return {
        name: 'HWPT_ALLOC',
        typed: (w) => typed(() => w.ctx.hwptAlloc({ flags, devId: a.devId, ptId: ioasId })),
        abi: (w) => {
          const b = new Buf(48)
          b.u32(4, flags)
          b.u32(8, a.devId)
          b.u32(12, ioasId)
          return abi(w.proc.ioctl(w.fd, C.IOMMU_HWPT_ALLOC, b.bytes), () => ({ outHwptId: b.u32(16) }))
        },
      }
    }
    case 8: {
      const dataLen = r.pick([0, 4, 8, 16])
      const flags = r.pick([0, C.IOMMU_HW_INFO_FLAG_INPUT_TYPE])
      const inDataType = r.pick([0, M.IOMMU_HW_INFO_TYPE_SELFTEST, 5])
      const devId = r.chance(0.9) ? a.devId : 77
      return {
        name: 'GET_HW_INFO',
        typed: (w) =>
          typed(() => {
            const x = w.ctx.getHwInfo({ flags, devId, dataLen, inDataType })
            return { dataLen: x.dataLen, type: x.outDataType, pasid: x.outMaxPasidLog2, caps: x.outCapabilities, data: [...x.data] }
          }),
        abi: (w) => {
          const b = new Buf(40)
          b.u32(4, flags)
          b.u32(8, devId)
          b.u32(12, dataLen)
          b.u64(16, w.scratch)
          b.u32(24, inDataType)
          return abi(w.proc.ioctl(w.fd, C.IOMMU_GET_HW_INFO, b.bytes), () => ({
            dataLen: b.u32(12),
            type: b.u32(24),
            pasid: b.u8(28),
            caps: b.u64(32),
            data: [...w.proc.memory.read(w.scratch, dataLen)],
          }))
        },
      }
    }
    case 9: {
      const id = r.int(10)
      return {
        name: 'DESTROY',
        typed: (w) => typed(() => w.ctx.destroy(id)),
        abi: (w) => {
          const b = new Buf(8)
          b.u32(4, id)
          return abi(w.proc.ioctl(w.fd, C.IOMMU_DESTROY, b.bytes), () => undefined)
        },
      }
    }
    default: {
      const hwptId = 3 + r.int(6)
      const enable = r.int(2)
      const get = r.chance(0.5)
      const iova = BASE
      const length = BigInt(64 * PAGE_SIZE)
      return get
        ? {
            name: 'HWPT_GET_DIRTY_BITMAP',
            typed: (w) => typed(() => [...w.ctx.hwptGetDirtyBitmap({ hwptId, iova, length, pageSize: PAGE_SIZE }).bitmap]),
            abi: (w) => {
              w.proc.memory.write(w.scratch, new Uint8Array(8))
              const b = new Buf(48)
              b.u32(4, hwptId)
              b.u64(16, iova)
              b.u64(24, length)
              b.u64(32, PAGE_SIZE)
              b.u64(40, w.scratch)
              return abi(w.proc.ioctl(w.fd, C.IOMMU_HWPT_GET_DIRTY_BITMAP, b.bytes), () => [...w.proc.memory.read(w.scratch, 8)])
            },
          }
        : {
            name: 'HWPT_SET_DIRTY_TRACKING',
            typed: (w) => typed(() => w.ctx.hwptSetDirtyTracking({ flags: enable, hwptId })),
            abi: (w) => {
              const b = new Buf(16)
              b.u32(4, enable)
              b.u32(8, hwptId)
              return abi(w.proc.ioctl(w.fd, C.IOMMU_HWPT_SET_DIRTY_TRACKING, b.bytes), () => undefined)
            },
          }
    }
  }
}

/** Typed results carry objects with more fields than the struct; keep what the struct has. */
function normalize(name: string, o: Outcome): Outcome {
  if (!('ok' in o)) return o
  const v = o.ok as Record<string, unknown> | undefined
  switch (name) {
    case 'IOAS_MAP':
    case 'IOAS_COPY':
    case 'IOAS_UNMAP':
    case 'OPTION':
    case 'HWPT_ALLOC':
    case 'IOAS_IOVA_RANGES':
    case 'GET_HW_INFO':
    case 'HWPT_GET_DIRTY_BITMAP':
      return { ok: v }
    default:
      return { ok: undefined }
  }
}

describe('round trip: typed API ≡ encode → ioctl → decode', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`seed ${seed}: 80 random requests give identical results and identical final state`, () => {
      const r = prng(seed)
      const a = world()
      const b = world()
      const names = new Map<string, number>()
      const mapped: Mapped = []
      for (let i = 0; i < 80; i++) {
        const op = genOp(r, a, mapped)
        const ra = normalize(op.name, op.typed(a))
        if ('ok' in ra && (op.name === 'IOAS_MAP' || op.name === 'IOAS_COPY')) {
          const iova = (ra.ok as { iova?: bigint; dstIova?: bigint })
          mapped.push({ ioasId: op.target ?? 0, iova: iova.iova ?? iova.dstIova ?? 0n, length: op.length ?? 0n })
        }
        const rb = normalize(op.name, op.abi(b))
        expect(rb, `${op.name} #${i}`).toEqual(ra)
        if ('ok' in ra) names.set(op.name, (names.get(op.name) ?? 0) + 1) // kinds that succeeded
        expect(b.ctx.snapshot()).toEqual(a.ctx.snapshot())
      }
      expect(names.size).toBeGreaterThanOrEqual(8)
    })
  }
})

describe('garbage: random bytes never throw, always fail, and change nothing', () => {
  const REQUESTS = [
    C.IOMMU_DESTROY,
    C.IOMMU_IOAS_ALLOC,
    C.IOMMU_IOAS_ALLOW_IOVAS,
    C.IOMMU_IOAS_COPY,
    C.IOMMU_IOAS_IOVA_RANGES,
    C.IOMMU_IOAS_MAP,
    C.IOMMU_IOAS_UNMAP,
    C.IOMMU_OPTION,
    C.IOMMU_VFIO_IOAS,
    C.IOMMU_HWPT_ALLOC,
    C.IOMMU_GET_HW_INFO,
    C.IOMMU_HWPT_SET_DIRTY_TRACKING,
    C.IOMMU_HWPT_GET_DIRTY_BITMAP,
    C.IOMMU_HWPT_INVALIDATE,
    C.IOMMU_FAULT_QUEUE_ALLOC,
    C.IOMMU_IOAS_MAP_FILE,
    C.IOMMU_VIOMMU_ALLOC,
    C.IOMMU_VDEVICE_ALLOC,
    C.IOMMU_IOAS_CHANGE_PROCESS,
    C.IOMMU_VEVENTQ_ALLOC,
    C.IOMMU_HW_QUEUE_ALLOC,
    C.IOMMU_TEST_CMD,
    C.VFIO_DEVICE_BIND_IOMMUFD,
    C.VFIO_DEVICE_ATTACH_IOMMUFD_PT,
    C.VFIO_DEVICE_DETACH_IOMMUFD_PT,
  ]
  const SIZES: Record<number, number> = { 0x80: 8, 0x81: 12, 0x82: 24, 0x83: 40, 0x84: 32, 0x85: 40, 0x86: 24, 0x87: 24, 0x88: 12, 0x89: 48, 0x8a: 40, 0x8b: 16, 0x8c: 48, 0x8d: 32, 0x8e: 16, 0x8f: 40, 0x90: 40, 0x91: 24, 0x92: 8, 0x93: 32, 0x94: 40, 0xa0: 72, 0x76: 24, 0x77: 16, 0x78: 12 }

  for (const seed of [11, 12, 13, 14]) {
    it(`seed ${seed}: 400 garbage ioctls on /dev/iommu and a VFIO cdev`, () => {
      const r = prng(seed)
      const w = world()
      w.proc.vfioDevice(w.vfd).detach()
      const before = w.ctx.snapshot()
      for (let i = 0; i < 400; i++) {
        const request = r.chance(0.85) ? r.pick(REQUESTS) : r.chance(0.5) ? (0x3b00 | r.int(256)) : r.u32()
        const length = r.int(100)
        const bytes = new Uint8Array(length)
        for (let j = 0; j < length; j++) bytes[j] = r.int(256)
        const size = SIZES[request & 0xff]
        if (length >= 4 && size !== undefined && r.chance(0.6)) {
          // a plausible size: sizeof, or anywhere up to the buffer
          new DataView(bytes.buffer).setUint32(0, r.chance(0.5) ? Math.min(size, length) : r.int(length + 1), true)
        }
        const fd = r.chance(0.8) ? w.fd : w.vfd
        let rc = 0
        expect(() => {
          rc = w.proc.ioctl(fd, request, bytes)
        }, `request 0x${request.toString(16)} #${i}`).not.toThrow()
        expect(rc, `request 0x${request.toString(16)} #${i}`).toBeLessThan(0)
        expect(C.errnoCode(rc)).toBeDefined()
        expect(w.ctx.snapshot()).toEqual(before)
      }
    })
  }
})
