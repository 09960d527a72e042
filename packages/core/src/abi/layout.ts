/**
 * Struct layouts of the kernel uAPI, as byte offsets in the little-endian 64-bit ABI.
 *
 * Offsets and sizes were checked against include/uapi/linux/iommufd.h (linux-riscv/linux
 * @ 694f91bca503, the newest header quoted in reference/iommufd-uapi.md §0),
 * include/uapi/linux/vfio.h (the VFIO cdev structs, device_cdev.c) and
 * drivers/iommu/iommufd/iommufd_test.h. `minSize` is `offsetofend(struct, last)` for the last
 * field the kernel's ioctl table (main.c IOCTL_OP) names as mandatory.
 */

export type FieldType = 'u8' | 'u16' | 'u32' | 's32' | 'u64'

export interface FieldLayout {
  readonly offset: number
  readonly type: FieldType
}

export interface StructLayout<F extends string = string> {
  /** The kernel's struct name. */
  readonly name: string
  /** sizeof(struct). */
  readonly size: number
  /** The smallest `size` the kernel accepts (offsetofend of the last mandatory field). */
  readonly minSize: number
  readonly fields: Readonly<Record<F, FieldLayout>>
}

const WIDTH: Record<FieldType, number> = { u8: 1, u16: 2, u32: 4, s32: 4, u64: 8 }

/** Defines a layout; `last` names the field whose end is the minimum size. */
function struct<F extends string>(name: string, size: number, last: NoInfer<F>, fields: Record<F, readonly [number, FieldType]>): StructLayout<F> {
  const out = {} as Record<F, FieldLayout>
  for (const key of Object.keys(fields) as F[]) {
    const [offset, type] = fields[key]
    if (offset % WIDTH[type] !== 0 || offset + WIDTH[type] > size) throw new Error(`layout ${name}.${key}: bad offset ${offset}`)
    out[key] = { offset, type }
  }
  const lastField = out[last]
  return Object.freeze({ name, size, minSize: lastField.offset + WIDTH[lastField.type], fields: Object.freeze(out) })
}

// ---- iommufd command structs (include/uapi/linux/iommufd.h) -----------------------------------

export const IOMMU_DESTROY_LAYOUT = struct('iommu_destroy', 8, 'id', { size: [0, 'u32'], id: [4, 'u32'] })

export const IOMMU_IOAS_ALLOC_LAYOUT = struct('iommu_ioas_alloc', 12, 'out_ioas_id', {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  out_ioas_id: [8, 'u32'],
})

export const IOMMU_IOAS_ALLOW_IOVAS_LAYOUT = struct('iommu_ioas_allow_iovas', 24, 'allowed_iovas', {
  size: [0, 'u32'],
  ioas_id: [4, 'u32'],
  num_iovas: [8, 'u32'],
  __reserved: [12, 'u32'],
  allowed_iovas: [16, 'u64'],
})

export const IOMMU_IOAS_COPY_LAYOUT = struct('iommu_ioas_copy', 40, 'src_iova', {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  dst_ioas_id: [8, 'u32'],
  src_ioas_id: [12, 'u32'],
  length: [16, 'u64'],
  dst_iova: [24, 'u64'],
  src_iova: [32, 'u64'],
})

export const IOMMU_IOAS_IOVA_RANGES_LAYOUT = struct('iommu_ioas_iova_ranges', 32, 'out_iova_alignment', {
  size: [0, 'u32'],
  ioas_id: [4, 'u32'],
  num_iovas: [8, 'u32'],
  __reserved: [12, 'u32'],
  allowed_iovas: [16, 'u64'],
  out_iova_alignment: [24, 'u64'],
})

export const IOMMU_IOAS_MAP_LAYOUT = struct('iommu_ioas_map', 40, 'iova', {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  ioas_id: [8, 'u32'],
  __reserved: [12, 'u32'],
  user_va: [16, 'u64'],
  length: [24, 'u64'],
  iova: [32, 'u64'],
})

export const IOMMU_IOAS_MAP_FILE_LAYOUT = struct('iommu_ioas_map_file', 40, 'iova', {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  ioas_id: [8, 'u32'],
  fd: [12, 's32'],
  start: [16, 'u64'],
  length: [24, 'u64'],
  iova: [32, 'u64'],
})

export const IOMMU_IOAS_UNMAP_LAYOUT = struct('iommu_ioas_unmap', 24, 'length', {
  size: [0, 'u32'],
  ioas_id: [4, 'u32'],
  iova: [8, 'u64'],
  length: [16, 'u64'],
})

