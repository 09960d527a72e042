/**
 * The /dev/iommu ioctl dispatcher (drivers/iommu/iommufd/main.c iommufd_fops_ioctl,
 * reference/iommufd-uapi.md §2.0), in the kernel's order:
 *
 * 1. `nr` (the low byte of the request) below IOMMUFD_CMD_BASE or past the command table →
 *    the legacy VFIO container emulation, which the model does not implement: ENOTTY.
 * 2. read the leading u32 `size` (EFAULT when the argument cannot hold it);
 * 3. an empty table slot, or a request that differs from the table's (size/direction bits,
 *    another type byte) → ENOTTY;
 * 4. `size` < the command's minimum → EINVAL;
 * 5. copy `size` bytes into a zeroed kernel struct: a longer struct needs a zero tail (E2BIG),
 *    a shorter one is zero-extended, bytes the argument does not hold are EFAULT;
 * 6. run the command; on success write back min(size, kernel size) bytes. On failure nothing
 *    is written back, except where the command writes back itself first (IOMMU_IOAS_IOVA_RANGES
 *    before EMSGSIZE, IOMMU_HWPT_INVALIDATE's entry_num always).
 */
import * as C from '../uapi/constants.js'
import { ERRNO, negErrnoOrThrow } from '../errors/errno.js'
import type { Iommufd } from '../iommufd/context.js'
import type { Process } from '../host/process.js'
import * as L from './layout.js'
import * as H from './commands.js'
import { Ucmd, copyStructFromUser } from './ucmd.js'
import { selftestUnit } from './selftest.js'

interface IoctlOp {
  readonly request: number
  readonly layout: L.StructLayout
  readonly handler: (u: Ucmd) => number | void
}

function op<F extends string>(request: number, layout: L.StructLayout<F>, handler: (u: Ucmd<F>) => number | void): IoctlOp {
  return { request, layout, handler: handler as (u: Ucmd) => number | void }
}

/** Indexed by nr - IOMMUFD_CMD_BASE; holes are undefined. */
const TABLE: (IoctlOp | undefined)[] = []
for (const o of [
  op(C.IOMMU_DESTROY, L.IOMMU_DESTROY_LAYOUT, H.destroy),
  op(C.IOMMU_IOAS_ALLOC, L.IOMMU_IOAS_ALLOC_LAYOUT, H.ioasAlloc),
  op(C.IOMMU_IOAS_ALLOW_IOVAS, L.IOMMU_IOAS_ALLOW_IOVAS_LAYOUT, H.ioasAllowIovas),
  op(C.IOMMU_IOAS_COPY, L.IOMMU_IOAS_COPY_LAYOUT, H.ioasCopy),
  op(C.IOMMU_IOAS_IOVA_RANGES, L.IOMMU_IOAS_IOVA_RANGES_LAYOUT, H.ioasIovaRanges),
  op(C.IOMMU_IOAS_MAP, L.IOMMU_IOAS_MAP_LAYOUT, H.ioasMap),
  op(C.IOMMU_IOAS_UNMAP, L.IOMMU_IOAS_UNMAP_LAYOUT, H.ioasUnmap),
  op(C.IOMMU_OPTION, L.IOMMU_OPTION_LAYOUT, H.option),
  op(C.IOMMU_VFIO_IOAS, L.IOMMU_VFIO_IOAS_LAYOUT, H.vfioIoas),
  op(C.IOMMU_HWPT_ALLOC, L.IOMMU_HWPT_ALLOC_LAYOUT, H.hwptAlloc),
  op(C.IOMMU_GET_HW_INFO, L.IOMMU_HW_INFO_LAYOUT, H.getHwInfo),
  op(C.IOMMU_HWPT_SET_DIRTY_TRACKING, L.IOMMU_HWPT_SET_DIRTY_TRACKING_LAYOUT, H.hwptSetDirtyTracking),
  op(C.IOMMU_HWPT_GET_DIRTY_BITMAP, L.IOMMU_HWPT_GET_DIRTY_BITMAP_LAYOUT, H.hwptGetDirtyBitmap),
  op(C.IOMMU_HWPT_INVALIDATE, L.IOMMU_HWPT_INVALIDATE_LAYOUT, H.hwptInvalidate),
  op(C.IOMMU_FAULT_QUEUE_ALLOC, L.IOMMU_FAULT_ALLOC_LAYOUT, H.faultQueueAlloc),
  op(C.IOMMU_IOAS_MAP_FILE, L.IOMMU_IOAS_MAP_FILE_LAYOUT, H.ioasMapFile),
  op(C.IOMMU_VIOMMU_ALLOC, L.IOMMU_VIOMMU_ALLOC_LAYOUT, H.viommuAlloc),
  op(C.IOMMU_VDEVICE_ALLOC, L.IOMMU_VDEVICE_ALLOC_LAYOUT, H.vdeviceAlloc),
  op(C.IOMMU_IOAS_CHANGE_PROCESS, L.IOMMU_IOAS_CHANGE_PROCESS_LAYOUT, H.ioasChangeProcess),
  op(C.IOMMU_VEVENTQ_ALLOC, L.IOMMU_VEVENTQ_ALLOC_LAYOUT, H.veventqAlloc),
  op(C.IOMMU_HW_QUEUE_ALLOC, L.IOMMU_HW_QUEUE_ALLOC_LAYOUT, H.hwQueueAlloc),
]) {
  TABLE[(o.request & 0xff) - C.IOMMUFD_CMD_BASE] = o
}

