/**
 * Devices, attach/replace/detach, HWPT_PAGING allocation, GET_HW_INFO, dirty tracking, DMA and
 * object lifetime on the mock driver (reference iommufd-uapi.md §1.2–§1.5, §2.11–§2.14, §3).
 */
import { describe, expect, it } from 'vitest'
import {
  DmaFault,
  IOMMU_HW_CAP_DIRTY_TRACKING,
  IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED,
  IOMMU_HW_INFO_FLAG_INPUT_TYPE,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DIRTY_TRACKING_ENABLE,
  IOMMU_HWPT_FAULT_ID_VALID,
  IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR,
  IOMMU_IOAS_MAP_READABLE,
} from '@iommu-sim/core'
import {
  IOMMU_HW_INFO_SELFTEST_REGVAL,
  IOMMU_HW_INFO_TYPE_SELFTEST,
  IOMMU_HWPT_DATA_SELFTEST,
  MOCK_FLAGS_DEVICE_NO_DIRTY,
  MOCK_FLAGS_DEVICE_PASID,
  MOCK_HUGE_PAGE_SIZE,
  MOCK_IOMMUPT_HUGE,
  MockPagingDomain,
} from '../src/index.js'
import { errOf, fixture } from './support/fixture.js'

const selftestData = (pagetableType: number, iotlb = 0): Uint8Array => {
  const b = new Uint8Array(8)
  const v = new DataView(b.buffer)
  v.setUint32(0, iotlb, true)
  v.setUint32(4, pagetableType, true)
  return b
}

describe('end to end: process memory ↔ device DMA through the IOAS', () => {
  it('process mmaps, IOAS maps, device attaches, DMA write is read back by the process; unmap makes DMA fault', () => {
    const f = fixture()
    const dev = f.addDevice()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    f.bind(dev).vf.attach(ioasId)
    const buf = f.proc.mmap(0x8000)
    const { iova } = f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x8000 })
    dev.dmaWrite(iova + 0x1ffen, new Uint8Array([0xaa, 0xbb, 0xcc, 0xdd])) // crosses a 2 KiB mock page and a 4 KiB CPU page
    expect([...f.proc.memory.read(buf + 0x1ffen, 4)]).toEqual([0xaa, 0xbb, 0xcc, 0xdd])
    f.proc.memory.write(buf + 0x7000n, new Uint8Array([1, 2, 3]))
    expect([...dev.dmaRead(iova + 0x7000n, 3)]).toEqual([1, 2, 3])
    f.ictx.ioasUnmap({ ioasId, iova, length: 0x8000 })
    let fault: unknown
    try {
      dev.dmaRead(iova, 4)
    } catch (e) {
      fault = e
    }
    expect(DmaFault.is(fault)).toBe(true)
    expect(fault).toMatchObject({ reason: 'translation', iova, deviceId: dev.id, write: false })
  })
  it('a DMA write to a read-only mapping is a permission fault and writes nothing', () => {
    const f = fixture()
    const dev = f.addDevice()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    f.bind(dev).vf.attach(ioasId)
    const buf = f.proc.mmap(0x1000)
    const { iova } = f.ictx.ioasMap({ flags: IOMMU_IOAS_MAP_READABLE, ioasId, userVa: buf, length: 0x1000 })
    expect(() => dev.dmaWrite(iova, new Uint8Array([1]))).toThrow(/permission/)
    expect(f.proc.memory.read(buf, 1)[0]).toBe(0)
  })
  it('a detached device is blocked', () => {
    const f = fixture()
    const dev = f.addDevice()
    expect(() => dev.dmaRead(0x100_0000, 4)).toThrow(/blocked/)
  })
  it('the mock domain really stores the translation in its page table in host memory', () => {
    const f = fixture()
    const dev = f.addDevice()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    f.bind(dev).vf.attach(ioasId)
    const buf = f.proc.mmap(0x1000)
    const { iova } = f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x1000 })
    const state = dev.driverData as { rid: unknown }
    const domain = state.rid as MockPagingDomain
    const pa = domain.iovaToPhys(iova + 0x800n)
    const frame = f.proc.addressSpace.frameOf(buf)!
    expect(pa).toBe(BigInt(frame * 4096 + 0x800))
    expect(domain.pt.tableCount).toBe(3)
  })
})

