/**
 * PASID (SubstreamID) attach on SMMUv3, as Linux's arm-smmu-v3 does it: the master's CD table
 * (linear up to 1024 CDs, else 2-level with 64 KiB leaves), CD n for PASID n, STE.S1DSS chosen by
 * the RID domain (SSID0 for a stage-1 RID, terminate for a blocked one), the downgrade to an abort
 * STE when the last PASID goes, and EBUSY for stage-2 / nested RID attaches while PASIDs are in
 * use (arm_smmu_attach_dev, arm_smmu_attach_dev_nested, arm_smmu_blocking_set_dev_pasid).
 */
import { describe, expect, it } from 'vitest'
import { IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_PASID, IommufdError, createHost, type Device } from '@iommu-sim/core'
import { EVT_ID, STE, STE_S1DSS_SSID0, STE_S1DSS_TERMINATE, STE_S1FMT_64K_L2, STE_S1FMT_LINEAR, getField } from '@iommu-sim/hw-models'
import { codeOf } from '@iommu-sim/testkit'
import { Smmuv3IommuUnit, smmuMaster, smmuv3Driver } from '../src/index.js'

function world(pasidBits: number, options: { hardware?: { twoLevelCdTable?: boolean } } = {}) {
  const host = createHost({ drivers: [smmuv3Driver({ instances: 1, ...options })], memory: { bytes: 64 << 20 } })
  const proc = host.createProcess()
  const ictx = proc.iommufd()
  const unit = host.iommus[0] as Smmuv3IommuUnit
  const dev = host.addDevice({ iommu: unit, id: 0x42, pasidBits })
  const vfd = proc.open(dev.cdevPath)
  const vf = proc.vfioDevice(vfd)
  const devId = vf.bind(ictx)
  const ioas = (text: string, iova = 0x10_0000n) => {
    const ioasId = ictx.ioasAlloc().outIoasId
    const va = proc.mmap(0x1000)
    proc.memory.write(va, new TextEncoder().encode(text))
    ictx.ioasMap({ ioasId, userVa: va, length: 0x1000n, iova })
    return ioasId
  }
  const pasidHwpt = (ioasId: number) => ictx.hwptAlloc({ devId, ptId: ioasId, flags: IOMMU_HWPT_ALLOC_PASID }).outHwptId
  const ste = () => unit.readSte(dev.id)
  const field = (f: (typeof STE)[keyof typeof STE]) => Number(getField(ste(), f))
  return { host, proc, ictx, unit, dev, vfd, vf, devId, ioas, pasidHwpt, ste, field }
}

const read = (dev: Device, iova: bigint, pasid?: number) => new TextDecoder().decode(dev.dmaRead(iova, 5, pasid === undefined ? {} : { pasid }))
const lastEventId = (unit: Smmuv3IommuUnit) => unit.hostEvents.at(-1)?.id

