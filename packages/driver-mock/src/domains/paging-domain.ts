import { IOMMU_READ, IOMMU_WRITE, fail, type Device, type DirtyOps, type IommuDomain, type IommuUnit } from '@iommu-sim/core'
import { PhysicalMemoryError, type PhysicalMemory } from '@iommu-sim/hw-models'
import { MOCK_FLAGS_DEVICE_NO_DIRTY } from '../constants.js'
import { mockState } from '../device-state.js'
import { MockPageTable, type WalkResult } from '../pagetable/mock-page-table.js'
import type { MockHardware } from '../hardware/mock-hardware.js'

export interface MockPagingConfig {
  readonly pgsizeBitmap: bigint
  readonly aperture: { readonly start: bigint; readonly end: bigint }
  /** Table levels (root = levels - 1). */
  readonly levels: number
  readonly dirtyTracking: boolean
}

const walk: WalkResult = { pa: 0, size: 0, iova: 0, readable: false, writable: false, entryPa: 0 }
const MAX_IOVA = 2 ** 53

/** A mock paging domain (IOMMU_DOMAIN_UNMANAGED) over a real page table in host memory. */
export class MockPagingDomain implements IommuDomain {
  readonly type = 'paging' as const
  readonly pgsizeBitmap: bigint
  readonly aperture: { readonly start: bigint; readonly end: bigint }
  readonly dirtyOps?: DirtyOps
  readonly pt: MockPageTable
  /** Hardware dirty tracking switched on (only meaningful with dirtyOps). */
  trackingEnabled = false
  /** Slot in the unit hardware's domain table. */
  readonly hwSlot: number

  constructor(
    readonly unit: IommuUnit,
    memory: PhysicalMemory,
    config: MockPagingConfig,
    private readonly hardware: MockHardware,
  ) {
    this.pgsizeBitmap = config.pgsizeBitmap
    this.aperture = config.aperture
    this.pt = new MockPageTable(memory, config.levels)
    this.hwSlot = hardware.allocDomain(this.pt.root, config.levels)
    if (config.dirtyTracking) {
      this.dirtyOps = {
        setDirtyTracking: (enabled) => {
          this.trackingEnabled = enabled
          hardware.setTracking(this.hwSlot, enabled)
        },
        readAndClearDirty: (iova, size, flags, record) => {
          this.pt.readAndClearDirty(Number(iova), Number(size), (flags & 1) !== 0, (i, n) => record(BigInt(i), BigInt(n)))
        },
      }
    }
  }

  attachDev(dev: Device): void {
    if (dev.iommu !== this.unit) throw fail('EINVAL', 'attach_dev', `domain of ${this.unit.name} cannot attach a device behind ${dev.iommu.name}`)
    if (this.dirtyOps !== undefined && (dev.flags & MOCK_FLAGS_DEVICE_NO_DIRTY) !== 0) {
      throw fail('EINVAL', 'attach_dev', 'a dirty-tracking domain cannot attach to a NO_DIRTY device')
    }
    const st = mockState(dev)
    st.rid = this
    st.viommu = undefined
    st.vdevId = 0n
  }

  setDevPasid(dev: Device, pasid: number): void {
    if (dev.iommu !== this.unit) throw fail('EINVAL', 'set_dev_pasid', `domain of ${this.unit.name} cannot attach a device behind ${dev.iommu.name}`)
    const st = mockState(dev)
    st.checkReservedPasid(pasid, false)
    if (this.dirtyOps !== undefined && (dev.flags & MOCK_FLAGS_DEVICE_NO_DIRTY) !== 0) {
      throw fail('EINVAL', 'set_dev_pasid', 'a dirty-tracking domain cannot attach to a NO_DIRTY device')
    }
    st.setPasid(pasid, this)
  }

  mapPages(iova: bigint, paddr: bigint, pgsize: bigint, pgcount: number, prot: number): void {
    const end = iova + pgsize * BigInt(pgcount)
    if (end > BigInt(MAX_IOVA) || end - 1n > this.aperture.end) throw fail('ERANGE', 'map_pages', `iova 0x${iova.toString(16)} beyond the page table`)
    let ok: boolean
    try {
      ok = this.pt.map(Number(iova), Number(paddr), Number(pgsize), pgcount, (prot & IOMMU_READ) !== 0, (prot & IOMMU_WRITE) !== 0)
    } catch (e) {
      if (!PhysicalMemoryError.is(e)) throw e
      // Out of frames for a table: the range was free before, so undo whatever got mapped.
      this.pt.unmap(Number(iova), Number(end - iova))
      throw fail('ENOMEM', 'map_pages', e.message)
    }
    if (!ok) throw fail('EADDRINUSE', 'map_pages', `iova 0x${iova.toString(16)} is already mapped`)
  }

  unmapPages(iova: bigint, pgsize: bigint, pgcount: number): bigint {
    return BigInt(this.pt.unmap(Number(iova), Number(pgsize) * pgcount))
  }

  iovaToPhys(iova: bigint): bigint {
    if (iova >= BigInt(MAX_IOVA) || this.pt.lookup(Number(iova), walk) === 0) return -1n
    return BigInt(walk.pa)
  }

  free(): void {
    this.hardware.freeDomain(this.hwSlot)
    this.pt.free()
  }
}