export const IOMMU_OPTION_LAYOUT = struct('iommu_option', 24, 'val64', {
  size: [0, 'u32'],
  option_id: [4, 'u32'],
  op: [8, 'u16'],
  __reserved: [10, 'u16'],
  object_id: [12, 'u32'],
  val64: [16, 'u64'],
})

export const IOMMU_VFIO_IOAS_LAYOUT = struct('iommu_vfio_ioas', 12, '__reserved', {
  size: [0, 'u32'],
  ioas_id: [4, 'u32'],
  op: [8, 'u16'],
  __reserved: [10, 'u16'],
})

export const IOMMU_HWPT_ALLOC_LAYOUT = struct('iommu_hwpt_alloc', 48, '__reserved', {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  dev_id: [8, 'u32'],
  pt_id: [12, 'u32'],
  out_hwpt_id: [16, 'u32'],
  __reserved: [20, 'u32'],
  data_type: [24, 'u32'],
  data_len: [28, 'u32'],
  data_uptr: [32, 'u64'],
  fault_id: [40, 'u32'],
  __reserved2: [44, 'u32'],
})

/** `in_data_type` and `out_data_type` share offset 24 (a union). */
export const IOMMU_HW_INFO_LAYOUT = struct('iommu_hw_info', 40, '__reserved2', {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  dev_id: [8, 'u32'],
  data_len: [12, 'u32'],
  data_uptr: [16, 'u64'],
  in_data_type: [24, 'u32'],
  out_data_type: [24, 'u32'],
  out_max_pasid_log2: [28, 'u8'],
  __reserved0: [29, 'u8'],
  __reserved1: [30, 'u8'],
  __reserved2: [31, 'u8'],
  out_capabilities: [32, 'u64'],
})

export const IOMMU_HWPT_SET_DIRTY_TRACKING_LAYOUT = struct('iommu_hwpt_set_dirty_tracking', 16, '__reserved', {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  hwpt_id: [8, 'u32'],
  __reserved: [12, 'u32'],
})

export const IOMMU_HWPT_GET_DIRTY_BITMAP_LAYOUT = struct('iommu_hwpt_get_dirty_bitmap', 48, 'data', {
  size: [0, 'u32'],
  hwpt_id: [4, 'u32'],
  flags: [8, 'u32'],
  __reserved: [12, 'u32'],
  iova: [16, 'u64'],
  length: [24, 'u64'],
  page_size: [32, 'u64'],
  data: [40, 'u64'],
})

export const IOMMU_HWPT_INVALIDATE_LAYOUT = struct('iommu_hwpt_invalidate', 32, '__reserved', {
  size: [0, 'u32'],
  hwpt_id: [4, 'u32'],
  data_uptr: [8, 'u64'],
  data_type: [16, 'u32'],
  entry_len: [20, 'u32'],
  entry_num: [24, 'u32'],
  __reserved: [28, 'u32'],
})

export const IOMMU_FAULT_ALLOC_LAYOUT = struct('iommu_fault_alloc', 16, 'out_fault_fd', {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  out_fault_id: [8, 'u32'],
  out_fault_fd: [12, 'u32'],
})

export const IOMMU_VIOMMU_ALLOC_LAYOUT = struct('iommu_viommu_alloc', 40, 'out_viommu_id', {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  type: [8, 'u32'],
  dev_id: [12, 'u32'],
  hwpt_id: [16, 'u32'],
  out_viommu_id: [20, 'u32'],
  data_len: [24, 'u32'],
  __reserved: [28, 'u32'],
  data_uptr: [32, 'u64'],
})

export const IOMMU_VDEVICE_ALLOC_LAYOUT = struct('iommu_vdevice_alloc', 24, 'virt_id', {
  size: [0, 'u32'],
  viommu_id: [4, 'u32'],
  dev_id: [8, 'u32'],
  out_vdevice_id: [12, 'u32'],
  virt_id: [16, 'u64'],
})

export const IOMMU_IOAS_CHANGE_PROCESS_LAYOUT = struct('iommu_ioas_change_process', 8, '__reserved', {
  size: [0, 'u32'],
  __reserved: [4, 'u32'],
})

export const IOMMU_VEVENTQ_ALLOC_LAYOUT = struct('iommu_veventq_alloc', 32, 'out_veventq_fd', {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  viommu_id: [8, 'u32'],
  type: [12, 'u32'],
  veventq_depth: [16, 'u32'],
  out_veventq_id: [20, 'u32'],
  out_veventq_fd: [24, 'u32'],
  __reserved: [28, 'u32'],
})

