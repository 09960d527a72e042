/**
 * One codec per iommufd command: decode the kernel struct, call the typed API (where the
 * semantics live), encode the results. Checks done here are only the ones that belong to the
 * struct itself (reserved fields) or to the user copy (pointers), in the kernel's order
 * (drivers/iommu/iommufd/ioas.c, hw_pagetable.c, device.c, viommu.c, eventq.c, main.c;
 * reference/iommufd-uapi.md §2.1–§2.21).
 */
import * as C from '../uapi/constants.js'
import { fail, IommufdError } from '../errors/iommufd-error.js'
import { UserData, UserDataArray } from '../driver/user-data.js'
import type { Ucmd } from './ucmd.js'
import * as L from './layout.js'
import { USER_COPY_LIMIT } from './user-memory.js'
import { selftestUnit } from './selftest.js'
import type { Ioas } from '../iommufd/ioas.js'

const MAP_FLAGS = C.IOMMU_IOAS_MAP_FIXED_IOVA | C.IOMMU_IOAS_MAP_WRITEABLE | C.IOMMU_IOAS_MAP_READABLE

type Fields<T> = T extends L.StructLayout<infer F> ? F : never
export type Handler<T extends L.StructLayout> = (u: Ucmd<Fields<T>>) => number | void

/** The element allocation of ALLOW_IOVAS (struct iopt_allowed, an interval-tree node). */
const IOPT_ALLOWED_SIZE = 48

// ---- IOMMU_DESTROY (§2.1) -------------------------------------------------------------------------

export const destroy: Handler<typeof L.IOMMU_DESTROY_LAYOUT> = (u) => {
  u.ctx.destroy(u.cmd.num('id'))
}

// ---- IOAS ---------------------------------------------------------------------------------------

export const ioasAlloc: Handler<typeof L.IOMMU_IOAS_ALLOC_LAYOUT> = (u) => {
  const r = u.ctx.ioasAlloc({ flags: u.cmd.num('flags') })
  u.cmd.set('out_ioas_id', r.outIoasId)
}

/** ioas.c iommufd_ioas_allow_iovas: reserved → EOPNOTSUPP, IOAS lookup, then the user array. */
export const ioasAllowIovas: Handler<typeof L.IOMMU_IOAS_ALLOW_IOVAS_LAYOUT> = (u) => {
  const op = 'IOMMU_IOAS_ALLOW_IOVAS'
  const c = u.cmd
  if (c.num('__reserved') !== 0) throw fail('EOPNOTSUPP', op, '__reserved must be 0')
  const ioasId = c.num('ioas_id')
  u.ctx.getIoas(ioasId, op)
  const num = c.num('num_iovas')
  // Each range becomes a kzalloc'd interval-tree node; the model bounds the whole staging copy.
  if (num * IOPT_ALLOWED_SIZE > USER_COPY_LIMIT) throw fail('ENOMEM', op, `${num} ranges`)
  const base = c.big('allowed_iovas')
  // iommufd_ioas_load_iovas reads one range at a time and checks it (start < last, no overlap
  // with an earlier range: EINVAL) before reading the next (EFAULT). Same outcome here: read
  // until the first fault, then EINVAL if any range read so far is bad, else that EFAULT.
  const ranges: { start: bigint; last: bigint }[] = []
  let fault: unknown
  for (let i = 0; i < num; i++) {
    let r: { start: bigint; last: bigint }
    try {
      r = readRange(u, base + BigInt(i) * 16n)
    } catch (e) {
      fault = e
      break
    }
    if (r.start >= r.last) throw fail('EINVAL', op, `range ${i} is empty or inverted`)
    ranges.push(r)
  }
  const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.start <= sorted[i - 1]!.last) throw fail('EINVAL', op, 'allowed ranges overlap')
  }
  if (fault !== undefined) throw fault
  u.ctx.ioasAllowIovas({ ioasId, allowedIovas: ranges })
}

function readRange(u: Ucmd, va: bigint): { start: bigint; last: bigint } {
  const b = u.memory.read(va, L.IOMMU_IOVA_RANGE_LAYOUT.size)
  const v = new L.StructView(L.IOMMU_IOVA_RANGE_LAYOUT, b)
  return { start: v.big('start'), last: v.big('last') }
}