/** IOMMU_TEST_CMD: present in the table only when a unit on the host implements the selftest ops. */
const TEST_CMD = op(C.IOMMU_TEST_CMD, L.IOMMU_TEST_CMD_LAYOUT, (u) => {
  const unit = selftestUnit(u.ctx)
  if (unit === undefined) return -ERRNO.ENOTTY
  return unit.selftest({ ctx: u.ctx, proc: u.proc, cmd: u.cmd.view, memory: u.memory, respond: () => u.respond() }) ?? 0
})
const TEST_NR = (C.IOMMU_TEST_CMD & 0xff) - C.IOMMUFD_CMD_BASE

function lookup(ctx: Iommufd, nr: number): IoctlOp | undefined | 'out-of-table' {
  if (nr < C.IOMMUFD_CMD_BASE) return 'out-of-table'
  const index = nr - C.IOMMUFD_CMD_BASE
  const hasTest = selftestUnit(ctx) !== undefined
  const tableLength = hasTest ? TEST_NR + 1 : TABLE.length
  if (index >= tableLength) return 'out-of-table'
  return index === TEST_NR ? TEST_CMD : TABLE[index]
}

/**
 * ioctl(2) on an open /dev/iommu: 0 (or a command's non-negative result) or -errno. Updates
 * `arg` in place as the kernel writes back to user memory. Never throws for bad input.
 */
export function iommufdIoctl(ctx: Iommufd, proc: Process, request: number, arg: Uint8Array): number {
  const nr = request & 0xff
  const entry = lookup(ctx, nr)
  // Step 1: not an iommufd command number → the VFIO container compatibility ioctls (not modelled).
  if (entry === 'out-of-table') return -ERRNO.ENOTTY
  try {
    if (arg.length < 4) return -ERRNO.EFAULT
    const userSize = new DataView(arg.buffer, arg.byteOffset, 4).getUint32(0, true)
    if (entry === undefined || entry.request !== request >>> 0) return -ERRNO.ENOTTY
    const op = entry.layout.name
    const kernelCopy = copyStructFromUser(arg, userSize, entry.layout.size, entry.layout.minSize, op)
    const ucmd = new Ucmd(ctx, proc, arg, userSize, entry.layout, kernelCopy)
    const rc = entry.handler(ucmd) ?? 0
    if (rc < 0) return rc
    if (!ucmd.responded) ucmd.respond()
    return rc
  } catch (e) {
    return negErrnoOrThrow(e)
  }
}
