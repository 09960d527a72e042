/**
 * The selftest's own objects (drivers/iommu/iommufd/selftest.c): the IOMMUFD_OBJ_SELFTEST that
 * owns a mock device, and the access fd of CREATE_ACCESS.
 */
import { IommufdObject, OpenFile, type Device, type IommufdAccess, type Iommufd, type IommufdDevice } from '@iommu-sim/core'
import { U64_MAX } from '@iommu-sim/core'


/**
 * IOMMUFD_OBJ_SELFTEST (`struct selftest_obj`, TYPE_IDEV): created by MOCK_DOMAIN. Destroying
 * it (IOMMU_DESTROY or context close) detaches the device, unbinds it and removes the mock
 * device from the host (iommufd_selftest_destroy).
 */
export class SelftestObject extends IommufdObject {
  readonly type = 'SELFTEST' as const

  constructor(
    readonly ctx: Iommufd,
    readonly idev: IommufdDevice,
    readonly dev: Device,
  ) {
    super()
  }

  destroy(): void {
    // The kernel detaches IOMMU_NO_PASID only; PASIDs a test left attached are detached too so
    // the unbind that follows finds the device idle.
    for (const pasid of [...this.idev.attachments.keys()].sort((a, b) => b - a)) this.ctx.deviceDetach(this.idev, pasid)
    this.ctx.deviceUnbind(this.idev)
    this.ctx.host.removeDevice(this.dev)
  }
}

/** One ACCESS_PAGES pin (`struct selftest_access_item`). */
export interface SelftestAccessItem {
  readonly iova: bigint
  readonly length: bigint
  readonly id: number
}

/**
 * The anonymous file CREATE_ACCESS returns (`struct selftest_access`, "[iommufd_test_staccess]").
 * Closing it unpins every item and destroys the in-kernel ACCESS.
 */
export class SelftestAccessFile extends OpenFile {
  readonly kind = 'iommufd-test-access'
  access: IommufdAccess | undefined
  readonly items: SelftestAccessItem[] = []
  nextId = 0

  constructor(readonly needsPinPages: boolean) {
    super()
  }

  /** iommufd_test_access_unmap: unpins and forgets every item overlapping [iova, iova + length). */
  unmap(iova: bigint, length: bigint): void {
    const last = iova + length - 1n
    for (let i = this.items.length - 1; i >= 0; i--) {
      const item = this.items[i]!
      if (iova > item.iova + item.length - 1n || last < item.iova) continue
      this.items.splice(i, 1)
      this.access?.unpinPages(item.iova, item.length)
    }
  }

  release(): void {
    const access = this.access
    if (access === undefined) return
    this.unmap(0n, U64_MAX)
    access.destroyAccess()
    this.access = undefined
  }
}
