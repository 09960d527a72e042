import { fail } from '../errors/iommufd-error.js'
import { IOMMU_NO_PASID } from '../uapi/constants.js'
import type { Iommufd } from '../iommufd/context.js'
import type { IommufdDevice } from '../iommufd/device.js'
import type { Device } from './device.js'
import { OpenFile } from './files.js'
import type { Process } from './process.js'
import { iommufdIoctl as abiIommufdIoctl } from '../abi/iommufd-ioctl.js'
import { vfioDeviceIoctl as abiVfioDeviceIoctl } from '../abi/vfio-ioctl.js'

/** An open /dev/iommu. Its ioctls are decoded by the ABI layer (abi/iommufd-ioctl.ts). */
export class IommufdFile extends OpenFile {
  readonly kind = 'iommufd'
  constructor(readonly ctx: Iommufd) {
    super()
  }
  override ioctl(proc: Process, request: number, arg: Uint8Array): number {
    return iommufdIoctl(this.ctx, proc, request, arg)
  }
  release(): void {
    this.ctx.release()
  }
}

export type IoctlHandler = (ctx: Iommufd, proc: Process, request: number, arg: Uint8Array) => number
export type DeviceIoctlHandler = (file: VfioDeviceFile, proc: Process, request: number, arg: Uint8Array) => number

// The ABI layer (abi/) decodes the kernel structs; wrapped so the import cycle with abi/ is only
// followed at call time.
let iommufdIoctl: IoctlHandler = (ctx, proc, request, arg) => abiIommufdIoctl(ctx, proc, request, arg)
let vfioIoctl: DeviceIoctlHandler = (file, proc, request, arg) => abiVfioDeviceIoctl(file, proc, request, arg)

/** Replaces the ioctl decoders (the defaults are the ABI layer's). */
export function setIoctlHandlers(iommufd: IoctlHandler, vfio: DeviceIoctlHandler): void {
  iommufdIoctl = iommufd
  vfioIoctl = vfio
}

/**
 * An open VFIO device cdev (/dev/vfio/devices/vfioN): binds the device to an iommufd and
 * attaches it, as vfio's device_cdev.c does on VFIO_DEVICE_BIND_IOMMUFD / ATTACH / DETACH.
 */
export class VfioDeviceFile extends OpenFile {
  readonly kind = 'vfio-device'
  /** The DEVICE object once bound. */
  idev: IommufdDevice | undefined
  ctx: Iommufd | undefined

  constructor(readonly device: Device) {
    super()
  }

  override ioctl(proc: Process, request: number, arg: Uint8Array): number {
    return vfioIoctl(this, proc, request, arg)
  }

  /** VFIO_DEVICE_BIND_IOMMUFD: returns the DEVICE id (`out_devid`). */
  bind(ctx: Iommufd): number {
    const op = 'VFIO_DEVICE_BIND_IOMMUFD'
    if (this.idev !== undefined) throw fail('EINVAL', op, 'this file is already bound')
    if (ctx.isClosed) throw fail('EBADF', op, 'the iommufd is closed')
    // vfio_df_open: only the group path may open a device twice; a second cdev bind is EINVAL.
    if (this.device.dmaOwner !== undefined) throw fail('EINVAL', op, 'the device is bound through another file')
    this.idev = ctx.deviceBind(this.device, op)
    this.ctx = ctx
    ctx.hold()
    return this.idev.id
  }

  /** VFIO_DEVICE_ATTACH_IOMMUFD_PT: attach, or replace when already attached on that PASID. Returns pt_id. */
  attach(ptId: number, pasid: number = IOMMU_NO_PASID): number {
    const op = 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'
    const { idev, ctx } = this.bound(op)
    if (pasid !== IOMMU_NO_PASID && this.device.iommu.maxPasidLog2(this.device) === 0) throw fail('EOPNOTSUPP', op, 'device has no PASID support')
    if (idev.attachments.has(pasid)) return ctx.deviceReplace(idev, ptId, pasid, op)
    return ctx.deviceAttach(idev, ptId, pasid, op)
  }

  /** VFIO_DEVICE_DETACH_IOMMUFD_PT. */
  detach(pasid: number = IOMMU_NO_PASID): void {
    const op = 'VFIO_DEVICE_DETACH_IOMMUFD_PT'
    const { idev, ctx } = this.bound(op)
    if (pasid !== IOMMU_NO_PASID && this.device.iommu.maxPasidLog2(this.device) === 0) throw fail('EOPNOTSUPP', op, 'device has no PASID support')
    ctx.deviceDetach(idev, pasid)
  }

  private bound(op: string): { idev: IommufdDevice; ctx: Iommufd } {
    if (this.idev === undefined || this.ctx === undefined) throw fail('EINVAL', op, 'device is not bound to an iommufd')
    return { idev: this.idev, ctx: this.ctx }
  }

  /** Close: detach every PASID, unbind, let go of the iommufd. */
  release(): void {
    const { idev, ctx } = this
    if (idev === undefined || ctx === undefined) return
    for (const pasid of [...idev.attachments.keys()].sort((a, b) => b - a)) ctx.deviceDetach(idev, pasid)
    ctx.deviceUnbind(idev)
    this.idev = undefined
    this.ctx = undefined
    ctx.release()
  }
}
