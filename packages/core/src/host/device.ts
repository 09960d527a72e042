import type { IommuUnit, ResvRegion, Translation } from '../driver/ops.js'
import type { Host } from './host.js'

export interface AddDeviceOptions {
  /** The physical IOMMU unit the device sits behind (one of `host.iommus`). */
  readonly iommu: IommuUnit
  /** StreamID / BDF / DeviceID of the device on that unit. */
  readonly id: number
  /** Driver-defined device flags (e.g. the mock's MOCK_FLAGS_DEVICE_NO_DIRTY). */
  readonly flags?: number
  /** PASID width (0 = no PASID). Drivers may derive it from `flags`. */
  readonly pasidBits?: number
  /** IOMMU group id; devices default to a group of their own. */
  readonly group?: number
  /** Reserved regions the platform reports for the device (MSI windows, RMRRs ...). */
  readonly resvRegions?: readonly ResvRegion[]
}

export interface DmaOptions {
  /** Issue the access with this PASID (PASID-tagged TLP); omit for RID traffic. */
  readonly pasid?: number
}

const scratch: Translation = { pa: 0, length: 0 }

/**
 * A device on the host (a PCIe function behind an IOMMU unit). DMA goes through the unit
 * exactly as hardware would; the VFIO cdev at `cdevPath` binds it to an iommufd.
 */
export class Device {
  readonly iommu: IommuUnit
  readonly id: number
  readonly flags: number
  readonly pasidBits: number
  readonly group: number
  readonly resvRegions: readonly ResvRegion[]
  /** `/dev/vfio/devices/vfioN`. */
  readonly cdevPath: string
  /** Per-device state of the driver behind `iommu` (set in probeDevice). */
  driverData: unknown
  /** The iommufd context that owns the device's DMA (bound), if any. */
  dmaOwner: object | undefined

  constructor(
    readonly host: Host,
    readonly index: number,
    options: AddDeviceOptions,
  ) {
    this.iommu = options.iommu
    this.id = options.id
    this.flags = options.flags ?? 0
    this.pasidBits = options.pasidBits ?? 0
    this.group = options.group ?? -1 - index
    this.resvRegions = options.resvRegions ?? []
    this.cdevPath = `/dev/vfio/devices/vfio${index}`
  }

  /** Reads `length` bytes at `iova` by DMA. Throws DmaFault when the IOMMU refuses. */
  dmaRead(iova: bigint | number, length: number, options: DmaOptions = {}): Uint8Array {
    const out = new Uint8Array(length)
    const u8 = this.host.memory.u8
    this.walk(BigInt(iova), length, false, options.pasid, (pa, off, n) => out.set(u8.subarray(pa, pa + n), off))
    return out
  }

  /** Writes `bytes` at `iova` by DMA. Translates the whole range first, so a fault writes nothing. */
  dmaWrite(iova: bigint | number, bytes: Uint8Array, options: DmaOptions = {}): void {
    const u8 = this.host.memory.u8
    const start = BigInt(iova)
    this.walk(start, bytes.length, true, options.pasid, () => {})
    this.walk(start, bytes.length, true, options.pasid, (pa, off, n) => u8.set(bytes.subarray(off, off + n), pa))
  }

  private walk(iova: bigint, length: number, write: boolean, pasid: number | undefined, fn: (pa: number, off: number, n: number) => void): void {
    let off = 0
    while (off < length) {
      this.iommu.translate(this, pasid, iova + BigInt(off), write, scratch)
      const n = Math.min(scratch.length, length - off)
      fn(scratch.pa, off, n)
      off += n
    }
  }
}
