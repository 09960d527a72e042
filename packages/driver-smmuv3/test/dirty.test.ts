/**
 * Dirty tracking on SMMUv3 with HTTU (IDR0.HTTU = 2): stage-1 domains whose writable leaves carry
 * DBM and whose CD sets HA and HD (arm_smmu_make_s1_cd with IO_PGTABLE_QUIRK_ARM_HD), the
 * IOMMU_HW_CAP_DIRTY_TRACKING capability, and EOPNOTSUPP without HTTU
 * (arm_smmu_domain_alloc_paging_flags).
 */
import { describe, expect, it } from 'vitest'
import { IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HW_CAP_DIRTY_TRACKING, createHost } from '@iommu-sim/core'
import { codeOf } from '@iommu-sim/testkit'
import { CD, getField, readWords } from '@iommu-sim/hw-models'
import { Smmuv3IommuUnit, smmuMaster, smmuv3Driver } from '../src/index.js'

function world(httu: 0 | 1 | 2) {
  const host = createHost({ drivers: [smmuv3Driver({ hardware: { httu } })], memory: { bytes: 64 << 20 } })
  const proc = host.createProcess()
  const ictx = proc.iommufd()
  const unit = host.iommus[0] as Smmuv3IommuUnit
  const dev = host.addDevice({ iommu: unit, id: 0x21 })
  const vf = proc.vfioDevice(proc.open(dev.cdevPath))
  const devId = vf.bind(ictx)
  const ioasId = ictx.ioasAlloc().outIoasId
  return { host, proc, ictx, unit, dev, vf, devId, ioasId }
}
describe('SMMUv3 dirty tracking (HTTU)', () => {
  it('with IDR0.HTTU = 2 the device reports IOMMU_HW_CAP_DIRTY_TRACKING; without it, no capability and EOPNOTSUPP', () => {
    const w = world(2)
    expect(w.ictx.getHwInfo({ devId: w.devId }).outCapabilities & BigInt(IOMMU_HW_CAP_DIRTY_TRACKING)).not.toBe(0n)
    for (const httu of [0, 1] as const) {
      const v = world(httu)
      expect(v.ictx.getHwInfo({ devId: v.devId }).outCapabilities & BigInt(IOMMU_HW_CAP_DIRTY_TRACKING)).toBe(0n)
      expect(codeOf(() => v.ictx.hwptAlloc({ devId: v.devId, ptId: v.ioasId, flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING }))).toBe('EOPNOTSUPP')
    }
  })

  it('a dirty-tracking domain is stage 1 with CD.HA = CD.HD = 1; a plain one has neither', () => {
    const w = world(2)
    const cdOf = () => readWords(w.host.memory.u8, smmuMaster(w.dev).cdTable!.cdAddress(0, false)!, 8)
    const dirty = w.ictx.hwptAlloc({ devId: w.devId, ptId: w.ioasId, flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING }).outHwptId
    w.vf.attach(dirty)
    expect([getField(cdOf(), CD.HA), getField(cdOf(), CD.HD)]).toEqual([1n, 1n])
    const plain = w.ictx.hwptAlloc({ devId: w.devId, ptId: w.ioasId }).outHwptId
    w.vf.attach(plain)
    expect([getField(cdOf(), CD.HA), getField(cdOf(), CD.HD)]).toEqual([0n, 0n])
  })

  it('DIRTY_TRACKING | PASID is accepted; DIRTY_TRACKING | NEST_PARENT is EOPNOTSUPP', () => {
    const w = world(2)
    expect(w.ictx.hwptAlloc({ devId: w.devId, ptId: w.ioasId, flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID }).outHwptId).toBeGreaterThan(0)
    expect(codeOf(() => w.ictx.hwptAlloc({ devId: w.devId, ptId: w.ioasId, flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_NEST_PARENT }))).toBe('EOPNOTSUPP')
  })

  it('a 2 MiB block written by DMA is reported dirty in every 4 KiB bit it covers, then clean', () => {
    const w = world(2)
    const hwptId = w.ictx.hwptAlloc({ devId: w.devId, ptId: w.ioasId, flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING }).outHwptId
    w.vf.attach(hwptId)
    const { iova } = w.ictx.ioasMap({ ioasId: w.ioasId, userVa: w.proc.mmap(4 << 20), length: 4 << 20 })
    w.ictx.hwptSetDirtyTracking({ flags: 1, hwptId })
    w.dev.dmaWrite(iova + 0x1234n, new Uint8Array([7]))
    const { bitmap } = w.ictx.hwptGetDirtyBitmap({ hwptId, iova, length: 4 << 20, pageSize: 0x1000 })
    const set = bitmap.reduce((n, b) => n + ((b.toString(2).match(/1/g) ?? []).length), 0)
    // THP gives 2 MiB-contiguous backing, so the first 2 MiB is one block leaf: all 512 bits.
    expect(set).toBe(512)
    const again = w.ictx.hwptGetDirtyBitmap({ hwptId, iova, length: 4 << 20, pageSize: 0x1000 }).bitmap
    expect(again.every((b) => b === 0)).toBe(true)
  })
})