describe('object lifetime and destroy ordering (reference §1.2, §1.5)', () => {
  it('IOAS with an attached device → EBUSY; the auto HWPT disappears on the last detach', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const a = f.bind(f.addDevice())
    const b = f.bind(f.addDevice())
    const hwptId = a.vf.attach(ioasId)
    expect(b.vf.attach(ioasId)).toBe(hwptId) // the second device reuses the auto HWPT
    expect(errOf(() => f.ictx.destroy(ioasId))).toBe('EBUSY')
    expect(errOf(() => f.ictx.destroy(hwptId))).toBe('EBUSY')
    a.vf.detach()
    expect(f.ictx.snapshot().objects.some((o) => o.id === hwptId)).toBe(true)
    b.vf.detach()
    expect(f.ictx.snapshot().objects.some((o) => o.id === hwptId)).toBe(false)
    f.ictx.destroy(ioasId)
    expect(f.ictx.snapshot().objects.map((o) => o.type)).toEqual(['DEVICE', 'DEVICE'])
  })
  it('IOMMU_DESTROY of a DEVICE is always EBUSY (the binding driver holds it)', () => {
    const f = fixture()
    const { devId } = f.bind(f.addDevice())
    expect(errOf(() => f.ictx.destroy(devId))).toBe('EBUSY')
  })
  it('a manual HWPT outlives its devices and pins its IOAS until destroyed', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const { vf, devId } = f.bind(f.addDevice())
    const { outHwptId } = f.ictx.hwptAlloc({ devId, ptId: ioasId })
    expect(vf.attach(outHwptId)).toBe(outHwptId)
    vf.detach()
    expect(errOf(() => f.ictx.destroy(ioasId))).toBe('EBUSY')
    f.ictx.destroy(outHwptId)
    f.ictx.destroy(ioasId)
    expect(errOf(() => f.ictx.destroy(outHwptId))).toBe('ENOENT')
  })
  it('mapped areas do not block IOAS destruction, which unpins everything', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const { vf, devId } = f.bind(f.addDevice())
    const { outHwptId } = f.ictx.hwptAlloc({ devId, ptId: ioasId })
    f.ictx.ioasMap({ ioasId, userVa: f.proc.mmap(0x4000), length: 0x4000 })
    expect(f.host.frames.totalPins()).toBe(4)
    f.ictx.destroy(outHwptId)
    f.ictx.destroy(ioasId)
    expect(f.host.frames.totalPins()).toBe(0)
    expect(vf.idev?.attachments.size).toBe(0)
  })
  it('closing everything releases every object, pin and page-table frame', () => {
    const f = fixture()
    const free0 = f.host.memory.freeFrameCount
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const { vf } = f.bind(f.addDevice())
    vf.attach(ioasId)
    f.ictx.ioasMap({ ioasId, userVa: f.proc.mmap(0x10000), length: 0x10000 })
    f.proc.exit()
    expect(f.ictx.isClosed).toBe(true)
    expect(f.ictx.snapshot().objects).toEqual([])
    expect(f.host.frames.totalPins()).toBe(0)
    expect(f.host.memory.freeFrameCount).toBe(free0)
  })
  it('the context outlives its /dev/iommu fd while a bound device file is open', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const { vf } = f.bind(f.addDevice())
    vf.attach(ioasId)
    const iommufdFd = f.proc.files.fds[0]!
    expect(f.proc.close(iommufdFd)).toBe(0)
    expect(f.ictx.isClosed).toBe(false)
    f.proc.close(f.proc.files.fds[0]!)
    expect(f.ictx.isClosed).toBe(true)
  })
})