/** MOCK_FLAGS_ACCESS_SYZ (iommufd_test.h): syzkaller's {nth area, offset} IOVA encoding. */
const MOCK_FLAGS_ACCESS_SYZ = 1 << 16

/**
 * In a selftest build (a unit with selftest ops on the host), IOMMU_IOAS_COPY first applies
 * iommufd_test_syz_conv_iova_id: with MOCK_FLAGS_ACCESS_SYZ in flags the flag is dropped and
 * src_iova = {u32 nth_area, u32 offset} becomes that area's IOVA + offset (0 if no such area).
 */
function syzConvCopy(u: Parameters<Handler<typeof L.IOMMU_IOAS_COPY_LAYOUT>>[0]): void {
  const c = u.cmd
  if ((c.num('flags') & MOCK_FLAGS_ACCESS_SYZ) === 0 || selftestUnit(u.ctx) === undefined) return
  c.set('flags', c.num('flags') & ~MOCK_FLAGS_ACCESS_SYZ)
  const ioas = u.ctx.objects.find(c.num('src_ioas_id'))
  if (ioas === undefined || ioas.type !== 'IOAS') return
  const raw = c.big('src_iova')
  const area = (ioas as Ioas).iopt.areas[Number(raw & 0xffff_ffffn)]
  c.set('src_iova', area === undefined ? 0n : area.iova + (raw >> 32n))
}

export const ioasCopy: Handler<typeof L.IOMMU_IOAS_COPY_LAYOUT> = (u) => {
  const c = u.cmd
  syzConvCopy(u)
  const r = u.ctx.ioasCopy({
    flags: c.num('flags'),
    dstIoasId: c.num('dst_ioas_id'),
    srcIoasId: c.num('src_ioas_id'),
    length: c.big('length'),
    dstIova: c.big('dst_iova'),
    srcIova: c.big('src_iova'),
  })
  c.set('dst_iova', r.dstIova)
}

/**
 * ioas.c iommufd_ioas_iova_ranges: writes up to `num_iovas` ranges one by one (EFAULT on the
 * first that cannot be written, struct not written back), then num_iovas = total and the
 * alignment, writes the struct back, and only then reports EMSGSIZE when the array was short.
 */
export const ioasIovaRanges: Handler<typeof L.IOMMU_IOAS_IOVA_RANGES_LAYOUT> = (u) => {
  const op = 'IOMMU_IOAS_IOVA_RANGES'
  const c = u.cmd
  if (c.num('__reserved') !== 0) throw fail('EOPNOTSUPP', op, '__reserved must be 0')
  const r = u.ctx.ioasIovaRanges({ ioasId: c.num('ioas_id') })
  const max = c.num('num_iovas')
  const base = c.big('allowed_iovas')
  const elm = new Uint8Array(L.IOMMU_IOVA_RANGE_LAYOUT.size)
  const ev = new L.StructView(L.IOMMU_IOVA_RANGE_LAYOUT, elm)
  r.allowedIovas.forEach((range, i) => {
    if (i >= max) return
    ev.set('start', range.start).set('last', range.last)
    u.memory.write(base + BigInt(i) * 16n, elm)
  })
  c.set('num_iovas', r.numIovas)
  c.set('out_iova_alignment', r.outIovaAlignment)
  u.respond()
  if (r.numIovas > max) throw fail('EMSGSIZE', op, `${r.numIovas} ranges do not fit in ${max}`)
}

export const ioasMap: Handler<typeof L.IOMMU_IOAS_MAP_LAYOUT> = (u) => {
  const c = u.cmd
  const flags = c.num('flags')
  if ((flags & ~MAP_FLAGS) !== 0 || c.num('__reserved') !== 0) throw fail('EOPNOTSUPP', 'IOMMU_IOAS_MAP', 'unknown flags or __reserved set')
  const r = u.ctx.ioasMap({ flags, ioasId: c.num('ioas_id'), userVa: c.big('user_va'), length: c.big('length'), iova: c.big('iova') })
  c.set('iova', r.iova)
}

