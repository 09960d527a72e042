export {
  FormatKind, Perm, accessMask, permString, FaultKind, faultKindName, Origin, ANY_TAG,
  IOMMU_READ, IOMMU_WRITE, IOMMU_CACHE, IOMMU_NOEXEC, IOMMU_MMIO, IOMMU_PRIV,
} from './constants.js'
export { PageTableError, type PageTableErrorCode } from './errors.js'
export { PageTableFormat, EntryType, type DecodedEntry, type FormatCodec, type FormatSpec } from './format.js'
export { lpaeS1Format, lpaeS2Format, lpaeS2Sl0, lpaeS2StartLevel, walkLpae, LpaeFlag, type LpaeGranule, type LpaeS1Options, type LpaeS2Options, type LpaeCommonOptions } from './lpae.js'
export { x86_64Format, walkX86, X86Flag, type X86_64Options } from './x86-64.js'
export { vtdSsFormat, walkVtdSs, VtdSsFlag, type VtdSsOptions } from './vtd-ss.js'
export { amdV1Format, walkAmdV1, AmdV1Flag, type AmdV1Options } from './amd-v1.js'
export { encodeLeaf, encodeTable, decodeEntry, type EncodedLeaf } from './codec.js'
export { PageTable, TableGather, type MappedLeaf } from './page-table.js'