describe('SMMUv3 PASID attach (arm_smmu_set_pasid)', () => {
  it('the master has min(device PASID width, IDR1.SSIDSIZE) SSID bits: GET_HW_INFO reports it', () => {
    expect(world(8).ictx.getHwInfo({ devId: world(8).devId }).outMaxPasidLog2).toBe(8)
    const w = world(0)
    expect(w.ictx.getHwInfo({ devId: w.devId }).outMaxPasidLog2).toBe(0)
    const ioasId = w.ioas('hello')
    expect(() => w.vf.attach(w.pasidHwpt(ioasId), 3)).toThrow(IommufdError)
  })

  it('blocked RID + PASID 5: CD-table STE with S1DSS = terminate; PASID 5 translates, no-PASID traffic gets F_STREAM_DISABLED', () => {
    const w = world(8)
    const hwpt = w.pasidHwpt(w.ioas('pasid'))
    w.vf.attach(hwpt, 5)
    expect(w.field(STE.CONFIG)).toBe(5)
    expect(w.field(STE.S1DSS)).toBe(STE_S1DSS_TERMINATE)
    expect(w.field(STE.S1CDMAX)).toBe(8)
    expect(w.field(STE.S1FMT)).toBe(STE_S1FMT_LINEAR)
    expect(read(w.dev, 0x10_0000n, 5)).toBe('pasid')
    expect(() => read(w.dev, 0x10_0000n)).toThrow(/bad-config/)
    expect(lastEventId(w.unit)).toBe(EVT_ID.F_STREAM_DISABLED)
    // A PASID with no CD: C_BAD_CD.
    expect(() => read(w.dev, 0x10_0000n, 6)).toThrow(/bad-config/)
    expect(lastEventId(w.unit)).toBe(EVT_ID.C_BAD_CD)
  })

  it('stage-1 RID + PASID: S1DSS = SSID0, CD 0 for the RID and CD n for the PASID, each its own table and ASID', () => {
    const w = world(4)
    const rid = w.pasidHwpt(w.ioas('rid..'))
    const pas = w.pasidHwpt(w.ioas('pasid'))
    w.vf.attach(rid)
    w.vf.attach(pas, 3)
    expect(w.field(STE.S1DSS)).toBe(STE_S1DSS_SSID0)
    expect(read(w.dev, 0x10_0000n)).toBe('rid..')
    expect(read(w.dev, 0x10_0000n, 3)).toBe('pasid')
    // SubstreamID 0 is illegal when S1DSS = SSID0 (CD 0 belongs to no-substream traffic).
    expect(() => read(w.dev, 0x10_0000n, 0)).toThrow(/bad-config/)
    expect(lastEventId(w.unit)).toBe(EVT_ID.C_BAD_SUBSTREAMID)
    // Replace the PASID's domain: CD 3 now points at the RID's table.
    w.vf.attach(rid, 3)
    expect(read(w.dev, 0x10_0000n, 3)).toBe('rid..')
  })

  it('detaching the last PASID of a blocked RID downgrades the STE to abort and clears the CD', () => {
    const w = world(8)
    const hwpt = w.pasidHwpt(w.ioas('pasid'))
    w.vf.attach(hwpt, 7)
    const master = smmuMaster(w.dev)
    const cd7 = master.cdTable!.cdAddress(7, false)!
    expect(w.host.memory.read64(cd7) & 1n << 31n).not.toBe(0n) // CD.V
    w.vf.detach(7)
    expect(w.field(STE.CONFIG)).toBe(0) // abort
    expect(w.host.memory.read64(cd7)).toBe(0n)
    expect(() => read(w.dev, 0x10_0000n, 7)).toThrow(/blocked|bad-config/)
  })

  it('a stage-1 RID detached while a PASID stays: CD-table STE with S1DSS = terminate, CD 0 cleared, the PASID keeps working', () => {
    const w = world(8)
    const rid = w.pasidHwpt(w.ioas('rid..'))
    w.vf.attach(rid)
    w.vf.attach(w.pasidHwpt(w.ioas('pasid')), 9)
    w.vf.detach()
    expect(w.field(STE.CONFIG)).toBe(5)
    expect(w.field(STE.S1DSS)).toBe(STE_S1DSS_TERMINATE)
    expect(w.host.memory.read64(smmuMaster(w.dev).cdTable!.cdAddress(0, false)!)).toBe(0n)
    expect(read(w.dev, 0x10_0000n, 9)).toBe('pasid')
  })

  it('20-bit PASIDs: a 2-level CD table (S1Fmt = 64K_L2) whose leaves are allocated on first use', () => {
    const w = world(20)
    const hwpt = w.pasidHwpt(w.ioas('deep.'))
    const free0 = w.host.memory.freeFrameCount
    w.vf.attach(hwpt, 0x12345)
    expect(w.field(STE.S1FMT)).toBe(STE_S1FMT_64K_L2)
    expect(w.field(STE.S1CDMAX)).toBe(20)
    expect(free0 - w.host.memory.freeFrameCount).toBe(16 + 2) // one 64 KiB leaf + the 8 KiB L1 table (1024 descriptors)
    expect(read(w.dev, 0x10_0000n, 0x12345)).toBe('deep.')
    // Another PASID in a different leaf: C_BAD_CD through an invalid L1 descriptor.
    expect(() => read(w.dev, 0x10_0000n, 0x400)).toThrow(/bad-config/)
    expect(lastEventId(w.unit)).toBe(EVT_ID.C_BAD_CD)
  })

  it('without 2-level CD tables the master is capped at 10 SSID bits (CTXDESC_LINEAR_CDMAX)', () => {
    const w = world(20, { hardware: { twoLevelCdTable: false } })
    expect(w.ictx.getHwInfo({ devId: w.devId }).outMaxPasidLog2).toBe(10)
  })

  it('PASID beyond the master width is refused (EINVAL) and changes nothing', () => {
    const w = world(4)
    const hwpt = w.pasidHwpt(w.ioas('pasid'))
    const before = w.ste()
    expect(codeOf(() => w.vf.attach(hwpt, 16))).toBe('EINVAL')
    expect(w.ste()).toEqual(before)
  })

  it('removing the device (release_device) aborts its STE and frees its CD table frames', () => {
    const w = world(20)
    const hwpt = w.pasidHwpt(w.ioas('pasid'))
    w.vf.attach(hwpt, 0x12345)
    w.vf.detach(0x12345)
    w.ictx.destroy(hwpt)
    w.proc.close(w.vfd)
    const beforeRemove = w.host.memory.freeFrameCount
    w.host.removeDevice(w.dev)
    expect(w.host.memory.freeFrameCount - beforeRemove).toBe(16 + 2) // the 64 KiB leaf and the 8 KiB L1 table
    expect(w.field(STE.CONFIG)).toBe(0)
    expect(w.unit.masters.has(0x42)).toBe(false)
  })

  it('a stage-2 (nest parent) RID attach while PASIDs use the CD table: EBUSY from the driver', () => {
    const w = world(8)
    w.vf.attach(w.pasidHwpt(w.ioas('pasid')), 2)
    const parent = w.unit.domainAllocPagingFlags(w.dev, IOMMU_HWPT_ALLOC_NEST_PARENT, undefined)
    expect(codeOf(() => parent.attachDev(w.dev, undefined))).toBe('EBUSY')
    expect(w.field(STE.S1DSS)).toBe(STE_S1DSS_TERMINATE)
    expect(read(w.dev, 0x10_0000n, 2)).toBe('pasid')
    parent.free()
  })
})
