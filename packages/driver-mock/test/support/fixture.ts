import { createHost, type Device, type Host, type Iommufd, type Process, type VfioDeviceFile } from '@iommu-sim/core'
import { mockDriver } from '../../src/index.js'

export interface Fixture {
  host: Host
  proc: Process
  ictx: Iommufd
  /** Adds a mock device behind unit `unit` (default the first). */
  addDevice(opts?: { flags?: number; unit?: number; group?: number; resvRegions?: { start: bigint; length: bigint; type: 'reserved' | 'msi' | 'sw-msi' | 'direct' | 'direct-relaxable' }[] }): Device
  /** Opens the device's cdev and binds it to ictx. */
  bind(dev: Device): { vf: VfioDeviceFile; devId: number; fd: number }
}

let nextId = 0x10

export function fixture(options: { units?: number; memoryBytes?: number; transparentHugePages?: boolean } = {}): Fixture {
  const host = createHost({
    drivers: [mockDriver({ instances: options.units ?? 1 })],
    memory: { bytes: options.memoryBytes ?? 64 << 20 },
    ...(options.transparentHugePages === undefined ? {} : { transparentHugePages: options.transparentHugePages }),
  })
  const proc = host.createProcess()
  const ictx = proc.iommufd()
  return {
    host,
    proc,
    ictx,
    addDevice(opts = {}) {
      return host.addDevice({
        iommu: host.iommus[opts.unit ?? 0]!,
        id: nextId++,
        ...(opts.flags === undefined ? {} : { flags: opts.flags }),
        ...(opts.group === undefined ? {} : { group: opts.group }),
        ...(opts.resvRegions === undefined ? {} : { resvRegions: opts.resvRegions }),
      })
    },
    bind(dev) {
      const fd = proc.open(dev.cdevPath)
      const vf = proc.vfioDevice(fd)
      return { vf, devId: vf.bind(ictx), fd }
    },
  }
}

/** The errno code a call throws (or undefined when it succeeds): the testkit's `codeOf`. */
export { codeOf as errOf } from '@iommu-sim/testkit'

export const RW = 0b110 // IOMMU_IOAS_MAP_READABLE | WRITEABLE
