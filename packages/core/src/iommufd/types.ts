/** Typed-API request and response shapes: the uAPI struct fields in camelCase, 64-bit values as bigint. */
import type { IovaRange } from '../ioas/ranges.js'
import type { UserData, UserDataArray } from '../driver/user-data.js'

export type U64Input = bigint | number

export interface IoasAllocRequest {
  readonly flags?: number
}
export interface IoasAllocResponse {
  readonly outIoasId: number
}

export interface IoasMapRequest {
  /** IOMMU_IOAS_MAP_* flags. Omitted: READABLE | WRITEABLE, plus FIXED_IOVA when `iova` is given. */
  readonly flags?: number
  readonly ioasId: number
  readonly userVa: U64Input
  readonly length: U64Input
  /** Required with IOMMU_IOAS_MAP_FIXED_IOVA. */
  readonly iova?: U64Input
}
export interface IoasMapResponse {
  readonly iova: bigint
}

export interface IoasUnmapRequest {
  readonly ioasId: number
  readonly iova: U64Input
  readonly length: U64Input
}
export interface IoasUnmapResponse {
  /** Bytes unmapped. */
  readonly length: bigint
}

export interface IoasCopyRequest {
  /** Omitted: READABLE | WRITEABLE, plus FIXED_IOVA when `dstIova` is given. */
  readonly flags?: number
  readonly dstIoasId: number
  readonly srcIoasId: number
  readonly length: U64Input
  readonly dstIova?: U64Input
  readonly srcIova: U64Input
}
export interface IoasCopyResponse {
  readonly dstIova: bigint
}

export interface IoasIovaRangesRequest {
  readonly ioasId: number
}
export interface IoasIovaRangesResponse {
  readonly numIovas: number
  readonly allowedIovas: readonly IovaRange[]
  readonly outIovaAlignment: bigint
}

export interface IoasAllowIovasRequest {
  readonly ioasId: number
  readonly allowedIovas: readonly { readonly start: U64Input; readonly last: U64Input }[]
}

export interface OptionRequest {
  readonly optionId: number
  readonly op: number
  readonly objectId?: number
  readonly val64?: U64Input
}
export interface OptionResponse {
  readonly val64: bigint
}

export interface VfioIoasRequest {
  readonly ioasId?: number
  readonly op: number
}
export interface VfioIoasResponse {
  readonly ioasId: number
}

export interface HwptAllocRequest {
  readonly flags?: number
  readonly devId: number
  readonly ptId: number
  readonly dataType?: number
  /** Driver data: raw bytes in the driver struct's layout (or a UserData pointing into a process). */
  readonly data?: Uint8Array | UserData
  readonly faultId?: number
}
export interface HwptAllocResponse {
  readonly outHwptId: number
}

export interface GetHwInfoRequest {
  readonly flags?: number
  readonly devId: number
  /** Bytes of driver data wanted (default: all of it). */
  readonly dataLen?: number
  readonly inDataType?: number
}
export interface GetHwInfoResponse {
  /** Full length of the driver's data (may exceed what was asked for). */
  readonly dataLen: number
  /** The driver data, `min(asked, dataLen)` bytes zero-extended to the asked length. */
  readonly data: Uint8Array
  readonly outDataType: number
  readonly outMaxPasidLog2: number
  readonly outCapabilities: bigint
}

export interface HwptSetDirtyTrackingRequest {
  readonly flags: number
  readonly hwptId: number
}

export interface HwptGetDirtyBitmapRequest {
  readonly hwptId: number
  readonly flags?: number
  readonly iova: U64Input
  readonly length: U64Input
  readonly pageSize: U64Input
}
export interface HwptGetDirtyBitmapResponse {
  /** Bit b (LSB first, as the kernel's u64 array on a little-endian host) = page iova + b * pageSize is dirty. */
  readonly bitmap: Uint8Array
}

export interface HwptInvalidateRequest {
  /** A nested HWPT or a vIOMMU. */
  readonly hwptId: number
  readonly dataType: number
  readonly entryLen: number
  readonly entryNum: number
  /** The entries (entryNum × entryLen bytes), or a UserDataArray pointing into a process. */
  readonly data?: Uint8Array | UserDataArray
}
export interface HwptInvalidateResponse {
  /** Entries handled (= entryNum on success). On failure the IommufdError carries `entryNum` too. */
  readonly entryNum: number
}

export interface FaultQueueAllocRequest {
  readonly flags?: number
}
export interface FaultQueueAllocResponse {
  readonly outFaultId: number
  /** fd installed in the calling process. */
  readonly outFaultFd: number
}

export interface ViommuAllocRequest {
  readonly flags?: number
  readonly type: number
  readonly devId: number
  readonly hwptId: number
  /** Driver data in the vIOMMU type's struct layout; driver outputs are written back into it. */
  readonly data?: Uint8Array | UserData
}
export interface ViommuAllocResponse {
  readonly outViommuId: number
}

export interface VdeviceAllocRequest {
  readonly viommuId: number
  readonly devId: number
  readonly virtId: U64Input
}
export interface VdeviceAllocResponse {
  readonly outVdeviceId: number
}

export interface VeventqAllocRequest {
  readonly flags?: number
  readonly viommuId: number
  readonly type: number
  readonly veventqDepth: number
}
export interface VeventqAllocResponse {
  readonly outVeventqId: number
  readonly outVeventqFd: number
}

export interface HwQueueAllocRequest {
  readonly flags?: number
  readonly viommuId: number
  readonly type: number
  readonly index: number
  readonly nestingParentIova: U64Input
  readonly length: U64Input
}
export interface HwQueueAllocResponse {
  readonly outHwQueueId: number
}
