/**
 * Pre-copy live migration on an SMMUv3 with HTTU: the VMM tracks which guest pages a device
 * dirties by DMA (IOMMU_HWPT_ALLOC_DIRTY_TRACKING, GET_DIRTY_BITMAP), copies them in rounds, and
 * a second workload on a PASID of the same device is kept out of the tracked domain.
 */
import { IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DIRTY_TRACKING_ENABLE, createHost } from '@iommu-sim/core'
import { smmuv3Driver } from '@iommu-sim/driver-smmuv3'

export interface MigrationScenarioResult {
  readonly lines: readonly string[]
  /** The dirty 4 KiB pages (indices into guest RAM) found by each copy round. */
  readonly dirtyPerRound: readonly (readonly number[])[]
  readonly leftovers: { readonly objects: number; readonly pins: number }
}

const PAGE = 0x1000
const RAM = 8 * PAGE * 64 // 2 MiB of guest RAM

function dirtyPages(bitmap: Uint8Array): number[] {
  const pages: number[] = []
  bitmap.forEach((byte, i) => {
    for (let b = 0; b < 8; b++) if (byte & (1 << b)) pages.push(i * 8 + b)
  })
  return pages
}

export function runMigrationScenario(): MigrationScenarioResult {
  const lines: string[] = []
  const log = (s: string): void => {
    lines.push(s)
  }
  const host = createHost({ drivers: [smmuv3Driver()], memory: { bytes: 64 << 20 } })
  const smmu = host.iommus[0]!
  const nic = host.addDevice({ iommu: smmu, id: 0x30, pasidBits: 8 })
  const vmm = host.createProcess()
  const iommufd = vmm.iommufd()
  const vfio = vmm.vfioDevice(vmm.open(nic.cdevPath))
  const devId = vfio.bind(iommufd)
  const caps = iommufd.getHwInfo({ devId })
  log(`host: ${smmu.name} with HTTU; device ${nic.cdevPath} has ${caps.outMaxPasidLog2} PASID bits, dirty tracking ${(caps.outCapabilities & 1n) !== 0n ? 'supported' : 'not supported'}`)

  // Guest RAM in a dirty-tracking HWPT (stage 1 with DBM leaves and CD.HA/HD).
  const { outIoasId: ioasId } = iommufd.ioasAlloc()
  const { outHwptId: hwptId } = iommufd.hwptAlloc({ devId, ptId: ioasId, flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID })
  vfio.attach(hwptId)
  const ram = vmm.mmap(RAM)
  // An IOVA 4 KiB off a 2 MiB boundary keeps the mapping in 4 KiB leaves, so dirty state is per
  // page (2 MiB-aligned THP memory would be mapped, and reported dirty, in 2 MiB blocks).
  const { iova } = iommufd.ioasMap({ ioasId, userVa: ram, length: RAM, iova: 0x4000_1000n })
  log(`vmm: ${RAM >> 20} MiB of guest RAM at IOVA 0x${iova.toString(16)} in dirty-tracking HWPT ${hwptId} (4 KiB leaves with DBM)`)

  // A second address space on PASID 1 (e.g. a queue owned by a guest process), not tracked.
  const { outIoasId: sideIoas } = iommufd.ioasAlloc()
  const { outHwptId: sideHwpt } = iommufd.hwptAlloc({ devId, ptId: sideIoas, flags: IOMMU_HWPT_ALLOC_PASID })
  const side = vmm.mmap(PAGE)
  const { iova: sideIova } = iommufd.ioasMap({ ioasId: sideIoas, userVa: side, length: PAGE })
  vfio.attach(sideHwpt, 1)
  log(`vmm: PASID 1 of the device attached to HWPT ${sideHwpt} (its own CD in the device's CD table)`)

  iommufd.hwptSetDirtyTracking({ flags: IOMMU_HWPT_DIRTY_TRACKING_ENABLE, hwptId })
  const round = (): number[] => dirtyPages(iommufd.hwptGetDirtyBitmap({ hwptId, iova, length: RAM, pageSize: PAGE }).bitmap)
  const dirtyPerRound: number[][] = []
  // Each round the device keeps writing a shrinking set of pages while the VMM copies the dirty ones.
  const writes = [[3, 17, 42, 43, 200, 511], [17, 42], [42], []]
  for (const [r, pages] of writes.entries()) {
    for (const p of pages) nic.dmaWrite(iova + BigInt(p * PAGE + 8), new Uint8Array([r, p & 0xff]))
    nic.dmaWrite(sideIova, new Uint8Array([r]), { pasid: 1 }) // PASID 1 traffic: not in the tracked domain
    const dirty = round()
    dirtyPerRound.push(dirty)
    log(`migration round ${r}: device wrote pages [${pages.join(', ')}]; GET_DIRTY_BITMAP → [${dirty.join(', ')}] → copy ${dirty.length} page${dirty.length === 1 ? '' : 's'}`)
  }
  iommufd.hwptSetDirtyTracking({ flags: 0, hwptId })
  log('migration: converged (no dirty pages); stop the device and switch over')

  vmm.exit()
  const leftovers = { objects: iommufd.snapshot().objects.length, pins: host.frames.totalPins() }
  log(`vmm: exited; objects left ${leftovers.objects}, pins left ${leftovers.pins}`)
  return { lines, dirtyPerRound, leftovers }
}
