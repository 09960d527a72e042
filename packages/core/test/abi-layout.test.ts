/**
 * Struct layouts of the ABI layer against the uAPI headers (include/uapi/linux/iommufd.h,
 * include/uapi/linux/vfio.h, drivers/iommu/iommufd/iommufd_test.h), and the codec helpers.
 */
import { describe, expect, it } from 'vitest'
import {
  IOMMU_HWPT_ALLOC_LAYOUT,
  IOMMU_HW_INFO_LAYOUT,
  IOMMU_IOAS_MAP_LAYOUT,
  IOMMU_OPTION_LAYOUT,
  ProcessUserMemory,
  StructView,
  UAPI_STRUCTS,
  USER_COPY_LIMIT,
  VFIO_DEVICE_BIND_IOMMUFD_LAYOUT,
  createHost,
  decodeStruct,
  encodeStruct,
  IommufdError,
} from '../src/index.js'

/** [sizeof, offsetofend(last mandatory field), { field: offset }] written out from the headers. */
const EXPECTED: Record<string, [number, number, Record<string, number>]> = {
  iommu_destroy: [8, 8, { size: 0, id: 4 }],
  iommu_ioas_alloc: [12, 12, { flags: 4, out_ioas_id: 8 }],
  iommu_ioas_allow_iovas: [24, 24, { ioas_id: 4, num_iovas: 8, __reserved: 12, allowed_iovas: 16 }],
  iommu_ioas_copy: [40, 40, { flags: 4, dst_ioas_id: 8, src_ioas_id: 12, length: 16, dst_iova: 24, src_iova: 32 }],
  iommu_ioas_iova_ranges: [32, 32, { ioas_id: 4, num_iovas: 8, __reserved: 12, allowed_iovas: 16, out_iova_alignment: 24 }],
  iommu_ioas_map: [40, 40, { flags: 4, ioas_id: 8, __reserved: 12, user_va: 16, length: 24, iova: 32 }],
  iommu_ioas_map_file: [40, 40, { flags: 4, ioas_id: 8, fd: 12, start: 16, length: 24, iova: 32 }],
  iommu_ioas_unmap: [24, 24, { ioas_id: 4, iova: 8, length: 16 }],
  iommu_option: [24, 24, { option_id: 4, op: 8, __reserved: 10, object_id: 12, val64: 16 }],
  iommu_vfio_ioas: [12, 12, { ioas_id: 4, op: 8, __reserved: 10 }],
  iommu_hwpt_alloc: [48, 24, { flags: 4, dev_id: 8, pt_id: 12, out_hwpt_id: 16, __reserved: 20, data_type: 24, data_len: 28, data_uptr: 32, fault_id: 40, __reserved2: 44 }],
  iommu_hw_info: [40, 32, { flags: 4, dev_id: 8, data_len: 12, data_uptr: 16, in_data_type: 24, out_data_type: 24, out_max_pasid_log2: 28, out_capabilities: 32 }],
  iommu_hwpt_set_dirty_tracking: [16, 16, { flags: 4, hwpt_id: 8, __reserved: 12 }],
  iommu_hwpt_get_dirty_bitmap: [48, 48, { hwpt_id: 4, flags: 8, __reserved: 12, iova: 16, length: 24, page_size: 32, data: 40 }],
  iommu_hwpt_invalidate: [32, 32, { hwpt_id: 4, data_uptr: 8, data_type: 16, entry_len: 20, entry_num: 24, __reserved: 28 }],
  iommu_fault_alloc: [16, 16, { flags: 4, out_fault_id: 8, out_fault_fd: 12 }],
  iommu_viommu_alloc: [40, 24, { flags: 4, type: 8, dev_id: 12, hwpt_id: 16, out_viommu_id: 20, data_len: 24, __reserved: 28, data_uptr: 32 }],
  iommu_vdevice_alloc: [24, 24, { viommu_id: 4, dev_id: 8, out_vdevice_id: 12, virt_id: 16 }],
  iommu_ioas_change_process: [8, 8, { __reserved: 4 }],
  iommu_veventq_alloc: [32, 28, { flags: 4, viommu_id: 8, type: 12, veventq_depth: 16, out_veventq_id: 20, out_veventq_fd: 24, __reserved: 28 }],
  iommu_hw_queue_alloc: [40, 40, { flags: 4, viommu_id: 8, type: 12, index: 16, out_hw_queue_id: 20, nesting_parent_iova: 24, length: 32 }],
  iommu_test_cmd: [72, 68, { op: 4, id: 8, __reserved: 12, last: 64 }],
  iommu_iova_range: [16, 16, { start: 0, last: 8 }],
  iommu_hwpt_vtd_s1: [24, 24, { flags: 0, pgtbl_addr: 8, addr_width: 16 }],
  iommu_hwpt_arm_smmuv3: [16, 16, {}],
  iommu_hwpt_amd_guest: [32, 32, {}],
  iommu_hw_info_vtd: [24, 24, { flags: 0, cap_reg: 8, ecap_reg: 16 }],
  iommu_hw_info_arm_smmuv3: [40, 40, { idr0: 8, idr5: 28, iidr: 32, aidr: 36 }],
  iommu_hw_info_tegra241_cmdqv: [8, 8, { version: 4, log2vcmdqs: 5, log2vsids: 6 }],
  iommu_hw_info_amd: [16, 16, { efr: 0, efr2: 8 }],
  iommu_hwpt_vtd_s1_invalidate: [24, 24, { addr: 0, npages: 8, flags: 16 }],
  iommu_viommu_arm_smmuv3_invalidate: [16, 16, {}],
  iommu_hwpt_pgfault: [40, 40, { flags: 0, dev_id: 4, pasid: 8, grpid: 12, perm: 16, addr: 24, length: 32, cookie: 36 }],
  iommu_hwpt_page_response: [8, 8, { cookie: 0, code: 4 }],
  iommu_viommu_tegra241_cmdqv: [16, 16, {}],
  iommufd_vevent_header: [8, 8, { flags: 0, sequence: 4 }],
  iommu_vevent_arm_smmuv3: [32, 32, {}],
  iommu_vevent_tegra241_cmdqv: [16, 16, {}],
  vfio_device_bind_iommufd: [24, 16, { argsz: 0, flags: 4, iommufd: 8, out_devid: 12, token_uuid_ptr: 16 }],
  vfio_device_attach_iommufd_pt: [16, 12, { argsz: 0, flags: 4, pt_id: 8, pasid: 12 }],
  vfio_device_detach_iommufd_pt: [12, 8, { argsz: 0, flags: 4, pasid: 8 }],
}

