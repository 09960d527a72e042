/**
 * The multi-IOMMU VM: a host with three SMMUv3 units, a VMM that gives its guest two vSMMUs (on
 * two physical SMMUs) sharing one stage-2 nest parent, and a guest that programs its vSMMUs:
 * stage-1 tables in guest RAM, DMA through both stages, invalidation, faults reported back as
 * virtual events with the guest's StreamIDs. Typed API throughout; the ABI tests do it with raw
 * ioctls.
 */
import { DmaFault, IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_DATA_ARM_SMMUV3, IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, IOMMU_VIOMMU_TYPE_ARM_SMMUV3, createHost } from '@iommu-sim/core'
import { smmuv3Driver } from '@iommu-sim/driver-smmuv3'
import { GuestRam, GuestSmmuContext } from './guest.js'

const hex = (v: bigint | number): string => `0x${v.toString(16)}`
const GUEST_RAM_GPA = 0x4000_0000n
const GUEST_RAM_SIZE = 16n << 20n

export interface VmScenarioResult {
  readonly lines: readonly string[]
  /** What each guest device read by DMA through its vSMMU. */
  readonly reads: readonly string[]
  /** vEVENTQ records the VMM received: [vSID, event id]. */
  readonly events: readonly [number, number][]
  readonly leftovers: { objects: number; pins: number }
}