describe('attach, replace and detach (reference §3.2–§3.6)', () => {
  it('attaching twice on the same PASID → EBUSY from the core; VFIO turns a second attach into replace', () => {
    const f = fixture()
    const a = f.ictx.ioasAlloc().outIoasId
    const b = f.ictx.ioasAlloc().outIoasId
    const dev = f.addDevice()
    const { vf } = f.bind(dev)
    const h1 = vf.attach(a)
    expect(errOf(() => f.ictx.deviceAttach(vf.idev!, a))).toBe('EBUSY')
    const h2 = vf.attach(b) // replace → new auto HWPT on b, old auto HWPT destroyed
    expect(h2).not.toBe(h1)
    expect(f.ictx.snapshot().objects.some((o) => o.id === h1)).toBe(false)
    f.ictx.destroy(a)
  })
  it('replace without an attachment → EINVAL', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const { vf } = f.bind(f.addDevice())
    expect(errOf(() => f.ictx.deviceReplace(vf.idev!, ioasId))).toBe('EINVAL')
  })
  it('attach to an object that is neither IOAS nor HWPT → EINVAL; unknown id → ENOENT', () => {
    const f = fixture()
    const { vf, devId } = f.bind(f.addDevice())
    expect(errOf(() => vf.attach(devId))).toBe('EINVAL')
    expect(errOf(() => vf.attach(99))).toBe('ENOENT')
  })
  it('an incompatible auto domain (another IOMMU unit) is skipped and a new one is made', () => {
    const f = fixture({ units: 2 })
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const h0 = f.bind(f.addDevice({ unit: 0 })).vf.attach(ioasId)
    const h1 = f.bind(f.addDevice({ unit: 1 })).vf.attach(ioasId)
    expect(h1).not.toBe(h0)
    expect(f.ictx.snapshot().ioas[0]!.domains).toBe(2)
  })
  it('attaching a manual HWPT of another unit → EINVAL (driver: incompatible)', () => {
    const f = fixture({ units: 2 })
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const { devId } = f.bind(f.addDevice({ unit: 0 }))
    const { outHwptId } = f.ictx.hwptAlloc({ devId, ptId: ioasId })
    const other = f.bind(f.addDevice({ unit: 1 }))
    expect(errOf(() => other.vf.attach(outHwptId))).toBe('EINVAL')
  })
  it('device reserved regions become reservations of the IOAS on attach and go on detach', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const { vf } = f.bind(f.addDevice({ resvRegions: [{ start: 0x800_0000n, length: 0x10_0000n, type: 'msi' }] }))
    vf.attach(ioasId)
    expect(f.ictx.ioasIovaRanges({ ioasId }).numIovas).toBe(2)
    const { outIoasId: other } = f.ictx.ioasAlloc()
    vf.attach(other) // replace moves the reservation to the new IOAS
    expect(f.ictx.ioasIovaRanges({ ioasId }).numIovas).toBe(1)
    expect(f.ictx.ioasIovaRanges({ ioasId: other }).numIovas).toBe(2)
    vf.detach()
    expect(f.ictx.ioasIovaRanges({ ioasId: other }).allowedIovas).toEqual([{ start: 0n, last: 0xffff_ffff_ffff_ffffn }])
  })
  it('a reserved region over an existing mapping → EADDRINUSE and nothing changes', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    f.bind(f.addDevice()).vf.attach(ioasId)
    f.ictx.ioasMap({ ioasId, userVa: f.proc.mmap(0x1000), length: 0x1000, iova: 0x800_0000 })
    const { vf } = f.bind(f.addDevice({ resvRegions: [{ start: 0x800_0000n, length: 0x1000n, type: 'reserved' }] }))
    const before = f.ictx.snapshot()
    expect(errOf(() => vf.attach(ioasId))).toBe('EADDRINUSE')
    expect(f.ictx.snapshot()).toEqual(before)
  })
  it('direct-relaxable regions are ignored', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    f.bind(f.addDevice({ resvRegions: [{ start: 0x800_0000n, length: 0x1000n, type: 'direct-relaxable' }] })).vf.attach(ioasId)
    expect(f.ictx.ioasIovaRanges({ ioasId }).numIovas).toBe(1)
  })
  it('devices of one group must share the HWPT (EINVAL otherwise) and a group attach programs every member', () => {
    const f = fixture()
    const a = f.ictx.ioasAlloc().outIoasId
    const b = f.ictx.ioasAlloc().outIoasId
    const d1 = f.addDevice({ group: 7 })
    const d2 = f.addDevice({ group: 7 })
    const x = f.bind(d1)
    const y = f.bind(d2)
    const h = x.vf.attach(a)
    expect(errOf(() => y.vf.attach(b))).toBe('EINVAL')
    expect(y.vf.attach(h)).toBe(h)
    const buf = f.proc.mmap(0x1000)
    const { iova } = f.ictx.ioasMap({ ioasId: a, userVa: buf, length: 0x1000 })
    f.proc.memory.write(buf, new Uint8Array([42]))
    expect(d2.dmaRead(iova, 1)[0]).toBe(42)
    x.vf.detach()
    expect(d2.dmaRead(iova, 1)[0]).toBe(42) // still programmed: d2 is attached
    y.vf.detach()
    expect(() => d2.dmaRead(iova, 1)).toThrow(DmaFault)
  })
  it('a group owned by another context cannot be bound (EPERM); the same device cannot be bound twice through cdev fds (EINVAL, vfio_df_open)', () => {
    const f = fixture()
    const d1 = f.addDevice({ group: 3 })
    const d2 = f.addDevice({ group: 3 })
    f.bind(d1)
    const other = f.host.createProcess()
    const vf = other.vfioDevice(other.open(d2.cdevPath))
    expect(errOf(() => vf.bind(other.iommufd()))).toBe('EPERM')
    const again = f.proc.vfioDevice(f.proc.open(d1.cdevPath))
    expect(errOf(() => again.bind(f.ictx))).toBe('EINVAL')
  })
})

