/**
 * The DMA engine on mock IOMMU units: the mock's device and domain tables live in shared memory
 * and its model is imported by the workers by URL, so a batch on the pool and on the calling
 * thread agree; dirty tracking sees the engine's DMA writes.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_DIRTY_TRACKING_ENABLE, createHost, type Host } from '@iommu-sim/core'
import { mockDriver } from '../src/index.js'

const hosts: Host[] = []
afterAll(async () => {
  for (const h of hosts) await h.dma.close()
})

function world(workers: number) {
  const host = createHost({ drivers: [mockDriver({ instances: 2 })], memory: { bytes: 32 << 20 }, dma: { workers } })
  hosts.push(host)
  const proc = host.createProcess()
  const ictx = proc.iommufd()
  const devs = [0, 1, 2, 3].map((i) => {
    const dev = host.addDevice({ iommu: host.iommus[i % 2]!, id: 0x10 + i })
    const vf = proc.vfioDevice(proc.open(dev.cdevPath))
    const devId = vf.bind(ictx)
    const ioasId = ictx.ioasAlloc().outIoasId
    const hwptId = ictx.hwptAlloc({ devId, ptId: ioasId, flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING }).outHwptId
    vf.attach(hwptId)
    ictx.hwptSetDirtyTracking({ flags: IOMMU_HWPT_DIRTY_TRACKING_ENABLE, hwptId })
    const buf = proc.mmap(0x10000)
    const { iova } = ictx.ioasMap({ ioasId, userVa: buf, length: 0x10000 })
    return { dev, hwptId, buf, iova, slot: host.dma.device(dev) }
  })
  return { host, proc, ictx, devs }
}

function fill(w: ReturnType<typeof world>, n: number) {
  const b = w.host.dma.batch(n, n * 16)
  for (let i = 0; i < n; i++) {
    const d = w.devs[i % 4]!
    const page = (i * 7) % 36 // 32 mapped 2 KiB pages, a few beyond
    b.set(i, d.slot, Number(d.iova) + page * 2048 + (i % 100), 16, { write: i % 3 === 0, transfer: true, dataOffset: i * 16 })
    for (let k = 0; k < 16; k++) b.bytes[i * 16 + k] = (i + k) & 0xff
  }
  return b
}

describe('DMA engine on the mock IOMMU', () => {
  it('pool and single thread agree on translations, faults, data, memory and dirty bits', async () => {
    const a = world(2)
    const s = world(0)
    const n = 4000
    const ba = fill(a, n)
    const bs = fill(s, n)
    const ra = await a.host.dma.run(ba)
    const rs = s.host.dma.runSync(bs)
    expect({ ...ra, tasks: 0 }).toEqual({ ...rs, tasks: 0 })
    expect(ra.faults).toBeGreaterThan(0)
    expect(Array.from(ba.pa.subarray(0, n))).toEqual(Array.from(bs.pa.subarray(0, n)))
    expect(Array.from(ba.fault.subarray(0, n))).toEqual(Array.from(bs.fault.subarray(0, n)))
    expect(ba.bytes).toEqual(bs.bytes)
    for (let d = 0; d < 4; d++) {
      expect(a.proc.memory.read(a.devs[d]!.buf, 0x10000)).toEqual(s.proc.memory.read(s.devs[d]!.buf, 0x10000))
      const bits = (w: typeof a) => w.ictx.hwptGetDirtyBitmap({ hwptId: w.devs[d]!.hwptId, iova: w.devs[d]!.iova, length: 0x10000, pageSize: 2048 }).bitmap
      const bitsA = bits(a)
      expect(bitsA).toEqual(bits(s))
      expect(bitsA.some((x) => x !== 0)).toBe(true)
    }
    expect(a.host.dma.deviceStats(a.devs[0]!.dev)).toEqual(s.host.dma.deviceStats(s.devs[0]!.dev))
  })

  it('a detach is seen by the next batch on any thread (no caches to go stale)', async () => {
    const w = world(2)
    const d = w.devs[1]!
    const b = w.host.dma.batch(1)
    b.set(0, d.slot, Number(d.iova), 0)
    expect((await w.host.dma.run(b)).faults).toBe(0)
    const vf = w.proc.vfioDevice(w.proc.files.fds.find((fd) => w.proc.files.get(fd)?.kind === 'vfio-device' && w.proc.vfioDevice(fd).device === d.dev)!)
    vf.detach()
    expect((await w.host.dma.run(b)).faults).toBe(1)
  })
})
