/**
 * The demo scenario: a VMM process hands guest RAM to a device through iommufd on the mock
 * IOMMU, the device DMAs into it, and the process reads the data back.
 */
import { DmaFault, createHost } from '@iommu-sim/core'
import { mockDriver } from '@iommu-sim/driver-mock'

export interface ScenarioResult {
  readonly lines: readonly string[]
  readonly readBack: string
  readonly faultedAfterUnmap: boolean
}

const hex = (v: bigint | number): string => `0x${v.toString(16)}`

export function runMockScenario(): ScenarioResult {
  const lines: string[] = []
  const log = (s: string): void => {
    lines.push(s)
  }

  const host = createHost({ drivers: [mockDriver()], memory: { bytes: 64 << 20 } })
  const nic = host.addDevice({ iommu: host.iommus[0]!, id: 0x10 })
  log(`host: ${host.memory.bytes >> 20} MiB of physical memory, IOMMU ${host.iommus.map((u) => u.name).join(', ')}, device ${nic.cdevPath}`)

  const vmm = host.createProcess()
  const iommufd = vmm.iommufd()
  const vfio = vmm.vfioDevice(vmm.open(nic.cdevPath))
  const devId = vfio.bind(iommufd)
  log(`vmm: opened /dev/iommu and bound the device → DEVICE ${devId}`)

  const { outIoasId: ioasId } = iommufd.ioasAlloc()
  const hwptId = vfio.attach(ioasId)
  const ranges = iommufd.ioasIovaRanges({ ioasId })
  log(`vmm: IOAS ${ioasId}, device attached through automatic HWPT ${hwptId}; usable IOVA ${ranges.allowedIovas.map((r) => `[${hex(r.start)}, ${hex(r.last)}]`).join(' ')}, alignment ${ranges.outIovaAlignment}`)

  const ram = vmm.mmap(1 << 20)
  const { iova } = iommufd.ioasMap({ ioasId, userVa: ram, length: 1 << 20 })
  log(`vmm: mapped 1 MiB of its memory at VA ${hex(ram)} to IOVA ${hex(iova)} (pinned pages: ${host.frames.totalPins()})`)

  const message = new TextEncoder().encode('hello from the device, by DMA')
  nic.dmaWrite(iova + 0x1234n, message)
  log(`device: DMA write of ${message.length} bytes at IOVA ${hex(iova + 0x1234n)}`)

  const readBack = new TextDecoder().decode(vmm.memory.read(ram + 0x1234n, message.length))
  log(`vmm: reads its own memory at VA ${hex(ram + 0x1234n)}: "${readBack}"`)

  iommufd.ioasUnmap({ ioasId, iova, length: 1 << 20 })
  let faultedAfterUnmap = false
  try {
    nic.dmaRead(iova + 0x1234n, 4)
  } catch (e) {
    if (!DmaFault.is(e)) throw e
    faultedAfterUnmap = true
    log(`device: after UNMAP the same DMA faults: ${e.message}`)
  }

  vmm.exit()
  log(`vmm: exited; objects left ${iommufd.snapshot().objects.length}, pins left ${host.frames.totalPins()}`)
  return { lines, readBack, faultedAfterUnmap }
}
