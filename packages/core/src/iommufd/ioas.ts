import { IommufdObject } from '../objects/object.js'
import { IoPagetable, type IoPagetableConfig } from '../ioas/io-pagetable.js'
import type { HwptPaging } from './hwpt.js'

/** IOMMUFD_OBJ_IOAS: an I/O address space mirrored into HWPT_PAGING domains. */
export class Ioas extends IommufdObject {
  readonly type = 'IOAS' as const
  readonly iopt: IoPagetable
  /** HWPT_PAGING objects of this IOAS (auto and manual), in creation order. */
  readonly hwptList: HwptPaging[] = []

  constructor(config: IoPagetableConfig, private readonly onDestroy: (ioas: Ioas) => void) {
    super()
    this.iopt = new IoPagetable(config)
  }

  destroy(): void {
    // Mapped areas do not block destruction: unmap everything, releasing pins.
    this.iopt.unmapAll('IOMMU_DESTROY')
    this.onDestroy(this)
  }
}