describe('PASID attach rules (reference §3.3, §3.4)', () => {
  it('attaching a non-zero PASID to an IOAS → EINVAL (auto domains are never PASID-compatible)', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const { vf } = f.bind(f.addDevice({ flags: MOCK_FLAGS_DEVICE_PASID }))
    const before = f.ictx.snapshot()
    expect(errOf(() => vf.attach(ioasId, 5))).toBe('EINVAL')
    expect(f.ictx.snapshot()).toEqual(before)
  })
  it('a PASID-compatible HWPT attaches to a PASID and DMA with that PASID uses it', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const dev = f.addDevice({ flags: MOCK_FLAGS_DEVICE_PASID })
    const { vf, devId } = f.bind(dev)
    const { outHwptId } = f.ictx.hwptAlloc({ devId, ptId: ioasId, flags: IOMMU_HWPT_ALLOC_PASID })
    expect(vf.attach(outHwptId, 9)).toBe(outHwptId)
    const buf = f.proc.mmap(0x1000)
    const { iova } = f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x1000 })
    f.proc.memory.write(buf, new Uint8Array([7]))
    expect(dev.dmaRead(iova, 1, { pasid: 9 })[0]).toBe(7)
    expect(() => dev.dmaRead(iova, 1)).toThrow(/blocked/) // the RID is not attached
    // the RID may only use a PASID-compatible domain while PASIDs are attached
    expect(errOf(() => vf.attach(ioasId))).toBe('EINVAL')
    expect(vf.attach(outHwptId)).toBe(outHwptId)
    vf.detach(9)
    expect(() => dev.dmaRead(iova, 1, { pasid: 9 })).toThrow(DmaFault)
  })
  it('PASID attach on a device without PASID support → EOPNOTSUPP (VFIO)', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const { vf } = f.bind(f.addDevice())
    expect(errOf(() => vf.attach(ioasId, 3))).toBe('EOPNOTSUPP')
  })
})