export const IOMMU_HW_QUEUE_ALLOC_LAYOUT = struct('iommu_hw_queue_alloc', 40, 'length', {
  size: [0, 'u32'],
  flags: [4, 'u32'],
  viommu_id: [8, 'u32'],
  type: [12, 'u32'],
  index: [16, 'u32'],
  out_hw_queue_id: [20, 'u32'],
  nesting_parent_iova: [24, 'u64'],
  length: [32, 'u64'],
})

/**
 * `struct iommu_test_cmd` as far as the dispatcher needs it: the header, and `last` (offset 64)
 * after the 48-byte union, so sizeof = 72 and the minimum size is offsetofend(last) = 68. The
 * union members are decoded by the driver that implements the selftest ops.
 */
export const IOMMU_TEST_CMD_LAYOUT = struct('iommu_test_cmd', 72, 'last', {
  size: [0, 'u32'],
  op: [4, 'u32'],
  id: [8, 'u32'],
  __reserved: [12, 'u32'],
  last: [64, 'u32'],
})

// ---- payload and record structs -----------------------------------------------------------------

export const IOMMU_IOVA_RANGE_LAYOUT = struct('iommu_iova_range', 16, 'last', { start: [0, 'u64'], last: [8, 'u64'] })

export const IOMMU_HWPT_VTD_S1_LAYOUT = struct('iommu_hwpt_vtd_s1', 24, '__reserved', {
  flags: [0, 'u64'],
  pgtbl_addr: [8, 'u64'],
  addr_width: [16, 'u32'],
  __reserved: [20, 'u32'],
})

export const IOMMU_HWPT_ARM_SMMUV3_LAYOUT = struct('iommu_hwpt_arm_smmuv3', 16, 'ste1', { ste0: [0, 'u64'], ste1: [8, 'u64'] })

export const IOMMU_HWPT_AMD_GUEST_LAYOUT = struct('iommu_hwpt_amd_guest', 32, 'dte3', {
  dte0: [0, 'u64'],
  dte1: [8, 'u64'],
  dte2: [16, 'u64'],
  dte3: [24, 'u64'],
})

export const IOMMU_HW_INFO_VTD_LAYOUT = struct('iommu_hw_info_vtd', 24, 'ecap_reg', {
  flags: [0, 'u32'],
  __reserved: [4, 'u32'],
  cap_reg: [8, 'u64'],
  ecap_reg: [16, 'u64'],
})

export const IOMMU_HW_INFO_ARM_SMMUV3_LAYOUT = struct('iommu_hw_info_arm_smmuv3', 40, 'aidr', {
  flags: [0, 'u32'],
  __reserved: [4, 'u32'],
  idr0: [8, 'u32'],
  idr1: [12, 'u32'],
  idr2: [16, 'u32'],
  idr3: [20, 'u32'],
  idr4: [24, 'u32'],
  idr5: [28, 'u32'],
  iidr: [32, 'u32'],
  aidr: [36, 'u32'],
})

export const IOMMU_HW_INFO_TEGRA241_CMDQV_LAYOUT = struct('iommu_hw_info_tegra241_cmdqv', 8, '__reserved', {
  flags: [0, 'u32'],
  version: [4, 'u8'],
  log2vcmdqs: [5, 'u8'],
  log2vsids: [6, 'u8'],
  __reserved: [7, 'u8'],
})

export const IOMMU_HW_INFO_AMD_LAYOUT = struct('iommu_hw_info_amd', 16, 'efr2', { efr: [0, 'u64'], efr2: [8, 'u64'] })

export const IOMMU_HWPT_VTD_S1_INVALIDATE_LAYOUT = struct('iommu_hwpt_vtd_s1_invalidate', 24, '__reserved', {
  addr: [0, 'u64'],
  npages: [8, 'u64'],
  flags: [16, 'u32'],
  __reserved: [20, 'u32'],
})

export const IOMMU_VIOMMU_ARM_SMMUV3_INVALIDATE_LAYOUT = struct('iommu_viommu_arm_smmuv3_invalidate', 16, 'cmd1', {
  cmd0: [0, 'u64'],
  cmd1: [8, 'u64'],
})

export const IOMMU_HWPT_PGFAULT_LAYOUT = struct('iommu_hwpt_pgfault', 40, 'cookie', {
  flags: [0, 'u32'],
  dev_id: [4, 'u32'],
  pasid: [8, 'u32'],
  grpid: [12, 'u32'],
  perm: [16, 'u32'],
  __reserved: [20, 'u32'],
  addr: [24, 'u64'],
  length: [32, 'u32'],
  cookie: [36, 'u32'],
})

