/**
 * driver-smmuv3 against its hardware model: the command sequences Linux issues, the physical
 * CMDQ error protocol, hw_info from the ID registers, and vIOMMUs on several SMMUs sharing one
 * nest parent (reference hw-formats.md §1.1, §1.8–§1.10).
 */
import { describe, expect, it } from 'vitest'
import { IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_DATA_ARM_SMMUV3, IOMMU_HW_INFO_TYPE_ARM_SMMUV3, IOMMU_VIOMMU_TYPE_ARM_SMMUV3, createHost } from '@iommu-sim/core'
import { CMDQ_ERR_ILL, CMDQ_OP, STE, getField, SMMU_CMDQ_CONS, SMMU_GERROR, SMMU_GERRORN, SMMU_IDR0, SMMU_IDR5 } from '@iommu-sim/hw-models'
import { codeOf } from '@iommu-sim/testkit'
import { Smmuv3IommuUnit, cmd, rangeInvalidations, smmuMaster, smmuv3Driver } from '../src/index.js'

function world(instances = 1) {
  const host = createHost({ drivers: [smmuv3Driver({ instances })], memory: { bytes: 64 << 20 } })
  const proc = host.createProcess()
  const ictx = proc.iommufd()
  let sid = 0x100
  const device = (unit = 0) => {
    const dev = host.addDevice({ iommu: host.iommus[unit]!, id: sid++ })
    const vf = proc.vfioDevice(proc.open(dev.cdevPath))
    return { dev, vf, devId: vf.bind(ictx) }
  }
  const unit = (i = 0) => host.iommus[i] as Smmuv3IommuUnit
  return { host, proc, ictx, device, unit }
}

const opsOf = (log: readonly (readonly [bigint, bigint])[]) => log.map(([q0]) => Number(q0 & 0xffn))

describe('what the driver issues (reference §1.9)', () => {
  it('attach of a stage-1 domain: CD synced (CFGI_CD + CMD_SYNC) before the STE points at it (CFGI_STE + CMD_SYNC)', () => {
    const w = world()
    const { dev, vf } = w.device()
    const ioasId = w.ictx.ioasAlloc().outIoasId
    w.unit().hw.logCommands = true
    vf.attach(ioasId)
    expect(opsOf(w.unit().commandLog)).toEqual([CMDQ_OP.CFGI_CD, CMDQ_OP.CMD_SYNC, CMDQ_OP.CFGI_STE, CMDQ_OP.CMD_SYNC])
    const ste = w.unit().readSte(dev.id)
    expect(Number((ste[0]! >> 1n) & 7n)).toBe(5) // S1 translate
    expect(Number(w.unit().commandLog[2]![0] >> 32n)).toBe(dev.id)
  })
  it('replacing a live stage-1 domain breaks the CD first (V = 0, CFGI_CD + SYNC), then installs it; the unchanged STE is not rewritten (arm_smmu_write_entry)', () => {
    const w = world()
    const { dev, vf, devId } = w.device()
    const ioasId = w.ictx.ioasAlloc().outIoasId
    const a = w.ictx.hwptAlloc({ devId, ptId: ioasId }).outHwptId
    const b = w.ictx.hwptAlloc({ devId, ptId: ioasId }).outHwptId
    vf.attach(a)
    const steBefore = w.unit().readSte(dev.id)
    const seen: bigint[] = []
    const cd0 = smmuMaster(dev).cdTable!.cdAddress(0, false)!
    w.unit().hw.logCommands = true
    const issue = w.unit().cmdq.issue.bind(w.unit().cmdq)
    w.unit().cmdq.issue = (commands, sync) => {
      seen.push(w.host.memory.read64(cd0)) // CD Q0 as the SMMU sees it at each invalidation
      return issue(commands, sync)
    }
    vf.attach(b)
    expect(opsOf(w.unit().commandLog)).toEqual([CMDQ_OP.CFGI_CD, CMDQ_OP.CMD_SYNC, CMDQ_OP.CFGI_CD, CMDQ_OP.CMD_SYNC])
    expect(seen.map((q0) => (q0 >> 31n) & 1n)).toEqual([0n, 1n]) // invalid, then the new CD
    expect(w.unit().readSte(dev.id)).toEqual(steBefore)
  })
  it('unmap of a stage-1 domain: range TLBI_NH_VA for the ASID, then CMD_SYNC', () => {
    const w = world()
    const { vf } = w.device()
    const ioasId = w.ictx.ioasAlloc().outIoasId
    vf.attach(ioasId)
    const { iova } = w.ictx.ioasMap({ ioasId, userVa: w.proc.mmap(0x5000), length: 0x5000 })
    w.unit().hw.logCommands = true
    w.ictx.ioasUnmap({ ioasId, iova, length: 0x5000 })
    const log = w.unit().commandLog
    expect(opsOf(log)).toEqual([CMDQ_OP.TLBI_NH_VA, CMDQ_OP.CMD_SYNC])
    // 5 pages: SCALE = lowest set bit of the count (0), NUM = next 5 bits − 1 = 4, TG = 4K
    const [q0, q1] = log[0]!
    expect(Number((q0 >> 12n) & 0x1fn)).toBe(4)
    expect(Number((q0 >> 20n) & 0x1fn)).toBe(0)
    expect(Number((q0 >> 48n) & 0xffffn)).toBeGreaterThan(0) // the domain's ASID
    expect(Number((q1 >> 10n) & 3n)).toBe(1)
    expect(q1 & ~0xfffn).toBe(iova)
  })
  it('unmap of a nest parent: TLBI_S2_IPA and TLBI_NH_ALL for its VMID', () => {
    const w = world()
    const { devId } = w.device()
    const ioasId = w.ictx.ioasAlloc().outIoasId
    w.ictx.hwptAlloc({ devId, ptId: ioasId, flags: IOMMU_HWPT_ALLOC_NEST_PARENT })
    const { iova } = w.ictx.ioasMap({ ioasId, userVa: w.proc.mmap(0x1000), length: 0x1000 })
    w.unit().hw.logCommands = true
    w.ictx.ioasUnmap({ ioasId, iova, length: 0x1000 })
    expect(opsOf(w.unit().commandLog)).toEqual([CMDQ_OP.TLBI_S2_IPA, CMDQ_OP.TLBI_NH_ALL, CMDQ_OP.CMD_SYNC])
  })
  it('freeing a stage-2 domain issues TLBI_S12_VMALL; a stage-1 domain TLBI_NH_ASID', () => {
    const w = world()
    const { devId } = w.device()
    const ioasId = w.ictx.ioasAlloc().outIoasId
    const s2 = w.ictx.hwptAlloc({ devId, ptId: ioasId, flags: IOMMU_HWPT_ALLOC_NEST_PARENT }).outHwptId
    const s1 = w.ictx.hwptAlloc({ devId, ptId: ioasId }).outHwptId
    w.unit().hw.logCommands = true
    w.ictx.destroy(s2)
    w.ictx.destroy(s1)
    expect(opsOf(w.unit().commandLog)).toEqual([CMDQ_OP.TLBI_S12_VMALL, CMDQ_OP.CMD_SYNC, CMDQ_OP.TLBI_NH_ASID, CMDQ_OP.CMD_SYNC])
  })
})