describe('IOMMU_HWPT_ALLOC on an IOAS (reference §2.11 a)', () => {
  it('validation errors in the kernel order, none of which leaves an object behind', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const { devId } = f.bind(f.addDevice({ flags: MOCK_FLAGS_DEVICE_NO_DIRTY }))
    const before = f.ictx.snapshot()
    expect(errOf(() => f.ictx.hwptAlloc({ devId, ptId: ioasId, dataType: IOMMU_HWPT_DATA_SELFTEST }))).toBe('EINVAL') // type without data
    expect(errOf(() => f.ictx.hwptAlloc({ devId: 77, ptId: ioasId }))).toBe('ENOENT')
    expect(errOf(() => f.ictx.hwptAlloc({ devId, ptId: 77 }))).toBe('EINVAL') // pt_id not found is EINVAL
    expect(errOf(() => f.ictx.hwptAlloc({ devId, ptId: devId }))).toBe('EINVAL')
    expect(errOf(() => f.ictx.hwptAlloc({ devId, ptId: ioasId, flags: 1 << 4 }))).toBe('EOPNOTSUPP')
    expect(errOf(() => f.ictx.hwptAlloc({ devId, ptId: ioasId, flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING }))).toBe('EOPNOTSUPP')
    expect(errOf(() => f.ictx.hwptAlloc({ devId, ptId: ioasId, flags: IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_NEST_PARENT }))).toBe('EOPNOTSUPP')
    expect(errOf(() => f.ictx.hwptAlloc({ devId, ptId: ioasId, dataType: 0x1234, data: selftestData(0) }))).toBe('EOPNOTSUPP')
    expect(errOf(() => f.ictx.hwptAlloc({ devId, ptId: ioasId, dataType: IOMMU_HWPT_DATA_SELFTEST, data: selftestData(7) }))).toBe('EOPNOTSUPP')
    expect(errOf(() => f.ictx.hwptAlloc({ devId, ptId: ioasId, dataType: IOMMU_HWPT_DATA_SELFTEST, data: new Uint8Array(12) }))).toBe('EINVAL')
    expect(errOf(() => f.ictx.hwptAlloc({ devId, ptId: ioasId, flags: IOMMU_HWPT_FAULT_ID_VALID, faultId: 55 }))).toBe('ENOENT')
    expect(f.ictx.snapshot()).toEqual(before)
    expect(f.ictx.ioasAlloc().outIoasId).toBe(ioasId + 2) // no id was consumed
  })
  it('a new HWPT replays the existing mappings and is not attached to dev_id', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const buf = f.proc.mmap(0x2000)
    const { iova } = f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x2000, iova: 0x100_0000 })
    const dev = f.addDevice()
    const { vf, devId } = f.bind(dev)
    const { outHwptId } = f.ictx.hwptAlloc({ devId, ptId: ioasId, flags: IOMMU_HWPT_ALLOC_NEST_PARENT })
    expect(vf.idev!.attachments.size).toBe(0)
    vf.attach(outHwptId)
    f.proc.memory.write(buf + 0x1800n, new Uint8Array([5]))
    expect(dev.dmaRead(iova + 0x1800n, 1)[0]).toBe(5)
  })
  it('joining an IOAS whose mappings lie outside the domain aperture → EADDRINUSE, no id leaked', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    f.ictx.ioasMap({ ioasId, userVa: f.proc.mmap(0x1000), length: 0x1000, iova: 0x1000 })
    const { devId } = f.bind(f.addDevice())
    expect(errOf(() => f.ictx.hwptAlloc({ devId, ptId: ioasId }))).toBe('EADDRINUSE')
    expect(f.ictx.ioasAlloc().outIoasId).toBe(3)
    expect(f.host.frames.totalPins()).toBe(0)
  })
})