export const IOMMU_HWPT_PAGE_RESPONSE_LAYOUT = struct('iommu_hwpt_page_response', 8, 'code', { cookie: [0, 'u32'], code: [4, 'u32'] })

export const IOMMU_VIOMMU_TEGRA241_CMDQV_LAYOUT = struct('iommu_viommu_tegra241_cmdqv', 16, 'out_vintf_mmap_length', {
  out_vintf_mmap_offset: [0, 'u64'],
  out_vintf_mmap_length: [8, 'u64'],
})

export const IOMMUFD_VEVENT_HEADER_LAYOUT = struct('iommufd_vevent_header', 8, 'sequence', { flags: [0, 'u32'], sequence: [4, 'u32'] })

export const IOMMU_VEVENT_ARM_SMMUV3_LAYOUT = struct('iommu_vevent_arm_smmuv3', 32, 'evt3', {
  evt0: [0, 'u64'],
  evt1: [8, 'u64'],
  evt2: [16, 'u64'],
  evt3: [24, 'u64'],
})

export const IOMMU_VEVENT_TEGRA241_CMDQV_LAYOUT = struct('iommu_vevent_tegra241_cmdqv', 16, 'lvcmdq_err_map1', {
  lvcmdq_err_map0: [0, 'u64'],
  lvcmdq_err_map1: [8, 'u64'],
})

// ---- VFIO device cdev structs (include/uapi/linux/vfio.h) -------------------------------------

/** `token_uuid_ptr` arrived with VFIO_DEVICE_BIND_FLAG_TOKEN (Linux 6.17); the minimum stays at out_devid. */
export const VFIO_DEVICE_BIND_IOMMUFD_LAYOUT = struct('vfio_device_bind_iommufd', 24, 'out_devid', {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
  iommufd: [8, 's32'],
  out_devid: [12, 'u32'],
  token_uuid_ptr: [16, 'u64'],
})

/** `pasid` is read only with VFIO_DEVICE_ATTACH_PASID; otherwise the minimum ends at pt_id. */
export const VFIO_DEVICE_ATTACH_IOMMUFD_PT_LAYOUT = struct('vfio_device_attach_iommufd_pt', 16, 'pt_id', {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
  pt_id: [8, 'u32'],
  pasid: [12, 'u32'],
})

/** `pasid` is read only with VFIO_DEVICE_DETACH_PASID; otherwise the minimum ends at flags. */
export const VFIO_DEVICE_DETACH_IOMMUFD_PT_LAYOUT = struct('vfio_device_detach_iommufd_pt', 12, 'flags', {
  argsz: [0, 'u32'],
  flags: [4, 'u32'],
  pasid: [8, 'u32'],
})

/** Every layout above, by kernel struct name. */
export const UAPI_STRUCTS: Readonly<Record<string, StructLayout>> = Object.freeze(
  Object.fromEntries(
    [
      IOMMU_DESTROY_LAYOUT,
      IOMMU_IOAS_ALLOC_LAYOUT,
      IOMMU_IOAS_ALLOW_IOVAS_LAYOUT,
      IOMMU_IOAS_COPY_LAYOUT,
      IOMMU_IOAS_IOVA_RANGES_LAYOUT,
      IOMMU_IOAS_MAP_LAYOUT,
      IOMMU_IOAS_MAP_FILE_LAYOUT,
      IOMMU_IOAS_UNMAP_LAYOUT,
      IOMMU_OPTION_LAYOUT,
      IOMMU_VFIO_IOAS_LAYOUT,
      IOMMU_HWPT_ALLOC_LAYOUT,
      IOMMU_HW_INFO_LAYOUT,
      IOMMU_HWPT_SET_DIRTY_TRACKING_LAYOUT,
      IOMMU_HWPT_GET_DIRTY_BITMAP_LAYOUT,
      IOMMU_HWPT_INVALIDATE_LAYOUT,
      IOMMU_FAULT_ALLOC_LAYOUT,
      IOMMU_VIOMMU_ALLOC_LAYOUT,
      IOMMU_VDEVICE_ALLOC_LAYOUT,
      IOMMU_IOAS_CHANGE_PROCESS_LAYOUT,
      IOMMU_VEVENTQ_ALLOC_LAYOUT,
      IOMMU_HW_QUEUE_ALLOC_LAYOUT,
      IOMMU_TEST_CMD_LAYOUT,
      IOMMU_IOVA_RANGE_LAYOUT,
      IOMMU_HWPT_VTD_S1_LAYOUT,
      IOMMU_HWPT_ARM_SMMUV3_LAYOUT,
      IOMMU_HWPT_AMD_GUEST_LAYOUT,
      IOMMU_HW_INFO_VTD_LAYOUT,
      IOMMU_HW_INFO_ARM_SMMUV3_LAYOUT,
      IOMMU_HW_INFO_TEGRA241_CMDQV_LAYOUT,
      IOMMU_HW_INFO_AMD_LAYOUT,
      IOMMU_HWPT_VTD_S1_INVALIDATE_LAYOUT,
      IOMMU_VIOMMU_ARM_SMMUV3_INVALIDATE_LAYOUT,
      IOMMU_HWPT_PGFAULT_LAYOUT,
      IOMMU_HWPT_PAGE_RESPONSE_LAYOUT,
      IOMMU_VIOMMU_TEGRA241_CMDQV_LAYOUT,
      IOMMUFD_VEVENT_HEADER_LAYOUT,
      IOMMU_VEVENT_ARM_SMMUV3_LAYOUT,
      IOMMU_VEVENT_TEGRA241_CMDQV_LAYOUT,
      VFIO_DEVICE_BIND_IOMMUFD_LAYOUT,
      VFIO_DEVICE_ATTACH_IOMMUFD_PT_LAYOUT,
      VFIO_DEVICE_DETACH_IOMMUFD_PT_LAYOUT,
    ].map((l) => [l.name, l as StructLayout]),
  ),
)