/**
 * IOMMU_IOAS_MAP_FILE (ioas.c iommufd_ioas_map_file): the flag, overflow and IOAS checks of
 * MAP, then the file. The model has no memfd/shmem/dma-buf files, so an fd that is open
 * refers to a file whose pages cannot be pinned: EINVAL (memfd_pin_folios' answer). The kernel
 * defers that pin until a domain needs it; the model refuses at MAP_FILE time.
 */
export const ioasMapFile: Handler<typeof L.IOMMU_IOAS_MAP_FILE_LAYOUT> = (u) => {
  const op = 'IOMMU_IOAS_MAP_FILE'
  const c = u.cmd
  const flags = c.num('flags')
  if ((flags & ~MAP_FLAGS) !== 0) throw fail('EOPNOTSUPP', op, `unknown flags 0x${flags.toString(16)}`)
  if (c.big('iova') >= C.U64_MAX || c.big('length') >= C.U64_MAX) throw fail('EOVERFLOW', op, 'iova or length ≥ ULONG_MAX')
  if ((flags & (C.IOMMU_IOAS_MAP_READABLE | C.IOMMU_IOAS_MAP_WRITEABLE)) === 0) throw fail('EINVAL', op, 'neither READABLE nor WRITEABLE')
  u.ctx.getIoas(c.num('ioas_id'), op)
  const fd = c.num('fd')
  if (fd < 0 || u.proc.files.get(fd) === undefined) throw fail('EBADF', op, `fd ${fd} is not open`)
  const length = c.big('length')
  if (length === 0n) throw fail('EINVAL', op, 'length is 0')
  if (c.big('start') + length - 1n > C.U64_MAX) throw fail('EOVERFLOW', op, 'start + length overflows')
  throw fail('EINVAL', op, `fd ${fd} is not a memfd, shmem or dma-buf file (the model has none)`)
}

export const ioasUnmap: Handler<typeof L.IOMMU_IOAS_UNMAP_LAYOUT> = (u) => {
  const c = u.cmd
  const r = u.ctx.ioasUnmap({ ioasId: c.num('ioas_id'), iova: c.big('iova'), length: c.big('length') })
  c.set('length', r.length)
}

/** main.c iommufd_option: __reserved → EOPNOTSUPP; only val64 is copied back. */
export const option: Handler<typeof L.IOMMU_OPTION_LAYOUT> = (u) => {
  const c = u.cmd
  if (c.num('__reserved') !== 0) throw fail('EOPNOTSUPP', 'IOMMU_OPTION', '__reserved must be 0')
  const r = u.ctx.option({ optionId: c.num('option_id'), op: c.num('op'), objectId: c.num('object_id'), val64: c.big('val64') })
  c.set('val64', r.val64)
}

export const vfioIoas: Handler<typeof L.IOMMU_VFIO_IOAS_LAYOUT> = (u) => {
  const c = u.cmd
  if (c.num('__reserved') !== 0) throw fail('EOPNOTSUPP', 'IOMMU_VFIO_IOAS', '__reserved must be 0')
  const r = u.ctx.vfioIoasOp({ ioasId: c.num('ioas_id'), op: c.num('op') })
  c.set('ioas_id', r.ioasId)
}

export const ioasChangeProcess: Handler<typeof L.IOMMU_IOAS_CHANGE_PROCESS_LAYOUT> = (u) => {
  if (u.cmd.num('__reserved') !== 0) throw fail('EOPNOTSUPP', 'IOMMU_IOAS_CHANGE_PROCESS', '__reserved must be 0')
  u.ctx.ioasChangeProcess()
}

// ---- HWPT ---------------------------------------------------------------------------------------