describe('IOMMU_GET_HW_INFO (reference §2.12, mock §A.7)', () => {
  it('reports the selftest type, register, capabilities and PASID width', () => {
    const f = fixture()
    const { devId } = f.bind(f.addDevice())
    const info = f.ictx.getHwInfo({ devId })
    expect(info.outDataType).toBe(IOMMU_HW_INFO_TYPE_SELFTEST)
    expect(info.dataLen).toBe(8)
    expect(new DataView(info.data.buffer).getUint32(4, true)).toBe(IOMMU_HW_INFO_SELFTEST_REGVAL)
    expect(info.outCapabilities).toBe(BigInt(IOMMU_HW_CAP_DIRTY_TRACKING | IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED))
    expect(info.outMaxPasidLog2).toBe(0)
    const p = f.bind(f.addDevice({ flags: MOCK_FLAGS_DEVICE_PASID | MOCK_FLAGS_DEVICE_NO_DIRTY }))
    const pinfo = f.ictx.getHwInfo({ devId: p.devId })
    expect(pinfo.outMaxPasidLog2).toBe(20)
    expect(pinfo.outCapabilities & BigInt(IOMMU_HW_CAP_DIRTY_TRACKING)).toBe(0n)
  })
  it('data_len is the full size whatever was asked; shorter buffers get a prefix, longer ones a zero tail', () => {
    const f = fixture()
    const { devId } = f.bind(f.addDevice())
    expect(f.ictx.getHwInfo({ devId, dataLen: 0 })).toMatchObject({ dataLen: 8, data: new Uint8Array(0) })
    expect([...f.ictx.getHwInfo({ devId, dataLen: 6 }).data]).toEqual([0, 0, 0, 0, 0xef, 0xbe])
    expect([...f.ictx.getHwInfo({ devId, dataLen: 12 }).data.subarray(8)]).toEqual([0, 0, 0, 0])
  })
  it('input type: DEFAULT and SELFTEST accepted, others → EOPNOTSUPP; unknown flags → EOPNOTSUPP; bad device → ENOENT', () => {
    const f = fixture()
    const { devId } = f.bind(f.addDevice())
    expect(f.ictx.getHwInfo({ devId, flags: IOMMU_HW_INFO_FLAG_INPUT_TYPE, inDataType: IOMMU_HW_INFO_TYPE_SELFTEST }).outDataType).toBe(IOMMU_HW_INFO_TYPE_SELFTEST)
    expect(errOf(() => f.ictx.getHwInfo({ devId, flags: IOMMU_HW_INFO_FLAG_INPUT_TYPE, inDataType: 2 }))).toBe('EOPNOTSUPP')
    expect(f.ictx.getHwInfo({ devId, inDataType: 2 }).outDataType).toBe(IOMMU_HW_INFO_TYPE_SELFTEST) // ignored without the flag
    expect(errOf(() => f.ictx.getHwInfo({ devId, flags: 2 }))).toBe('EOPNOTSUPP')
    expect(errOf(() => f.ictx.getHwInfo({ devId: 0 }))).toBe('ENOENT')
  })
})