describe('range invalidation split (Linux __arm_smmu_tlb_inv_range)', () => {
  it('a 33-page range becomes 1 page then 32 pages (NUM overflows 5 bits)', () => {
    const cmds = rangeInvalidations('nh-va', 0, 1, 0x10_0000n, 33n * 4096n, true)
    expect(cmds.map(([q0]) => [Number((q0 >> 12n) & 0x1fn), Number((q0 >> 20n) & 0x1fn)])).toEqual([[0, 0], [0, 5]])
    expect(cmds[1]![1] & ~0xfffn).toBe(0x10_1000n)
  })
  it('without RIL one command per page, up to CMDQ_MAX_TLBI_OPS pages; beyond, one ASID / VMID-wide command', () => {
    expect(rangeInvalidations('s2-ipa', 3, 0, 0n, 3n * 4096n, false).length).toBe(3)
    expect(rangeInvalidations('nh-va', 0, 1, 0n, 512n * 4096n, false).length).toBe(512)
    expect(opsOf(rangeInvalidations('nh-va', 0, 1, 0n, 513n * 4096n, false))).toEqual([CMDQ_OP.TLBI_NH_ASID])
    expect(opsOf(rangeInvalidations('s2-ipa', 3, 0, 0n, 1n << 30n, false))).toEqual([CMDQ_OP.TLBI_S12_VMALL])
  })
})

