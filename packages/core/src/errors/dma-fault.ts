const brand = Symbol.for('@iommu-sim/core/DmaFault')

/** Why a DMA translation failed, in the hardware's terms. */
export type DmaFaultReason =
  | 'translation' // no valid entry (unmapped IOVA)
  | 'permission' // entry present but the access is not allowed
  | 'address-size' // input or output address beyond the supported size
  | 'access-flag' // AF = 0 (VMSA)
  | 'blocked' // the device is attached to a blocking domain or to nothing
  | 'bad-config' // device table / context entry invalid (C_BAD_STE, context fault ...)
  | 'external-abort' // a table fetch fell outside physical memory

export interface DmaFaultInfo {
  readonly reason: DmaFaultReason
  readonly iova: bigint
  /** The StreamID / BDF / DeviceID the device has on its IOMMU unit. */
  readonly deviceId: number
  /** PASID / SubstreamID, or undefined for RID (no-PASID) traffic. */
  readonly pasid: number | undefined
  readonly write: boolean
  /** Page-table level where the walk stopped, when the hardware reports one. */
  readonly level?: number
  /** 1 or 2 for two-stage translation. */
  readonly stage?: 1 | 2
}

/** A failed device DMA translation (what the IOMMU reports as a fault / event record). */
export class DmaFault extends Error implements DmaFaultInfo {
  override readonly name = 'DmaFault'
  readonly [brand] = true
  readonly reason: DmaFaultReason
  readonly iova: bigint
  readonly deviceId: number
  readonly pasid: number | undefined
  readonly write: boolean
  readonly level?: number
  readonly stage?: 1 | 2

  constructor(info: DmaFaultInfo) {
    const pasid = info.pasid === undefined ? '' : ` pasid ${info.pasid}`
    super(`DMA ${info.write ? 'write' : 'read'} fault (${info.reason}) at iova 0x${info.iova.toString(16)} from device 0x${info.deviceId.toString(16)}${pasid}`)
    this.reason = info.reason
    this.iova = info.iova
    this.deviceId = info.deviceId
    this.pasid = info.pasid
    this.write = info.write
    if (info.level !== undefined) this.level = info.level
    if (info.stage !== undefined) this.stage = info.stage
  }

  /** The same number as `deviceId`, under the SMMU's name for it (StreamID). */
  get streamId(): number {
    return this.deviceId
  }

  static is(e: unknown): e is DmaFault {
    return typeof e === 'object' && e !== null && brand in e
  }
}