export function runVmScenario(): VmScenarioResult {
  const lines: string[] = []
  const log = (s: string): void => {
    lines.push(s)
  }
  const host = createHost({ drivers: [smmuv3Driver({ instances: 3 })], memory: { bytes: 128 << 20 } })
  log(`host: ${host.iommus.length} SMMUv3 units (${host.iommus.map((u) => u.name).join(', ')}), ${host.memory.bytes >> 20} MiB`)
  const nic = host.addDevice({ iommu: host.iommus[0]!, id: 0x0800 })
  const nvme = host.addDevice({ iommu: host.iommus[1]!, id: 0x1000 })

  // ---- the VMM ----
  const vmm = host.createProcess()
  const iommufd = vmm.iommufd()
  const devices = [
    { name: 'nic', dev: nic, vsid: 0x10n },
    { name: 'nvme', dev: nvme, vsid: 0x20n },
  ].map((d) => {
    const vfio = vmm.vfioDevice(vmm.open(d.dev.cdevPath))
    return { ...d, vfio, devId: vfio.bind(iommufd) }
  })
  const { outIoasId: ioasId } = iommufd.ioasAlloc()
  const ramVa = vmm.mmap(GUEST_RAM_SIZE)
  iommufd.ioasMap({ ioasId, userVa: ramVa, length: GUEST_RAM_SIZE, iova: GUEST_RAM_GPA })
  const { outHwptId: s2 } = iommufd.hwptAlloc({ devId: devices[0]!.devId, ptId: ioasId, flags: IOMMU_HWPT_ALLOC_NEST_PARENT })
  log(`vmm: guest RAM ${hex(GUEST_RAM_GPA)}+${GUEST_RAM_SIZE >> 20n} MiB mapped in IOAS ${ioasId}; stage-2 nest parent HWPT ${s2}`)

  const ram = new GuestRam(vmm, ramVa, GUEST_RAM_GPA, GUEST_RAM_SIZE)
  const vsmmus = devices.map((d, i) => {
    const { outViommuId } = iommufd.viommuAlloc({ type: IOMMU_VIOMMU_TYPE_ARM_SMMUV3, devId: d.devId, hwptId: s2 })
    const { outVdeviceId } = iommufd.vdeviceAlloc({ viommuId: outViommuId, devId: d.devId, virtId: d.vsid })
    const q = iommufd.veventqAlloc({ viommuId: outViommuId, type: IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, veventqDepth: 32 })
    log(`vmm: vSMMU${i} = vIOMMU ${outViommuId} on ${d.dev.iommu.name}; ${d.name} is vSID ${hex(d.vsid)} (vDEVICE ${outVdeviceId})`)
    return { viommuId: outViommuId, q }
  })

  // ---- the guest programs its two vSMMUs ----
  const reads: string[] = []
  const guest = devices.map((d, i) => {
    const ctx = new GuestSmmuContext(ram, 1 + i)
    const buffer = ram.allocPage()
    const iova = 0x1000_0000n + BigInt(i) * 0x10_0000n
    ctx.map(iova, buffer)
    ram.write(buffer, new TextEncoder().encode(`hello ${d.name}`))
    const vste = new Uint8Array(16)
    const [q0, q1] = ctx.vste()
    new DataView(vste.buffer).setBigUint64(0, q0, true)
    new DataView(vste.buffer).setBigUint64(8, q1, true)
    const { outHwptId } = iommufd.hwptAlloc({ devId: d.devId, ptId: vsmmus[i]!.viommuId, dataType: IOMMU_HWPT_DATA_ARM_SMMUV3, data: vste })
    d.vfio.attach(outHwptId)
    log(`guest: vSMMU${i} STE for vSID ${hex(d.vsid)} → CD at GPA ${hex(ctx.cd)}, ASID ${ctx.asid}, IOVA ${hex(iova)} → GPA ${hex(buffer)} (nested HWPT ${outHwptId})`)
    return { ctx, iova, nested: outHwptId }
  })
  devices.forEach((d, i) => {
    const text = new TextDecoder().decode(d.dev.dmaRead(guest[i]!.iova, `hello ${d.name}`.length))
    reads.push(text)
    log(`device: ${d.name} DMA read at IOVA ${hex(guest[i]!.iova)} via ${d.dev.iommu.name}: "${text}"`)
  })

  // ---- the guest unmaps on vSMMU1 and invalidates with a raw CMD_TLBI_NH_VA ----
  const g1 = guest[1]!
  g1.ctx.unmap(g1.iova)
  const cmd = new Uint8Array(16)
  new DataView(cmd.buffer).setBigUint64(0, 0x12n | (BigInt(g1.ctx.asid) << 48n), true)
  new DataView(cmd.buffer).setBigUint64(8, g1.iova | 1n, true)
  const r = iommufd.hwptInvalidate({ hwptId: vsmmus[1]!.viommuId, dataType: IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, entryLen: 16, entryNum: 1, data: cmd })
  log(`guest: cleared its PTE and sent CMD_TLBI_NH_VA(ASID ${g1.ctx.asid}) → ${r.entryNum} command handled (VMID forced, CMD_SYNC appended by the kernel)`)
  try {
    devices[1]!.dev.dmaRead(g1.iova, 4)
  } catch (e) {
    if (!DmaFault.is(e)) throw e
    log(`device: nvme DMA now faults: ${e.reason}`)
  }
  const events: [number, number][] = []
  vsmmus.forEach((v, i) => {
    const bytes = vmm.read(v.q.outVeventqFd, 4096)
    if (typeof bytes === 'number') throw new Error(`read vEVENTQ: errno ${-bytes}`)
    for (let off = 0; off + 40 <= bytes.length; off += 40) {
      const dv = new DataView(bytes.buffer, bytes.byteOffset + off)
      const id = dv.getUint8(8)
      const vsid = dv.getUint32(12, true)
      events.push([vsid, id])
      log(`vmm: vEVENTQ of vSMMU${i}: event 0x${id.toString(16)} (F_TRANSLATION) for vSID ${hex(vsid)} at IOVA ${hex(dv.getBigUint64(24, true))} → inject into the guest's event queue`)
    }
  })

  vmm.exit()
  const leftovers = { objects: iommufd.snapshot().objects.length, pins: host.frames.totalPins() }
  log(`vmm: exited; objects left ${leftovers.objects}, pins left ${leftovers.pins}`)
  return { lines, reads, events, leftovers }
}