describe('the physical command queue (reference §1.1, §1.8)', () => {
  it('an illegal command stops the queue with CONS.ERR = ILL and GERROR.CMDQ_ERR; the driver skips it and resumes', () => {
    const w = world()
    const u = w.unit()
    u.hw.logCommands = true
    const ok = u.cmdq.submit([cmd.tlbiNsnhAll(), [0x7fn, 0n], cmd.cfgiAll()])
    expect(ok).toBe(false)
    expect(u.cmdq.errors).toEqual([CMDQ_ERR_ILL])
    // The bad entry was replaced by a CMD_SYNC and the rest ran.
    expect(opsOf(u.commandLog)).toEqual([CMDQ_OP.TLBI_NSNH_ALL, 0x7f, CMDQ_OP.CMD_SYNC, CMDQ_OP.CFGI_STE_RANGE])
    expect(u.hw.readReg(SMMU_GERROR)).toBe(u.hw.readReg(SMMU_GERRORN))
    expect((u.hw.readReg(SMMU_CMDQ_CONS) >>> 24) & 0x7f).toBe(0)
  })
  it('CFGI_STE for a StreamID beyond SIDSIZE is illegal', () => {
    const u = world().unit()
    expect(u.cmdq.submit([cmd.cfgiSte(1 << 20)])).toBe(false)
    expect(u.cmdq.errors.at(-1)).toBe(CMDQ_ERR_ILL)
  })
  it('a range TLBI (TG ≠ 0) on an SMMU without RIL is illegal', () => {
    const host = createHost({ drivers: [smmuv3Driver({ hardware: { rangeInvalidation: false } })], memory: { bytes: 16 << 20 } })
    const u = host.iommus[0] as Smmuv3IommuUnit
    expect(u.cmdq.submit([cmd.tlbiRange('nh-va', 0, 1, 0x1000n, 3, 0, 1, true)])).toBe(false)
    expect(u.cmdq.errors).toEqual([CMDQ_ERR_ILL])
  })
})

describe('IOMMU_GET_HW_INFO for SMMUv3 (struct iommu_hw_info_arm_smmuv3)', () => {
  it('carries IDR0..IDR5, IIDR and AIDR as the registers hold them', () => {
    const w = world()
    const { devId } = w.device()
    const info = w.ictx.getHwInfo({ devId })
    expect(info.outDataType).toBe(IOMMU_HW_INFO_TYPE_ARM_SMMUV3)
    expect(info.dataLen).toBe(40)
    const v = new DataView(info.data.buffer)
    expect(v.getUint32(8, true)).toBe(w.unit().hw.readReg(SMMU_IDR0))
    expect(v.getUint32(8 + 20, true)).toBe(w.unit().hw.readReg(SMMU_IDR5))
    expect(v.getUint32(0, true)).toBe(0) // flags
  })
})

describe('vIOMMU and S2FWB (arm_smmu_get_viommu_size, arm_smmu_make_s2_domain_ste)', () => {
  it('the STE of a nest parent sets S2FWB when IDR3.FWB is present; without FWB (and no CANWBS device) VIOMMU_ALLOC is EOPNOTSUPP', () => {
    const w = world()
    const { dev, vf, devId } = w.device()
    const ioasId = w.ictx.ioasAlloc().outIoasId
    const parent = w.ictx.hwptAlloc({ devId, ptId: ioasId, flags: IOMMU_HWPT_ALLOC_NEST_PARENT }).outHwptId
    vf.attach(parent)
    expect(getField(w.unit().readSte(dev.id), STE.S2FWB)).toBe(1n)
    expect(w.ictx.viommuAlloc({ type: IOMMU_VIOMMU_TYPE_ARM_SMMUV3, devId, hwptId: parent }).outViommuId).toBeGreaterThan(0)

    const host = createHost({ drivers: [smmuv3Driver({ hardware: { s2fwb: false } })], memory: { bytes: 16 << 20 } })
    const proc = host.createProcess()
    const ictx = proc.iommufd()
    const d = host.addDevice({ iommu: host.iommus[0]!, id: 0x10 })
    const dvf = proc.vfioDevice(proc.open(d.cdevPath))
    const id = dvf.bind(ictx)
    const p = ictx.hwptAlloc({ devId: id, ptId: ictx.ioasAlloc().outIoasId, flags: IOMMU_HWPT_ALLOC_NEST_PARENT }).outHwptId
    dvf.attach(p)
    expect(getField((host.iommus[0] as Smmuv3IommuUnit).readSte(d.id), STE.S2FWB)).toBe(0n)
    expect(codeOf(() => ictx.viommuAlloc({ type: IOMMU_VIOMMU_TYPE_ARM_SMMUV3, devId: id, hwptId: p }))).toBe('EOPNOTSUPP')
  })
})