/** hw_pagetable.c iommufd_hwpt_alloc: __reserved → EOPNOTSUPP (__reserved2 is not checked). */
export const hwptAlloc: Handler<typeof L.IOMMU_HWPT_ALLOC_LAYOUT> = (u) => {
  const c = u.cmd
  if (c.num('__reserved') !== 0) throw fail('EOPNOTSUPP', 'IOMMU_HWPT_ALLOC', '__reserved must be 0')
  const dataType = c.num('data_type')
  const data = new UserData(dataType, c.big('data_uptr'), c.num('data_len'), u.memory)
  const r = u.ctx.hwptAlloc({ flags: c.num('flags'), devId: c.num('dev_id'), ptId: c.num('pt_id'), dataType, data, faultId: c.num('fault_id') })
  c.set('out_hwpt_id', r.outHwptId)
}

/**
 * device.c iommufd_get_hw_info: copies min(data_len, driver length) bytes to data_uptr,
 * zero-fills the rest of the user buffer up to data_len, and reports the driver's full length.
 */
export const getHwInfo: Handler<typeof L.IOMMU_HW_INFO_LAYOUT> = (u) => {
  const c = u.cmd
  if (c.num('__reserved0') !== 0 || c.num('__reserved1') !== 0 || c.num('__reserved2') !== 0) {
    throw fail('EOPNOTSUPP', 'IOMMU_GET_HW_INFO', '__reserved must be 0')
  }
  const flags = c.num('flags')
  const r = u.ctx.getHwInfo({ flags, devId: c.num('dev_id'), inDataType: c.num('in_data_type') })
  const userLen = c.num('data_len')
  const uptr = c.big('data_uptr')
  const copyLen = Math.min(userLen, r.dataLen)
  if (copyLen > 0) u.memory.write(uptr, r.data.subarray(0, copyLen))
  if (copyLen < userLen) u.memory.clear(uptr + BigInt(copyLen), BigInt(userLen - copyLen))
  c.set('data_len', r.dataLen)
  c.set('out_data_type', r.outDataType)
  c.set('out_max_pasid_log2', r.outMaxPasidLog2)
  c.set('out_capabilities', r.outCapabilities)
}

/** `__reserved` is not checked by the kernel (hw_pagetable.c iommufd_hwpt_set_dirty_tracking). */
export const hwptSetDirtyTracking: Handler<typeof L.IOMMU_HWPT_SET_DIRTY_TRACKING_LAYOUT> = (u) => {
  u.ctx.hwptSetDirtyTracking({ flags: u.cmd.num('flags'), hwptId: u.cmd.num('hwpt_id') })
}

/**
 * hw_pagetable.c iommufd_hwpt_get_dirty_bitmap → iopt_read_and_clear_dirty_data: the request
 * is validated first; then the user bitmap (one bit per page_size, u64 words, LSB first) must be
 * mapped (iova_bitmap pins it: EFAULT), and only then is dirty state read (and cleared).
 * Bits are only ever set.
 */
export const hwptGetDirtyBitmap: Handler<typeof L.IOMMU_HWPT_GET_DIRTY_BITMAP_LAYOUT> = (u) => {
  const op = 'IOMMU_HWPT_GET_DIRTY_BITMAP'
  const c = u.cmd
  const flags = c.num('flags')
  if ((flags & ~C.IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) !== 0 || c.num('__reserved') !== 0) throw fail('EOPNOTSUPP', op, 'unknown flags or __reserved set')
  const req = { hwptId: c.num('hwpt_id'), flags, iova: c.big('iova'), length: c.big('length'), pageSize: c.big('page_size') }
  const data = c.big('data')
  // The bitmap is checked once the request is valid and before any dirty state is read.
  const checkBitmap = (bits: bigint): void => {
    const bytes = ((bits + 63n) / 64n) * 8n
    if (!u.memory.mapped(data, bytes)) throw fail('EFAULT', op, `bitmap [0x${data.toString(16)}, +${bytes}) is not mapped`)
  }
  const masks = new Map<bigint, number>()
  u.ctx.readDirtyBitmap(req, (bit) => {
    const byte = bit >> 3n
    masks.set(byte, (masks.get(byte) ?? 0) | (1 << Number(bit & 7n)))
  }, checkBitmap)
  const one = new Uint8Array(1)
  for (const [byte, mask] of masks) {
    const va = data + byte
    one[0] = u.memory.read(va, 1)[0]! | mask
    u.memory.write(va, one)
  }
}

