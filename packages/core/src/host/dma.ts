import { DmaEngine, type DmaBatch, type DmaEngineOptions, type DmaRunResult, type DeviceDmaStats, type UnitDmaStats } from '@iommu-sim/hw-models'
import { fail } from '../errors/iommufd-error.js'
import type { IommuUnit } from '../driver/ops.js'
import type { Device } from './device.js'
import type { Host } from './host.js'

/**
 * `host.dma`: the DMA engine over this host's IOMMU units that have a hardware model. Created on
 * first use (no threads before); the worker pool is created by the first `run` and stopped by
 * `close()`. Descriptors name devices by the slot `device(dev)` returns.
 */
export class HostDma {
  private engineInstance: DmaEngine | undefined
  private readonly unitIndex = new Map<IommuUnit, number>()

  constructor(
    private readonly host: Host,
    private options: DmaEngineOptions,
  ) {}

  /** Sets engine options (worker count, an injected pool) before first use. */
  configure(options: DmaEngineOptions): void {
    if (this.engineInstance !== undefined) throw new Error('host.dma: configure before first use')
    this.options = options
  }

  get engine(): DmaEngine {
    if (this.engineInstance === undefined) {
      const models = []
      for (const u of this.host.iommus) {
        if (u.dmaModel === undefined) continue
        this.unitIndex.set(u, models.length)
        models.push(u.dmaModel)
      }
      this.engineInstance = new DmaEngine(this.host.memory, models, this.options)
    }
    return this.engineInstance
  }

  /** The descriptor slot of `dev` (EOPNOTSUPP when its IOMMU has no hardware model). */
  device(dev: Device): number {
    const engine = this.engine
    const u = this.unitIndex.get(dev.iommu)
    if (u === undefined) throw fail('EOPNOTSUPP', 'host.dma', `${dev.iommu.name} has no hardware model for the DMA engine`)
    return engine.addDevice(u, dev.id)
  }

  batch(capacity: number, dataBytes = 0): DmaBatch {
    return this.engine.createBatch(capacity, dataBytes)
  }

  run(batch: DmaBatch, count?: number): Promise<DmaRunResult> {
    return this.engine.run(batch, count)
  }

  runSync(batch: DmaBatch, count?: number): DmaRunResult {
    return this.engine.runSync(batch, count)
  }

  unitStats(unit: IommuUnit): UnitDmaStats {
    const engine = this.engine // builds the unit index on first use
    const u = this.unitIndex.get(unit)
    if (u === undefined) throw fail('EOPNOTSUPP', 'host.dma', `${unit.name} has no hardware model`)
    return engine.unitStatsOf(u)
  }

  deviceStats(dev: Device): DeviceDmaStats {
    return this.engine.deviceStatsOf(this.device(dev))
  }

  async close(): Promise<void> {
    await this.engineInstance?.close()
  }
}