describe('layouts', () => {
  it('cover every struct, nothing more', () => {
    expect(Object.keys(UAPI_STRUCTS).sort()).toEqual(Object.keys(EXPECTED).sort())
  })
  it.each(Object.entries(EXPECTED))('%s: size, minimum and offsets', (name, [size, min, fields]) => {
    const l = UAPI_STRUCTS[name]!
    expect(l.size).toBe(size)
    expect(l.minSize).toBe(min)
    for (const [f, off] of Object.entries(fields)) expect(l.fields[f]?.offset, `${name}.${f}`).toBe(off)
    // 64-bit fields are naturally aligned, nothing runs past the end
    for (const f of Object.values(l.fields)) expect(f.offset + { u8: 1, u16: 2, u32: 4, s32: 4, u64: 8 }[f.type]).toBeLessThanOrEqual(size)
  })
})

describe('StructView, encodeStruct, decodeStruct', () => {
  it('encodeStruct presets size (or argsz) and fills fields little-endian', () => {
    const b = encodeStruct(IOMMU_IOAS_MAP_LAYOUT, { flags: 6, ioas_id: 3, user_va: 0x7f00_0000_1000n, length: 0x2000n })
    const dv = new DataView(b.buffer)
    expect(b.length).toBe(40)
    expect(dv.getUint32(0, true)).toBe(40)
    expect(dv.getUint32(4, true)).toBe(6)
    expect(dv.getBigUint64(16, true)).toBe(0x7f00_0000_1000n)
    expect(decodeStruct(IOMMU_IOAS_MAP_LAYOUT, b)).toEqual({ size: 40, flags: 6, ioas_id: 3, __reserved: 0, user_va: 0x7f00_0000_1000n, length: 0x2000n, iova: 0n })
    expect(new DataView(encodeStruct(VFIO_DEVICE_BIND_IOMMUFD_LAYOUT, { iommufd: -1 }).buffer).getInt32(8, true)).toBe(-1)
  })
  it('decodeStruct zero-extends a short buffer; u16/u8 fields; u64 wraps to 64 bits', () => {
    expect(decodeStruct(IOMMU_OPTION_LAYOUT, new Uint8Array([24, 0, 0, 0, 1])).option_id).toBe(1)
    const v = new StructView(IOMMU_HW_INFO_LAYOUT, new Uint8Array(40))
    v.set('out_max_pasid_log2', 20).set('out_capabilities', -1n)
    expect(v.num('out_max_pasid_log2')).toBe(20)
    expect(v.big('out_capabilities')).toBe(0xffff_ffff_ffff_ffffn)
    expect(() => v.big('flags')).toThrow()
    expect(() => v.num('data_uptr')).toThrow()
    const h = new StructView(IOMMU_HWPT_ALLOC_LAYOUT, new Uint8Array(48)).set('dev_id', 0x1_0000_0005)
    expect(h.num('dev_id')).toBe(5)
  })
})

describe('ProcessUserMemory (copy_from_user / copy_to_user / clear_user)', () => {
  it('EFAULT outside the mappings, ENOMEM beyond the staging limit, chunked clear', () => {
    const host = createHost({ drivers: [], memory: { bytes: 16 << 20 } })
    const proc = host.createProcess()
    const va = proc.mmap(0x30000)
    const m = new ProcessUserMemory(proc.addressSpace)
    const code = (fn: () => unknown): string | undefined => {
      try {
        fn()
      } catch (e) {
        if (IommufdError.is(e)) return e.code
        throw e
      }
      return undefined
    }
    expect(code(() => m.read(0x10n, 4))).toBe('EFAULT')
    expect(code(() => m.read(va, USER_COPY_LIMIT + 1))).toBe('ENOMEM')
    expect(code(() => m.read(va + 0x2fff0n, 32))).toBe('EFAULT')
    expect(code(() => m.write(0xffff_ffff_ffff_fff0n, new Uint8Array(32)))).toBe('EFAULT')
    m.write(va, new Uint8Array(0x30000).fill(7))
    m.clear(va + 1n, 0x2fffen)
    const back = m.read(va, 0x30000)
    expect([back[0], back[1], back[0x2fffe], back[0x2ffff]]).toEqual([7, 0, 0, 7])
    expect(code(() => m.clear(va, 0x40000n))).toBe('EFAULT')
    expect(m.u32(va)).toBe(7)
  })
})