/**
 * hw_pagetable.c iommufd_hwpt_invalidate: `entry_num` is written back whatever happens — the
 * number of entries the driver handled, 0 when the core refused the request first.
 */
export const hwptInvalidate: Handler<typeof L.IOMMU_HWPT_INVALIDATE_LAYOUT> = (u) => {
  const c = u.cmd
  let done = 0
  try {
    if (c.num('__reserved') !== 0) throw fail('EOPNOTSUPP', 'IOMMU_HWPT_INVALIDATE', '__reserved must be 0')
    const dataType = c.num('data_type')
    const entryLen = c.num('entry_len')
    const entryNum = c.num('entry_num')
    const uptr = c.big('data_uptr')
    // A NULL data_uptr with entries is the core's EINVAL; the typed API sees it as "no data".
    const data = uptr === 0n && entryNum !== 0 ? undefined : new UserDataArray(dataType, uptr, entryLen, entryNum, u.memory)
    const r = u.ctx.hwptInvalidate({ hwptId: c.num('hwpt_id'), dataType, entryLen, entryNum, ...(data === undefined ? {} : { data }) })
    done = r.entryNum
  } catch (e) {
    if (IommufdError.is(e)) {
      const n = e.details?.['entryNum']
      done = typeof n === 'number' ? n : 0
    }
    c.set('entry_num', done)
    u.respond()
    throw e
  }
  c.set('entry_num', done)
}

// ---- FAULT and the vIOMMU family ------------------------------------------------------------------

export const faultQueueAlloc: Handler<typeof L.IOMMU_FAULT_ALLOC_LAYOUT> = (u) => {
  const r = u.ctx.faultQueueAlloc({ flags: u.cmd.num('flags') })
  u.cmd.set('out_fault_id', r.outFaultId)
  u.cmd.set('out_fault_fd', r.outFaultFd)
}

/** viommu.c iommufd_viommu_alloc_ioctl: driver data only when data_len != 0 (typed by the vIOMMU type). */
export const viommuAlloc: Handler<typeof L.IOMMU_VIOMMU_ALLOC_LAYOUT> = (u) => {
  const c = u.cmd
  const type = c.num('type')
  const dataLen = c.num('data_len')
  const data = dataLen === 0 ? undefined : new UserData(type, c.big('data_uptr'), dataLen, u.memory)
  const r = u.ctx.viommuAlloc({ flags: c.num('flags'), type, devId: c.num('dev_id'), hwptId: c.num('hwpt_id'), ...(data === undefined ? {} : { data }) })
  c.set('out_viommu_id', r.outViommuId)
}

export const vdeviceAlloc: Handler<typeof L.IOMMU_VDEVICE_ALLOC_LAYOUT> = (u) => {
  const c = u.cmd
  const r = u.ctx.vdeviceAlloc({ viommuId: c.num('viommu_id'), devId: c.num('dev_id'), virtId: c.big('virt_id') })
  c.set('out_vdevice_id', r.outVdeviceId)
}

export const veventqAlloc: Handler<typeof L.IOMMU_VEVENTQ_ALLOC_LAYOUT> = (u) => {
  const c = u.cmd
  if (c.num('__reserved') !== 0) throw fail('EOPNOTSUPP', 'IOMMU_VEVENTQ_ALLOC', '__reserved must be 0')
  const r = u.ctx.veventqAlloc({ flags: c.num('flags'), viommuId: c.num('viommu_id'), type: c.num('type'), veventqDepth: c.num('veventq_depth') })
  c.set('out_veventq_id', r.outVeventqId)
  c.set('out_veventq_fd', r.outVeventqFd)
}

export const hwQueueAlloc: Handler<typeof L.IOMMU_HW_QUEUE_ALLOC_LAYOUT> = (u) => {
  const c = u.cmd
  const r = u.ctx.hwQueueAlloc({
    flags: c.num('flags'),
    viommuId: c.num('viommu_id'),
    type: c.num('type'),
    index: c.num('index'),
    nestingParentIova: c.big('nesting_parent_iova'),
    length: c.big('length'),
  })
  c.set('out_hw_queue_id', r.outHwQueueId)
}
