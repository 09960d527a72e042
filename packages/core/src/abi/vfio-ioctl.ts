/**
 * The VFIO device cdev ioctls that connect a device to iommufd (drivers/vfio/device_cdev.c,
 * vfio_main.c vfio_device_fops_unl_ioctl; struct layouts of include/uapi/linux/vfio.h).
 * VFIO's own conventions apply: `argsz` instead of `size`, EINVAL for unknown flags, and only
 * the output field is written back. The semantics are VfioDeviceFile's (host/vfio.ts).
 */
import { ERRNO, negErrnoOrThrow } from '../errors/errno.js'
import { fail } from '../errors/iommufd-error.js'
import { IOMMU_NO_PASID } from '../uapi/constants.js'
import type { Process } from '../host/process.js'
import { IommufdFile, type VfioDeviceFile } from '../host/vfio.js'
import * as L from './layout.js'
import * as K from './constants.js'
import { copyStructFromUser } from './ucmd.js'
import { ProcessUserMemory } from './user-memory.js'

/** copy_from_user of the first `n` bytes of the argument (EFAULT when it is shorter). */
function head(arg: Uint8Array, n: number): DataView {
  if (arg.length < n) throw fail('EFAULT', 'copy_from_user', `argument of ${arg.length} bytes, ${n} needed`)
  return new DataView(arg.buffer, arg.byteOffset, n)
}

function writeU32(arg: Uint8Array, offset: number, value: number): void {
  if (arg.length < offset + 4) throw fail('EFAULT', 'copy_to_user', `argument of ${arg.length} bytes`)
  new DataView(arg.buffer, arg.byteOffset, arg.length).setUint32(offset, value >>> 0, true)
}

/**
 * VFIO_DEVICE_BIND_IOMMUFD (vfio_df_ioctl_bind_iommufd, 6.17+ form with the token flag):
 * argsz unreadable → EFAULT; argsz < offsetofend(out_devid) → EINVAL; the struct is copied with
 * the extensible-struct rules (E2BIG for a non-zero tail beyond token_uuid_ptr); iommufd < 0 or
 * unknown flags → EINVAL; already bound → EINVAL; a VF token given to a device that is neither
 * a PF nor a VF → EINVAL (after reading it: EFAULT); the fd is not open → EBADF, not an
 * iommufd → EBADFD; then the bind itself. Writes back `out_devid` only.
 */
function bind(file: VfioDeviceFile, proc: Process, arg: Uint8Array): number {
  const op = 'VFIO_DEVICE_BIND_IOMMUFD'
  const layout = L.VFIO_DEVICE_BIND_IOMMUFD_LAYOUT
  const argsz = head(arg, 4).getUint32(0, true)
  if (argsz < layout.minSize) throw fail('EINVAL', op, `argsz ${argsz} < ${layout.minSize}`)
  const b = new L.StructView(layout, copyStructFromUser(arg, argsz, layout.size, layout.minSize, op))
  const flags = b.num('flags')
  const fd = b.num('iommufd')
  if (fd < 0 || (flags & ~K.VFIO_DEVICE_BIND_FLAG_TOKEN) !== 0) throw fail('EINVAL', op, 'negative iommufd or unknown flags')
  if (file.idev !== undefined) throw fail('EINVAL', op, 'this file is already bound')
  if (flags & K.VFIO_DEVICE_BIND_FLAG_TOKEN) {
    // vfio_df_check_token: the UUID is read, then refused — a token is only for SR-IOV PF/VF
    // pairs, which the model does not have.
    new ProcessUserMemory(proc.addressSpace).read(b.big('token_uuid_ptr'), 16)
    throw fail('EINVAL', op, 'VF token given to a device that is neither a PF nor a VF')
  }
  const target = proc.files.get(fd)
  if (target === undefined) throw fail('EBADF', op, `fd ${fd} is not open`)
  if (!(target instanceof IommufdFile)) throw fail('EBADFD', op, `fd ${fd} is not an iommufd`)
  const devId = file.bind(target.ctx)
  writeU32(arg, layout.fields.out_devid.offset, devId)
  return 0
}