describe('several SMMUs, one VM: vIOMMUs sharing one nest parent', () => {
  function twoSmmus() {
    const w = world(3)
    const a = w.device(0)
    const b = w.device(1)
    const ioasId = w.ictx.ioasAlloc().outIoasId
    const parent = w.ictx.hwptAlloc({ devId: a.devId, ptId: ioasId, flags: IOMMU_HWPT_ALLOC_NEST_PARENT }).outHwptId
    const va = w.ictx.viommuAlloc({ type: IOMMU_VIOMMU_TYPE_ARM_SMMUV3, devId: a.devId, hwptId: parent }).outViommuId
    const vb = w.ictx.viommuAlloc({ type: IOMMU_VIOMMU_TYPE_ARM_SMMUV3, devId: b.devId, hwptId: parent }).outViommuId
    w.ictx.vdeviceAlloc({ viommuId: va, devId: a.devId, virtId: 1 })
    w.ictx.vdeviceAlloc({ viommuId: vb, devId: b.devId, virtId: 1 })
    const bypass = new Uint8Array(16)
    bypass[0] = 0b1001 // V, Config = bypass: the guest sees its stage 2 only
    const na = w.ictx.hwptAlloc({ devId: a.devId, ptId: va, dataType: IOMMU_HWPT_DATA_ARM_SMMUV3, data: bypass.slice() }).outHwptId
    const nb = w.ictx.hwptAlloc({ devId: b.devId, ptId: vb, dataType: IOMMU_HWPT_DATA_ARM_SMMUV3, data: bypass.slice() }).outHwptId
    a.vf.attach(na)
    b.vf.attach(nb)
    return { ...w, a, b, ioasId, parent, va, vb }
  }
  it('the parent\'s own SMMU keeps the parent VMID (as Linux); another SMMU gets a VMID of its own', () => {
    const w = twoSmmus()
    const vmidOf = (sid: number, u: Smmuv3IommuUnit) => Number(u.readSte(sid)[2]! & 0xffffn)
    const vmA = vmidOf(w.a.dev.id, w.unit(0))
    const vmB = vmidOf(w.b.dev.id, w.unit(1))
    expect(vmA).toBeGreaterThan(0)
    expect(vmB).toBeGreaterThan(0)
    // Both STEs point at the one shared stage-2 table.
    expect(w.unit(0).readSte(w.a.dev.id)[3]).toBe(w.unit(1).readSte(w.b.dev.id)[3])
    expect(w.unit(1).vmids.inUse).toBe(1)
    expect(w.unit(2).vmids.inUse).toBe(0)
  })
  it('DMA through both SMMUs sees the same guest RAM, and an unmap is invalidated on both', () => {
    const w = twoSmmus()
    const ram = w.proc.mmap(0x2000)
    w.proc.memory.write(ram, new TextEncoder().encode('shared'))
    w.ictx.ioasMap({ ioasId: w.ioasId, userVa: ram, length: 0x2000, iova: 0x8000_0000 })
    expect(new TextDecoder().decode(w.a.dev.dmaRead(0x8000_0000, 6))).toBe('shared')
    expect(new TextDecoder().decode(w.b.dev.dmaRead(0x8000_0000, 6))).toBe('shared')
    w.unit(1).hw.logCommands = true
    w.ictx.ioasUnmap({ ioasId: w.ioasId, iova: 0x8000_0000, length: 0x2000 })
    expect(opsOf(w.unit(1).commandLog)).toContain(CMDQ_OP.TLBI_S2_IPA)
    expect(() => w.a.dev.dmaRead(0x8000_0000, 1)).toThrow(/translation/)
    expect(() => w.b.dev.dmaRead(0x8000_0000, 1)).toThrow(/translation/)
  })
  it('destroying the other SMMU\'s vIOMMU releases its VMID there with TLBI_S12_VMALL', () => {
    const w = twoSmmus()
    w.b.vf.detach()
    w.ictx.destroy(w.ictx.snapshot().objects.filter((o) => o.type === 'HWPT_NESTED').at(-1)!.id)
    w.ictx.destroy(w.ictx.snapshot().objects.filter((o) => o.type === 'VDEVICE').at(-1)!.id)
    w.unit(1).hw.logCommands = true
    w.ictx.destroy(w.vb)
    expect(opsOf(w.unit(1).commandLog)).toEqual([CMDQ_OP.TLBI_S12_VMALL, CMDQ_OP.CMD_SYNC])
    expect(w.unit(1).vmids.inUse).toBe(0)
  })
  it('a device cannot attach directly to a paging HWPT of another SMMU (EINVAL)', () => {
    const w = twoSmmus()
    expect(codeOf(() => w.ictx.deviceReplace(w.b.vf.idev!, w.parent))).toBe('EINVAL')
    expect(smmuMaster(w.b.dev).vmaster?.vsid).toBe(1n)
  })
})