describe('dirty tracking (reference §2.13, §2.14, mock §A.8)', () => {
  function tracked(pagetableType?: number) {
    const f = fixture({ memoryBytes: 64 << 20 })
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const dev = f.addDevice()
    const { vf, devId } = f.bind(dev)
    const { outHwptId } = f.ictx.hwptAlloc({
      devId,
      ptId: ioasId,
      flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
      ...(pagetableType === undefined ? {} : { dataType: IOMMU_HWPT_DATA_SELFTEST, data: selftestData(pagetableType) }),
    })
    vf.attach(outHwptId)
    return { ...f, ioasId, dev, hwptId: outHwptId }
  }
  it('DMA writes with tracking on set bits at page_size granularity; the read clears unless NO_CLEAR', () => {
    const f = tracked()
    const buf = f.proc.mmap(0x10000)
    const { iova } = f.ictx.ioasMap({ ioasId: f.ioasId, userVa: buf, length: 0x10000 })
    f.dev.dmaWrite(iova + 0x800n, new Uint8Array([1])) // before tracking: not recorded
    f.ictx.hwptSetDirtyTracking({ flags: IOMMU_HWPT_DIRTY_TRACKING_ENABLE, hwptId: f.hwptId })
    f.dev.dmaWrite(iova + 0x1000n, new Uint8Array([1]))
    f.dev.dmaWrite(iova + 0x7ffen, new Uint8Array([1, 2, 3, 4])) // touches pages 15 and 16 (2 KiB)
    f.dev.dmaRead(iova + 0x3000n, 4) // reads do not dirty
    const bits = (flags = 0) => {
      const { bitmap } = f.ictx.hwptGetDirtyBitmap({ hwptId: f.hwptId, iova, length: 0x10000, pageSize: 0x800, flags })
      return [...bitmap].flatMap((b, i) => [0, 1, 2, 3, 4, 5, 6, 7].filter((k) => b & (1 << k)).map((k) => i * 8 + k))
    }
    expect(bits(IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR)).toEqual([2, 15, 16])
    expect(bits()).toEqual([2, 15, 16])
    expect(bits()).toEqual([])
  })
  it('enabling tracking starts from a clean state', () => {
    const f = tracked()
    const buf = f.proc.mmap(0x1000)
    const { iova } = f.ictx.ioasMap({ ioasId: f.ioasId, userVa: buf, length: 0x1000 })
    f.ictx.hwptSetDirtyTracking({ flags: IOMMU_HWPT_DIRTY_TRACKING_ENABLE, hwptId: f.hwptId })
    f.dev.dmaWrite(iova, new Uint8Array([1]))
    f.ictx.hwptSetDirtyTracking({ flags: 0, hwptId: f.hwptId })
    f.ictx.hwptSetDirtyTracking({ flags: IOMMU_HWPT_DIRTY_TRACKING_ENABLE, hwptId: f.hwptId })
    expect(f.ictx.hwptGetDirtyBitmap({ hwptId: f.hwptId, iova, length: 0x1000, pageSize: 0x800 }).bitmap.every((b) => b === 0)).toBe(true)
  })
  it('a HUGE-format domain dirties whole 1 MiB entries', () => {
    const f = tracked(MOCK_IOMMUPT_HUGE)
    const buf = f.proc.mmap(4 << 20)
    const { iova } = f.ictx.ioasMap({ ioasId: f.ioasId, userVa: buf, length: 2 << 20 })
    expect(iova % BigInt(MOCK_HUGE_PAGE_SIZE)).toBe(0n)
    f.ictx.hwptSetDirtyTracking({ flags: IOMMU_HWPT_DIRTY_TRACKING_ENABLE, hwptId: f.hwptId })
    f.dev.dmaWrite(iova + 0x10_0800n, new Uint8Array([1]))
    const { bitmap } = f.ictx.hwptGetDirtyBitmap({ hwptId: f.hwptId, iova, length: 2 << 20, pageSize: 0x800 })
    const set = [...bitmap].reduce((n, b) => n + [...b.toString(2)].filter((c) => c === '1').length, 0)
    expect(set).toBe(512) // the second 1 MiB entry = 512 bits of 2 KiB
    expect(bitmap[64]).toBe(0xff)
    expect(bitmap[63]).toBe(0)
  })
  it('errors: no dirty ops → EOPNOTSUPP; unknown flags → EOPNOTSUPP; bad alignment or page_size 0 → EINVAL; paging only (ENOENT)', () => {
    const f = tracked()
    const plain = f.ictx.hwptAlloc({ devId: f.bind(f.addDevice()).devId, ptId: f.ioasId }).outHwptId
    expect(errOf(() => f.ictx.hwptSetDirtyTracking({ flags: IOMMU_HWPT_DIRTY_TRACKING_ENABLE, hwptId: plain }))).toBe('EOPNOTSUPP')
    expect(errOf(() => f.ictx.hwptSetDirtyTracking({ flags: 2, hwptId: f.hwptId }))).toBe('EOPNOTSUPP')
    expect(errOf(() => f.ictx.hwptSetDirtyTracking({ flags: 1, hwptId: f.ioasId }))).toBe('ENOENT')
    expect(errOf(() => f.ictx.hwptGetDirtyBitmap({ hwptId: plain, iova: 0x100_0000, length: 0x1000, pageSize: 0x800 }))).toBe('EOPNOTSUPP')
    expect(errOf(() => f.ictx.hwptGetDirtyBitmap({ hwptId: f.hwptId, iova: 0x100_0000, length: 0x1000, pageSize: 0x800, flags: 4 }))).toBe('EOPNOTSUPP')
    expect(errOf(() => f.ictx.hwptGetDirtyBitmap({ hwptId: f.hwptId, iova: 0x100_0400, length: 0x1000, pageSize: 0x800 }))).toBe('EINVAL')
    expect(errOf(() => f.ictx.hwptGetDirtyBitmap({ hwptId: f.hwptId, iova: 0x100_0000, length: 0x1000, pageSize: 0 }))).toBe('EINVAL')
    expect(errOf(() => f.ictx.hwptGetDirtyBitmap({ hwptId: f.hwptId, iova: 0x100_0000, length: 0x1800, pageSize: 0x1000 }))).toBe('EINVAL')
    expect(errOf(() => f.ictx.hwptGetDirtyBitmap({ hwptId: f.hwptId, iova: 0xffff_ffff_ffff_f000n, length: 0x2000, pageSize: 0x800 }))).toBe('EOVERFLOW')
  })
})