/**
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT (vfio_df_ioctl_attach_pt): copies offsetofend(pt_id) bytes
 * (EFAULT), argsz below that → EINVAL, unknown flags → EINVAL; with VFIO_DEVICE_ATTACH_PASID
 * argsz must also cover `pasid` (EINVAL) and it is read. Attaches, or replaces when already
 * attached on that PASID; writes back `pt_id` only.
 */
function attach(file: VfioDeviceFile, arg: Uint8Array): number {
  const op = 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'
  const f = L.VFIO_DEVICE_ATTACH_IOMMUFD_PT_LAYOUT.fields
  const minsz = L.VFIO_DEVICE_ATTACH_IOMMUFD_PT_LAYOUT.minSize
  const v = head(arg, minsz)
  const argsz = v.getUint32(f.argsz.offset, true)
  const flags = v.getUint32(f.flags.offset, true)
  const ptId = v.getUint32(f.pt_id.offset, true)
  if (argsz < minsz) throw fail('EINVAL', op, `argsz ${argsz} < ${minsz}`)
  if ((flags & ~K.VFIO_DEVICE_ATTACH_PASID) !== 0) throw fail('EINVAL', op, `unknown flags 0x${flags.toString(16)}`)
  let pasid = IOMMU_NO_PASID
  if (flags & K.VFIO_DEVICE_ATTACH_PASID) {
    const xend = f.pasid.offset + 4
    if (argsz < xend) throw fail('EINVAL', op, `argsz ${argsz} does not cover pasid`)
    pasid = head(arg, xend).getUint32(f.pasid.offset, true)
  }
  const hwptId = file.attach(ptId, pasid)
  writeU32(arg, f.pt_id.offset, hwptId)
  return 0
}

/** VFIO_DEVICE_DETACH_IOMMUFD_PT (vfio_df_ioctl_detach_pt): as attach, with `pasid` behind VFIO_DEVICE_DETACH_PASID. */
function detach(file: VfioDeviceFile, arg: Uint8Array): number {
  const op = 'VFIO_DEVICE_DETACH_IOMMUFD_PT'
  const f = L.VFIO_DEVICE_DETACH_IOMMUFD_PT_LAYOUT.fields
  const minsz = L.VFIO_DEVICE_DETACH_IOMMUFD_PT_LAYOUT.minSize
  const v = head(arg, minsz)
  const argsz = v.getUint32(f.argsz.offset, true)
  const flags = v.getUint32(f.flags.offset, true)
  if (argsz < minsz) throw fail('EINVAL', op, `argsz ${argsz} < ${minsz}`)
  if ((flags & ~K.VFIO_DEVICE_DETACH_PASID) !== 0) throw fail('EINVAL', op, `unknown flags 0x${flags.toString(16)}`)
  let pasid = IOMMU_NO_PASID
  if (flags & K.VFIO_DEVICE_DETACH_PASID) {
    const xend = f.pasid.offset + 4
    if (argsz < xend) throw fail('EINVAL', op, `argsz ${argsz} does not cover pasid`)
    pasid = head(arg, xend).getUint32(f.pasid.offset, true)
  }
  file.detach(pasid)
  return 0
}

/**
 * ioctl(2) on a VFIO device cdev. BIND works on an unbound file; everything else needs a bound
 * one (EINVAL otherwise, vfio_device_fops_unl_ioctl's access_granted check). Other requests go
 * to the device's VFIO driver, which the model does not have: ENOTTY.
 */
export function vfioDeviceIoctl(file: VfioDeviceFile, proc: Process, request: number, arg: Uint8Array): number {
  try {
    const req = request >>> 0
    if (req === K.VFIO_DEVICE_BIND_IOMMUFD) return bind(file, proc, arg)
    if (file.idev === undefined) return -ERRNO.EINVAL
    if (req === K.VFIO_DEVICE_ATTACH_IOMMUFD_PT) return attach(file, arg)
    if (req === K.VFIO_DEVICE_DETACH_IOMMUFD_PT) return detach(file, arg)
    return -ERRNO.ENOTTY
  } catch (e) {
    return negErrnoOrThrow(e)
  }
}