// ---- reading and writing fields -----------------------------------------------------------------

/** Typed access to one struct held in a buffer (little-endian, as on x86-64 and arm64). */
export class StructView<F extends string = string> {
  readonly view: DataView
  constructor(
    readonly layout: StructLayout<F>,
    readonly bytes: Uint8Array,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  /** A u8/u16/u32/s32 field as a number. */
  num(field: F): number {
    const { offset, type } = this.layout.fields[field]
    switch (type) {
      case 'u8':
        return this.view.getUint8(offset)
      case 'u16':
        return this.view.getUint16(offset, true)
      case 'u32':
        return this.view.getUint32(offset, true)
      case 's32':
        return this.view.getInt32(offset, true)
      case 'u64':
        throw new Error(`${this.layout.name}.${field} is a u64: use big()`)
    }
  }

  /** A u64 field as a bigint. */
  big(field: F): bigint {
    const { offset, type } = this.layout.fields[field]
    if (type !== 'u64') throw new Error(`${this.layout.name}.${field} is a ${type}: use num()`)
    return this.view.getBigUint64(offset, true)
  }

  set(field: F, value: number | bigint): this {
    const { offset, type } = this.layout.fields[field]
    switch (type) {
      case 'u8':
        this.view.setUint8(offset, Number(value))
        break
      case 'u16':
        this.view.setUint16(offset, Number(value), true)
        break
      case 'u32':
        this.view.setUint32(offset, Number(BigInt(value) & 0xffff_ffffn), true)
        break
      case 's32':
        this.view.setInt32(offset, Number(value), true)
        break
      case 'u64':
        this.view.setBigUint64(offset, BigInt(value) & 0xffff_ffff_ffff_ffffn, true)
        break
    }
    return this
  }
}

/**
 * A zeroed struct of the layout's size with `size` (or `argsz` for VFIO) preset, and the given
 * fields filled: what C code gets from `struct x cmd = { .size = sizeof(cmd), ... }`.
 */
export function encodeStruct<F extends string>(layout: StructLayout<F>, values: Partial<Record<F, number | bigint>> = {}): Uint8Array {
  const bytes = new Uint8Array(layout.size)
  const v = new StructView(layout, bytes)
  const sizeField = ('size' in layout.fields ? 'size' : 'argsz' in layout.fields ? 'argsz' : undefined) as F | undefined
  if (sizeField !== undefined) v.set(sizeField, layout.size)
  for (const key of Object.keys(values) as F[]) {
    const val = values[key]
    if (val !== undefined) v.set(key, val)
  }
  return bytes
}

/** Every field of a struct: u64 fields as bigint, others as number. */
export function decodeStruct<F extends string>(layout: StructLayout<F>, bytes: Uint8Array): Record<F, number | bigint> {
  const v = new StructView(layout, bytes.length >= layout.size ? bytes : padTo(bytes, layout.size))
  const out = {} as Record<F, number | bigint>
  for (const key of Object.keys(layout.fields) as F[]) out[key] = layout.fields[key].type === 'u64' ? v.big(key) : v.num(key)
  return out
}

function padTo(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size)
  out.set(bytes)
  return out
}
