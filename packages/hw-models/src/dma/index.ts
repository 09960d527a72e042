export { DmaEngine, resolveDmaWorker, type DmaEngineOptions, type DmaPool, type DmaRunResult, type UnitDmaStats, type DeviceDmaStats } from './engine.js'
export { DmaBatch, DMA_WRITE, DMA_TRANSFER, type DmaBatchBuffers } from './batch.js'
export { attachUnitModel, type DmaUnitModel, type SharedUnitState, type ExternalUnitState } from './unit-model.js'
