import { PhysicalMemory } from '@iommu-sim/hw-models'
import type { HostServices, IommuDriver, IommuUnit } from '../driver/ops.js'
import { Device, type AddDeviceOptions } from './device.js'
import { FrameBook } from './frame-book.js'
import { Process, type ProcessOptions } from './process.js'
import { HostDma } from './dma.js'
import type { DmaEngineOptions } from '@iommu-sim/hw-models'

export interface HostOptions {
  /** IOMMU drivers; each creates its physical units. Importing a driver registers nothing. */
  readonly drivers: readonly IommuDriver[]
  /** Host physical memory (default 256 MiB). */
  readonly memory?: { readonly bytes?: number }
  /** CPU page size (PAGE_SIZE), default 4096. */
  readonly pageSize?: number
  /** Transparent huge pages (default on, 2 MiB): caps automatic IOVA alignment and backs large mmaps. */
  readonly transparentHugePages?: boolean
  readonly hugePageSize?: number
  /** DMA engine options (worker count, an injected piscina pool). */
  readonly dma?: DmaEngineOptions
}

/** The simulated machine: memory, IOMMU units, devices, processes. */
export class Host implements HostServices {
  readonly pageSize: number
  /** THP size, or 0 when transparent huge pages are off. */
  readonly hugePageSize: number
  readonly iommus: readonly IommuUnit[]
  readonly devices: Device[] = []
  private readonly memoryBytes: number | undefined
  private mem: PhysicalMemory | undefined
  private book: FrameBook | undefined
  private nextPid = 1
  private dmaEngine: HostDma | undefined
  private readonly dmaOptions: DmaEngineOptions

  constructor(options: HostOptions) {
    this.pageSize = options.pageSize ?? 4096
    if (!Number.isInteger(Math.log2(this.pageSize)) || this.pageSize < 4096) throw new RangeError(`pageSize ${this.pageSize} must be a power of two ≥ 4096`)
    this.hugePageSize = options.transparentHugePages === false ? 0 : (options.hugePageSize ?? 2 * 1024 * 1024)
    this.memoryBytes = options.memory?.bytes
    this.dmaOptions = options.dma ?? {}
    const units: IommuUnit[] = []
    for (const driver of options.drivers) {
      if (driver.coreApi !== 1) throw new Error(`driver ${driver.name} was built for core API ${String(driver.coreApi)}, this core speaks 1`)
      units.push(...driver.createUnits(this))
    }
    const names = new Set<string>()
    for (const u of units) {
      if (names.has(u.name)) throw new Error(`two IOMMU units are named ${u.name}`)
      names.add(u.name)
    }
    this.iommus = units
  }

  /** Host physical memory, created on first use (a host costs nothing until used). */
  get memory(): PhysicalMemory {
    this.mem ??= new PhysicalMemory(this.memoryBytes === undefined ? {} : { bytes: this.memoryBytes })
    return this.mem
  }

  /** The DMA engine over the units with hardware models (created on first use). */
  get dma(): HostDma {
    this.dmaEngine ??= new HostDma(this, this.dmaOptions)
    return this.dmaEngine
  }

  /** Reference counts and pins of the frames behind process memory. */
  get frames(): FrameBook {
    this.book ??= new FrameBook(this.memory, this.pageSize)
    return this.book
  }

  /** Automatic IOVA alignment cap (reference §2.5.1): the THP size, or PAGE_SIZE without THP. */
  get maxAutoIovaAlignment(): number {
    return this.hugePageSize > 0 ? this.hugePageSize : this.pageSize
  }

  addDevice(options: AddDeviceOptions): Device {
    if (!this.iommus.includes(options.iommu)) throw new Error('addDevice: iommu is not a unit of this host')
    if (this.devices.some((d) => d.iommu === options.iommu && d.id === options.id)) {
      throw new Error(`addDevice: ${options.iommu.name} already has a device with id 0x${options.id.toString(16)}`)
    }
    const dev = new Device(this, this.devices.length, options)
    options.iommu.probeDevice(dev)
    this.devices.push(dev)
    return dev
  }

  /** Removes a device that is not bound to any iommufd (hot-unplug). */
  removeDevice(dev: Device): void {
    if (dev.dmaOwner !== undefined) throw new Error('removeDevice: the device is still bound')
    const i = this.devices.indexOf(dev)
    if (i < 0) return
    this.devices.splice(i, 1)
    dev.iommu.releaseDevice?.(dev)
  }

  deviceByPath(path: string): Device | undefined {
    return this.devices.find((d) => d.cdevPath === path)
  }

  createProcess(options: ProcessOptions = {}): Process {
    return new Process(this, this.nextPid++, options)
  }
}

export function createHost(options: HostOptions): Host {
  return new Host(options)
}
