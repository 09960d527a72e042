/**
 * The driver conformance suite (unstorage's testDriver pattern): one call in a driver's test
 * file runs every behaviour core relies on against that driver.
 */
import { describe, expect, it } from 'vitest'
import {
  DmaFault,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR,
  IOMMU_HWPT_DIRTY_TRACKING_ENABLE,
  IOMMU_HW_INFO_TYPE_NONE,
  IommufdError,
  createHost,
  type Device,
  type Host,
  type IommuDriver,
  type Iommufd,
  type IommuUnit,
  type Process,
  type VfioDeviceFile,
} from '@iommu-sim/core'

/** Optional behaviours a driver may not have; the matching cases are skipped. */
export type DriverCapability = 'dirty-tracking' | 'nest-parent' | 'multiple-units' | 'hw-info' | 'pasid'

export interface DescribeIommuDriverOptions {
  /** Capabilities this driver does not implement. */
  readonly skip?: readonly DriverCapability[]
  /** Host memory for each test (default 64 MiB). */
  readonly memoryBytes?: number
  /** How to add the n-th test device behind a unit (default: id 0x10 + n). */
  readonly addDevice?: (host: Host, unit: IommuUnit, n: number) => Device
  /** How to add a device with 8 PASID bits for the PASID case (default: `pasidBits: 8`, id 0x80). */
  readonly addPasidDevice?: (host: Host, unit: IommuUnit) => Device
  /** Nesting and vIOMMU cases run when given: what this driver needs to build them. */
  readonly nesting?: NestingOptions
}

export interface NestingOptions {
  /** `enum iommu_viommu_type` of the driver's vIOMMU. */
  readonly viommuType: number
  /** A vEVENTQ type the driver reports (only used for allocation rules). */
  readonly veventqType: number
  /** HWPT_ALLOC data for a nested domain on a vIOMMU (e.g. a vSTE); may write guest tables. */
  nestedData(world: { proc: Process; ictx: Iommufd; ioasId: number }): { dataType: number; data: Uint8Array }
}

interface World {
  host: Host
  proc: Process
  ictx: Iommufd
  device(unit?: number): { dev: Device; vf: VfioDeviceFile; devId: number }
}