describe('a failing call changes nothing (snapshot comparison)', () => {
  it('holds for a battery of failing calls on a populated context', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const dev = f.addDevice({ flags: MOCK_FLAGS_DEVICE_NO_DIRTY })
    const { vf, devId } = f.bind(dev)
    vf.attach(ioasId)
    const buf = f.proc.mmap(0x8000)
    f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x4000, iova: 0x100_0000 })
    const before = f.ictx.snapshot()
    const failing: (() => unknown)[] = [
      () => f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x4000, iova: 0x100_2000 }),
      () => f.ictx.ioasMap({ ioasId, userVa: 0x6000_0000, length: 0x1000 }),
      () => f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x1000, iova: 0x1000 }),
      () => f.ictx.ioasUnmap({ ioasId, iova: 0x100_0000, length: 0x1000 }),
      () => f.ictx.ioasCopy({ dstIoasId: ioasId, srcIoasId: ioasId, length: 0x5000, srcIova: 0x100_0000 }),
      () => f.ictx.ioasAllowIovas({ ioasId, allowedIovas: [{ start: 0, last: 0xfff }] }),
      () => f.ictx.hwptAlloc({ devId, ptId: ioasId, flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING }),
      () => f.ictx.destroy(ioasId),
      () => f.ictx.destroy(devId),
      () => f.ictx.deviceAttach(vf.idev!, ioasId),
      () => vf.attach(ioasId, 4),
      () => f.ictx.option({ optionId: 1, op: 0, objectId: ioasId, val64: 0 }),
    ]
    for (const call of failing) {
      expect(errOf(call)).toBeDefined()
      expect(f.ictx.snapshot()).toEqual(before)
    }
  })
})

describe('huge IOMMU pages from THP-backed memory', () => {
  it('a 2 MiB-aligned, physically contiguous map uses 1 MiB leaves in the HUGE format', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const dev = f.addDevice()
    const { vf, devId } = f.bind(dev)
    const { outHwptId } = f.ictx.hwptAlloc({ devId, ptId: ioasId, dataType: IOMMU_HWPT_DATA_SELFTEST, data: selftestData(MOCK_IOMMUPT_HUGE) })
    vf.attach(outHwptId)
    const buf = f.proc.mmap(2 << 20)
    const { iova } = f.ictx.ioasMap({ ioasId, userVa: buf, length: 2 << 20 })
    const domain = (dev.driverData as { rid: MockPagingDomain }).rid
    // root + levels 3..1: a 1 MiB leaf needs no level-0 table
    expect(domain.pt.tableCount).toBe(4)
    f.proc.memory.write(buf + 0x1f_fff0n, new Uint8Array([9]))
    expect(dev.dmaRead(iova + 0x1f_fff0n, 1)[0]).toBe(9)
  })
})
