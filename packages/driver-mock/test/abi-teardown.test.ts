/**
 * Teardown in any state (the selftests' FIXTURE_TEARDOWN closes the fd whatever a test left
 * behind): closing /dev/iommu, the access fd and the vEVENTQ fd in any order, then process exit,
 * releases every object, pin and mock device.
 */
import { it, expect } from 'vitest'
import * as C from '@iommu-sim/core'
import * as M from '../src/index.js'
import { Buf, selftest, PAGE_SIZE } from './abi-helpers.js'
it('closing the fds in any order with a vIOMMU, vDEVICE, nested attach, vEVENTQ, access and mappings leaves nothing', () => {
  for (let variant = 0; variant < 4; variant++) {
    const t = selftest()
    const ioas = t.ioasAlloc()
    const md = t.mockDomain(ioas, M.MOCK_FLAGS_DEVICE_PASID)
    const parent = t.hwptAlloc(md.idevId, ioas, C.IOMMU_HWPT_ALLOC_NEST_PARENT | C.IOMMU_HWPT_ALLOC_PASID)
    const vb = new Buf(40); vb.u32(8, M.IOMMU_VIOMMU_TYPE_SELFTEST); vb.u32(12, md.idevId); vb.u32(16, parent.id)
    expect(t.ioctl(C.IOMMU_VIOMMU_ALLOC, vb)).toBe(0)
    const viommu = vb.u32(20)
    const vd = new Buf(24); vd.u32(4, viommu); vd.u32(8, md.idevId); vd.u64(16, 5)
    expect(t.ioctl(C.IOMMU_VDEVICE_ALLOC, vd)).toBe(0)
    const data = t.proc.mmap(PAGE_SIZE); t.proc.memory.write(data, new Uint8Array([1,0,0,0]))
    const nb = new Buf(48); nb.u32(8, md.idevId); nb.u32(12, viommu); nb.u32(24, M.IOMMU_HWPT_DATA_SELFTEST); nb.u32(28, 4); nb.u64(32, data)
    expect(t.ioctl(C.IOMMU_HWPT_ALLOC, nb)).toBe(0)
    expect(t.testCmd(M.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, md.stdevId, (b) => b.u32(16, nb.u32(16))).rc).toBe(0)
    const q = new Buf(32); q.u32(8, viommu); q.u32(12, M.IOMMU_VEVENTQ_TYPE_SELFTEST); q.u32(16, 2)
    expect(t.ioctl(C.IOMMU_VEVENTQ_ALLOC, q)).toBe(0)
    const acc = t.testCmd(M.IOMMU_TEST_OP_CREATE_ACCESS, ioas, (b) => b.u32(20, 1))
    expect(acc.rc).toBe(0)
    expect(t.map(ioas, t.buffer, PAGE_SIZE * 4, 6).rc).toBe(0)
    if (variant & 1) t.proc.close(acc.b.u32(16))
    if (variant & 2) t.proc.close(q.u32(24))
    t.proc.close(t.fd)
    t.proc.exit()
    expect(t.host.frames.totalPins()).toBe(0)
    expect(t.host.devices.length).toBe(0)
  }
})