/** The errno name `fn` fails with (an IommufdError's `code`), or undefined when it succeeds. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (e) {
    if (IommufdError.is(e)) return e.code
    throw e
  }
  return undefined
}

/** Runs the shared behavioural suite against `factory()`'s driver. */
export function describeIommuDriver(name: string, factory: () => IommuDriver, options: DescribeIommuDriverOptions = {}): void {
  const skip = new Set(options.skip ?? [])
  const world = (): World => {
    const host = createHost({ drivers: [factory()], memory: { bytes: options.memoryBytes ?? 64 << 20 } })
    const proc = host.createProcess()
    const ictx = proc.iommufd()
    let n = 0
    return {
      host,
      proc,
      ictx,
      device(unit = 0) {
        const u = host.iommus[unit]
        if (u === undefined) throw new Error(`driver has no unit ${unit}`)
        const dev = options.addDevice ? options.addDevice(host, u, n++) : host.addDevice({ iommu: u, id: 0x10 + n++ })
        const vf = proc.vfioDevice(proc.open(dev.cdevPath))
        return { dev, vf, devId: vf.bind(ictx) }
      },
    }
  }
  /** Maps `length` bytes of fresh process memory into a fresh IOAS the device is attached to. */
  const mapped = (w: World, length = 0x10000) => {
    const { dev, vf, devId } = w.device()
    const ioasId = w.ictx.ioasAlloc().outIoasId
    const hwptId = vf.attach(ioasId)
    const buf = w.proc.mmap(length)
    const { iova } = w.ictx.ioasMap({ ioasId, userVa: buf, length })
    return { dev, vf, devId, ioasId, hwptId, buf, iova }
  }

  describe(`IOMMU driver conformance: ${name}`, () => {
    it('creates uniquely named units and accepts a device behind each', () => {
      const w = world()
      expect(w.host.iommus.length).toBeGreaterThan(0)
      expect(new Set(w.host.iommus.map((u) => u.name)).size).toBe(w.host.iommus.length)
      w.host.iommus.forEach((_, i) => expect(w.device(i).devId).toBeGreaterThan(0))
    })

    it('automatic paging domain: the IOVA alignment is a power of two ≤ PAGE_SIZE', () => {
      const w = world()
      const { ioasId } = mapped(w)
      const { outIovaAlignment, numIovas } = w.ictx.ioasIovaRanges({ ioasId })
      expect(numIovas).toBeGreaterThan(0)
      expect(outIovaAlignment).toBeGreaterThan(0n)
      expect(outIovaAlignment & (outIovaAlignment - 1n)).toBe(0n)
      expect(outIovaAlignment).toBeLessThanOrEqual(BigInt(w.host.pageSize))
    })

    it('DMA sees what the process wrote and the process sees what DMA wrote, at every page of a mapping', () => {
      const w = world()
      const { dev, buf, iova } = mapped(w, 0x20000)
      for (let off = 0n; off < 0x20000n; off += 0x1000n) {
        w.proc.memory.write(buf + off + 7n, new Uint8Array([Number((off >> 12n) & 0xffn), 0x5a]))
        expect([...dev.dmaRead(iova + off + 7n, 2)]).toEqual([Number((off >> 12n) & 0xffn), 0x5a])
        dev.dmaWrite(iova + off + 100n, new Uint8Array([0xa5, Number(off >> 12n)]))
        expect([...w.proc.memory.read(buf + off + 100n, 2)]).toEqual([0xa5, Number(off >> 12n)])
      }
    })

    it('DMA that crosses page boundaries moves every byte', () => {
      const w = world()
      const { dev, buf, iova } = mapped(w, 0x4000)
      const data = Uint8Array.from({ length: 0x2100 }, (_, i) => (i * 7) & 0xff)
      dev.dmaWrite(iova + 0xf80n, data)
      expect(w.proc.memory.read(buf + 0xf80n, data.length)).toEqual(data)
    })

    it('after UNMAP the IOVA faults with DmaFault (translation)', () => {
      const w = world()
      const { dev, ioasId, iova } = mapped(w)
      w.ictx.ioasUnmap({ ioasId, iova, length: 0x10000 })
      let fault: unknown
      try {
        dev.dmaRead(iova + 0x100n, 1)
      } catch (e) {
        fault = e
      }
      expect(DmaFault.is(fault)).toBe(true)
      expect((fault as DmaFault).reason).toBe('translation')
    })

    it('a detached device cannot DMA', () => {
      const w = world()
      const { dev, vf, iova } = mapped(w)
      vf.detach()
      expect(() => dev.dmaRead(iova, 1)).toThrow(DmaFault)
    })

    it('two devices on one unit share the automatic HWPT; it is destroyed after the last detach', () => {
      const w = world()
      const a = w.device()
      const b = w.device()
      const ioasId = w.ictx.ioasAlloc().outIoasId
      const h = a.vf.attach(ioasId)
      expect(b.vf.attach(ioasId)).toBe(h)
      a.vf.detach()
      b.vf.detach()
      expect(codeOf(() => w.ictx.destroy(h))).toBe('ENOENT')
    })

    it('replace moves the device to another IOAS atomically', () => {
      const w = world()
      const { dev, vf } = w.device()
      const a = w.ictx.ioasAlloc().outIoasId
      const b = w.ictx.ioasAlloc().outIoasId
      vf.attach(a)
      const bufA = w.proc.mmap(0x1000)
      const bufB = w.proc.mmap(0x1000)
      w.proc.memory.write(bufA, new Uint8Array([1]))
      w.proc.memory.write(bufB, new Uint8Array([2]))
      const ia = w.ictx.ioasMap({ ioasId: a, userVa: bufA, length: 0x1000 }).iova
      vf.attach(b)
      const ib = w.ictx.ioasMap({ ioasId: b, userVa: bufB, length: 0x1000, iova: ia }).iova
      expect(dev.dmaRead(ib, 1)[0]).toBe(2)
    })

    it('manual HWPT_ALLOC with flags 0 works; unknown flags → EOPNOTSUPP; bad ids → ENOENT / EINVAL', () => {
      const w = world()
      const { devId, vf } = w.device()
      const ioasId = w.ictx.ioasAlloc().outIoasId
      const { outHwptId } = w.ictx.hwptAlloc({ devId, ptId: ioasId })
      expect(vf.attach(outHwptId)).toBe(outHwptId)
      expect(codeOf(() => w.ictx.hwptAlloc({ devId, ptId: ioasId, flags: 1 << 30 }))).toBe('EOPNOTSUPP')
      expect(codeOf(() => w.ictx.hwptAlloc({ devId: 999, ptId: ioasId }))).toBe('ENOENT')
      expect(codeOf(() => w.ictx.hwptAlloc({ devId, ptId: 999 }))).toBe('EINVAL')
      expect(codeOf(() => vf.attach(999))).toBe('ENOENT')
    })

    it.skipIf(skip.has('nest-parent'))('allocates a NEST_PARENT paging HWPT that translates like any other', () => {
      const w = world()
      const { dev, devId, vf } = w.device()
      const ioasId = w.ictx.ioasAlloc().outIoasId
      const { outHwptId } = w.ictx.hwptAlloc({ devId, ptId: ioasId, flags: IOMMU_HWPT_ALLOC_NEST_PARENT })
      vf.attach(outHwptId)
      const buf = w.proc.mmap(0x1000)
      w.proc.memory.write(buf, new Uint8Array([77]))
      const { iova } = w.ictx.ioasMap({ ioasId, userVa: buf, length: 0x1000 })
      expect(dev.dmaRead(iova, 1)[0]).toBe(77)
    })

    it.skipIf(skip.has('pasid'))('PASID attach: a PASID-compatible HWPT translates only that PASID; others and detach fault', () => {
      const w = world()
      const unit = w.host.iommus[0]!
      const dev = options.addPasidDevice ? options.addPasidDevice(w.host, unit) : w.host.addDevice({ iommu: unit, id: 0x80, pasidBits: 8 })
      const vf = w.proc.vfioDevice(w.proc.open(dev.cdevPath))
      const devId = vf.bind(w.ictx)
      expect(w.ictx.getHwInfo({ devId }).outMaxPasidLog2).toBeGreaterThan(0)
      const ioasId = w.ictx.ioasAlloc().outIoasId
      // HWPTs first, so the automatic IOVA lands inside the domains' aperture.
      const plain = w.ictx.hwptAlloc({ devId, ptId: ioasId }).outHwptId
      const hwptId = w.ictx.hwptAlloc({ devId, ptId: ioasId, flags: IOMMU_HWPT_ALLOC_PASID }).outHwptId
      const buf = w.proc.mmap(0x1000)
      w.proc.memory.write(buf, new Uint8Array([1, 2, 3, 4]))
      const { iova } = w.ictx.ioasMap({ ioasId, userVa: buf, length: 0x1000 })
      // A HWPT without IOMMU_HWPT_ALLOC_PASID cannot go on a PASID (EINVAL).
      expect(codeOf(() => vf.attach(plain, 1))).toBe('EINVAL')
      vf.attach(hwptId, 1)
      expect([...dev.dmaRead(iova, 4, { pasid: 1 })]).toEqual([1, 2, 3, 4])
      expect(() => dev.dmaRead(iova, 4, { pasid: 2 })).toThrow(DmaFault)
      expect(() => dev.dmaRead(iova, 4)).toThrow(DmaFault) // the RID is blocked
      expect(codeOf(() => w.ictx.destroy(hwptId))).toBe('EBUSY')
      vf.detach(1)
      expect(() => dev.dmaRead(iova, 4, { pasid: 1 })).toThrow(DmaFault)
      w.ictx.destroy(hwptId)
      w.ictx.destroy(plain)
    })

    it('host memory exhausted while a map needs page-table frames: ENOMEM, nothing mapped, nothing leaked', () => {
      const w = world()
      const { dev, buf, iova, ioasId } = mapped(w, 0x1000)
      w.proc.memory.write(buf, new Uint8Array([0x42]))
      // Take every free frame, so the next table the driver needs cannot be allocated.
      const taken: number[] = []
      for (;;) {
        try {
          taken.push(w.host.memory.allocFrames(1))
        } catch {
          break
        }
      }
      const before = w.ictx.snapshot()
      const far = iova + 0x1000_0000n // 256 MiB on: a region no table covers yet
      expect(codeOf(() => w.ictx.ioasMap({ ioasId, userVa: buf, length: 0x1000, iova: far }))).toBe('ENOMEM')
      expect(w.ictx.snapshot()).toEqual(before)
      expect(() => dev.dmaRead(far, 1)).toThrow(DmaFault)
      for (const pa of taken) w.host.memory.freeFrames(pa)
      // With memory back, the same map works and the earlier one is intact.
      w.ictx.ioasMap({ ioasId, userVa: buf, length: 0x1000, iova: far })
      expect([...dev.dmaRead(far, 1)]).toEqual([0x42])
      expect([...dev.dmaRead(iova, 1)]).toEqual([0x42])
    })

    it.skipIf(skip.has('dirty-tracking'))('dirty tracking records DMA writes', () => {
      const w = world()
      const { dev, devId, vf } = w.device()
      const ioasId = w.ictx.ioasAlloc().outIoasId
      const { outHwptId } = w.ictx.hwptAlloc({ devId, ptId: ioasId, flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING })
      vf.attach(outHwptId)
      const { iova } = w.ictx.ioasMap({ ioasId, userVa: w.proc.mmap(0x8000), length: 0x8000 })
      w.ictx.hwptSetDirtyTracking({ flags: IOMMU_HWPT_DIRTY_TRACKING_ENABLE, hwptId: outHwptId })
      const read = (flags = 0) => w.ictx.hwptGetDirtyBitmap({ hwptId: outHwptId, iova, length: 0x8000, pageSize: 0x1000, flags }).bitmap[0]
      dev.dmaWrite(iova + 0x5000n, new Uint8Array([1]))
      dev.dmaRead(iova + 0x3000n, 1) // reads leave pages clean
      expect(read()).toBe(1 << 5)
      expect(read()).toBe(0) // the first read cleared it
      // Writes after a clear are recorded again (no stale writable IOTLB entry skips the update).
      dev.dmaWrite(iova + 0x5000n, new Uint8Array([2]))
      dev.dmaWrite(iova + 0x1000n, new Uint8Array([3]))
      expect(read(IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR)).toBe((1 << 5) | (1 << 1))
      expect(read()).toBe((1 << 5) | (1 << 1)) // NO_CLEAR left them dirty
      expect(read()).toBe(0)
    })

    it.skipIf(skip.has('hw-info'))('GET_HW_INFO returns a typed, sized payload', () => {
      const w = world()
      const { devId } = w.device()
      const info = w.ictx.getHwInfo({ devId })
      expect(info.outDataType).not.toBe(IOMMU_HW_INFO_TYPE_NONE)
      expect(info.data.length).toBe(info.dataLen)
    })

    it.skipIf(skip.has('multiple-units'))('a device on another unit gets its own domain', (ctx) => {
      const w = world()
      if (w.host.iommus.length < 2) return ctx.skip()
      const a = w.device(0)
      const b = w.device(1)
      const ioasId = w.ictx.ioasAlloc().outIoasId
      expect(b.vf.attach(ioasId)).not.toBe(a.vf.attach(ioasId))
    })

    const nesting = options.nesting
    it.skipIf(nesting === undefined)('vIOMMU: needs a nest parent (EINVAL), pins it, and holds its vDEVICEs and nested HWPTs', () => {
      if (nesting === undefined) return
      const w = world()
      const { devId, vf } = w.device()
      const ioasId = w.ictx.ioasAlloc().outIoasId
      const plain = w.ictx.hwptAlloc({ devId, ptId: ioasId }).outHwptId
      expect(codeOf(() => w.ictx.viommuAlloc({ type: nesting.viommuType, devId, hwptId: plain }))).toBe('EINVAL')
      expect(codeOf(() => w.ictx.viommuAlloc({ type: 0, devId, hwptId: plain }))).toBe('EOPNOTSUPP')
      const parent = w.ictx.hwptAlloc({ devId, ptId: ioasId, flags: IOMMU_HWPT_ALLOC_NEST_PARENT }).outHwptId
      const viommuId = w.ictx.viommuAlloc({ type: nesting.viommuType, devId, hwptId: parent }).outViommuId
      expect(codeOf(() => w.ictx.destroy(parent))).toBe('EBUSY')
      const vdev = w.ictx.vdeviceAlloc({ viommuId, devId, virtId: 1 }).outVdeviceId
      expect(codeOf(() => w.ictx.vdeviceAlloc({ viommuId, devId, virtId: 2 }))).toBe('EEXIST')
      const nested = w.ictx.hwptAlloc({ devId, ptId: viommuId, ...nesting.nestedData({ proc: w.proc, ictx: w.ictx, ioasId }) }).outHwptId
      expect(vf.attach(nested)).toBe(nested)
      expect(codeOf(() => w.ictx.veventqAlloc({ viommuId, type: nesting.veventqType, veventqDepth: 0 }))).toBe('EINVAL')
      const q = w.ictx.veventqAlloc({ viommuId, type: nesting.veventqType, veventqDepth: 4 })
      expect(codeOf(() => w.ictx.veventqAlloc({ viommuId, type: nesting.veventqType, veventqDepth: 4 }))).toBe('EEXIST')
      for (const id of [viommuId, parent, nested]) expect(codeOf(() => w.ictx.destroy(id))).toBe('EBUSY')
      vf.detach()
      w.proc.close(q.outVeventqFd)
      for (const id of [nested, q.outVeventqId, vdev, viommuId, parent, plain, ioasId]) w.ictx.destroy(id)
      expect(w.ictx.snapshot().objects.map((o) => o.type)).toEqual(['DEVICE'])
    })

    it('everything is released at process exit: objects, pins, page-table memory', () => {
      const w = world()
      const a = w.device()
      const b = w.device()
      // Per-device driver state (stream-table leaves, CD tables) lives as long as the device: warm it up first.
      const warm = w.ictx.ioasAlloc().outIoasId
      a.vf.attach(warm)
      b.vf.attach(warm)
      a.vf.detach()
      b.vf.detach()
      w.ictx.destroy(warm)
      const free = w.host.memory.freeFrameCount
      const ioasId = w.ictx.ioasAlloc().outIoasId
      a.vf.attach(ioasId)
      b.vf.attach(w.ictx.hwptAlloc({ devId: b.devId, ptId: ioasId }).outHwptId)
      w.ictx.ioasMap({ ioasId, userVa: w.proc.mmap(0x40000), length: 0x40000 })
      w.ictx.ioasMap({ ioasId, userVa: w.proc.mmap(0x1000), length: 0x1000 })
      w.proc.exit()
      expect(w.ictx.snapshot().objects).toEqual([])
      expect(w.host.frames.totalPins()).toBe(0)
      expect(w.host.memory.freeFrameCount).toBe(free)
    })
  })
}
