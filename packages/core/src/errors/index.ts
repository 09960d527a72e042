export { ERRNO, errnoCode, errnoOfError, negErrnoOrThrow, type ErrnoCode } from './errno.js'
export { IommufdError, fail } from './iommufd-error.js'
export { DmaFault, type DmaFaultInfo, type DmaFaultReason } from './dma-fault.js'
