/**
 * The VMM flow of a guest with a vSMMU, through the ABI only (proc.* calls and raw structs):
 * guest RAM in an IOAS, a nest-parent HWPT, a vIOMMU and a vDEVICE, a guest CD and stage-1 LPAE
 * tables hand-encoded in guest memory, a nested HWPT from a vSTE, device DMA through both stages,
 * guest invalidation with CMD_TLBI_NH_VA through IOMMU_HWPT_INVALIDATE, and the F_TRANSLATION
 * event read from the vEVENTQ fd with the vSID (reference hw-formats.md §1.3–§1.11).
 */
import { describe, expect, it } from 'vitest'
import * as C from '@iommu-sim/core'
import { DmaFault, ERRNO, createHost, type Device, type Process } from '@iommu-sim/core'
import { StructBuffer as Buf } from '@iommu-sim/testkit'
import { smmuv3Driver } from '../src/index.js'

const GPA_BASE = 0x4000_0000n
const CD_GPA = GPA_BASE
const L0_GPA = GPA_BASE + 0x1000n
const L1_GPA = GPA_BASE + 0x2000n
const L2_GPA = GPA_BASE + 0x3000n
const L3_GPA = GPA_BASE + 0x4000n
const DATA_GPA = GPA_BASE + 0x10_0000n
const IOVA = 0x1234_5000n
const VSID = 0x5n
const ASID = 7n

function ok(rc: number): void {
  expect(rc).toBe(0)
}

/** Hand-encoded (VMSAv8-64 / SMMUv3 CD layout), not produced by the driver's encoders. */
function writeGuestTables(write: (gpa: bigint, words: bigint[]) => void): void {
  // CD: T0SZ=16, TG0=4K, IRGN0=ORGN0=WB, SH0=inner, EPD1, V, IPS=48-bit, AA64, R, A, ASET, ASID.
  const cdQ0 = 16n | (1n << 8n) | (1n << 10n) | (3n << 12n) | (1n << 30n) | (1n << 31n) | (5n << 32n) | (1n << 41n) | (1n << 45n) | (1n << 46n) | (1n << 47n) | (ASID << 48n)
  write(CD_GPA, [cdQ0, L0_GPA, 0n, 0xf404ff44n, 0n, 0n, 0n, 0n])
  const table = (next: bigint) => next | 0b11n
  const idx = (iova: bigint, level: number) => (iova >> BigInt(39 - 9 * level)) & 511n
  write(L0_GPA + idx(IOVA, 0) * 8n, [table(L1_GPA)])
  write(L1_GPA + idx(IOVA, 1) * 8n, [table(L2_GPA)])
  write(L2_GPA + idx(IOVA, 2) * 8n, [table(L3_GPA)])
  // Page: AF | SH inner | AP[1] (unprivileged access) | AttrIndx 1 | page
  write(L3_GPA + idx(IOVA, 3) * 8n, [DATA_GPA | (1n << 10n) | (3n << 8n) | (1n << 6n) | (1n << 2n) | 0b11n])
}

/** vSTE: V, Config = S1 translate, S1ContextPtr = CD GPA, S1CDMax = 0; Q1: S1CIR/S1COR WB, S1CSH inner. */
const VSTE: [bigint, bigint] = [1n | (5n << 1n) | CD_GPA, (1n << 2n) | (1n << 4n) | (3n << 6n)]

interface Vm {
  proc: Process
  dev: Device
  fd: number
  vfd: number
  devId: number
  ioasId: number
  parentId: number
  viommuId: number
  vdevId: number
  veventqId: number
  veventqFd: number
  nestedId: number
  ram: bigint
  guestWrite(gpa: bigint, words: bigint[]): void
  invalidate(cmds: [bigint, bigint][]): { rc: number; entryNum: number }
}

function bootVm(): Vm {
  const host = createHost({ drivers: [smmuv3Driver()], memory: { bytes: 64 << 20 } })
  const dev = host.addDevice({ iommu: host.iommus[0]!, id: 0x20 })
  const proc = host.createProcess()
  const fd = proc.open('/dev/iommu')
  const vfd = proc.open(dev.cdevPath)
  const io = (req: number, b: Buf, f = fd) => proc.ioctl(f, req, b.bytes)

  const bind = new Buf(16)
  bind.s32(8, fd)
  ok(io(C.VFIO_DEVICE_BIND_IOMMUFD, bind, vfd))
  const devId = bind.u32(12)

  const info = new Buf(40)
  const infoData = proc.mmap(4096)
  info.u32(8, devId)
  info.u32(12, 40)
  info.u64(16, infoData)
  ok(io(C.IOMMU_GET_HW_INFO, info))
  expect(info.u32(24)).toBe(C.IOMMU_HW_INFO_TYPE_ARM_SMMUV3)
  const idr0 = new DataView(proc.memory.read(infoData, 40).buffer).getUint32(8, true)
  expect(idr0 & 3).toBe(3) // S2P and S1P

  const ioas = new Buf(12)
  ok(io(C.IOMMU_IOAS_ALLOC, ioas))
  const ioasId = ioas.u32(8)
  const ram = proc.mmap(4 << 20)
  const map = new Buf(40)
  map.u32(4, C.IOMMU_IOAS_MAP_FIXED_IOVA | C.IOMMU_IOAS_MAP_READABLE | C.IOMMU_IOAS_MAP_WRITEABLE)
  map.u32(8, ioasId)
  map.u64(16, ram)
  map.u64(24, 4 << 20)
  map.u64(32, GPA_BASE)
  ok(io(C.IOMMU_IOAS_MAP, map))

  const parent = new Buf(48)
  parent.u32(4, C.IOMMU_HWPT_ALLOC_NEST_PARENT)
  parent.u32(8, devId)
  parent.u32(12, ioasId)
  ok(io(C.IOMMU_HWPT_ALLOC, parent))
  const parentId = parent.u32(16)

  const viommu = new Buf(40)
  viommu.u32(8, C.IOMMU_VIOMMU_TYPE_ARM_SMMUV3)
  viommu.u32(12, devId)
  viommu.u32(16, parentId)
  ok(io(C.IOMMU_VIOMMU_ALLOC, viommu))
  const viommuId = viommu.u32(20)

  const vdev = new Buf(24)
  vdev.u32(4, viommuId)
  vdev.u32(8, devId)
  vdev.u64(16, VSID)
  ok(io(C.IOMMU_VDEVICE_ALLOC, vdev))
  const vdevId = vdev.u32(12)

  const q = new Buf(32)
  q.u32(8, viommuId)
  q.u32(12, C.IOMMU_VEVENTQ_TYPE_ARM_SMMUV3)
  q.u32(16, 16)
  ok(io(C.IOMMU_VEVENTQ_ALLOC, q))

  const guestWrite = (gpa: bigint, words: bigint[]) => {
    const bytes = new Uint8Array(words.length * 8)
    words.forEach((w, i) => new DataView(bytes.buffer).setBigUint64(i * 8, w, true))
    proc.memory.write(ram + (gpa - GPA_BASE), bytes)
  }
  writeGuestTables(guestWrite)
  proc.memory.write(ram + (DATA_GPA - GPA_BASE), new TextEncoder().encode('guest data'))

  const vsteVa = proc.mmap(4096)
  const vste = new Uint8Array(16)
  new DataView(vste.buffer).setBigUint64(0, VSTE[0], true)
  new DataView(vste.buffer).setBigUint64(8, VSTE[1], true)
  proc.memory.write(vsteVa, vste)
  const nested = new Buf(48)
  nested.u32(8, devId)
  nested.u32(12, viommuId)
  nested.u32(24, C.IOMMU_HWPT_DATA_ARM_SMMUV3)
  nested.u32(28, 16)
  nested.u64(32, vsteVa)
  ok(io(C.IOMMU_HWPT_ALLOC, nested))
  const nestedId = nested.u32(16)

  const attach = new Buf(16)
  attach.u32(8, nestedId)
  ok(io(C.VFIO_DEVICE_ATTACH_IOMMUFD_PT, attach, vfd))
  expect(attach.u32(8)).toBe(nestedId)

  const cmdVa = proc.mmap(4096)
  const invalidate = (cmds: [bigint, bigint][]) => {
    const bytes = new Uint8Array(cmds.length * 16)
    const dv = new DataView(bytes.buffer)
    cmds.forEach(([q0, q1], i) => {
      dv.setBigUint64(i * 16, q0, true)
      dv.setBigUint64(i * 16 + 8, q1, true)
    })
    if (bytes.length > 0) proc.memory.write(cmdVa, bytes)
    const inv = new Buf(32)
    inv.u32(4, viommuId)
    inv.u64(8, cmdVa)
    inv.u32(16, C.IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3)
    inv.u32(20, 16)
    inv.u32(24, cmds.length)
    const rc = io(C.IOMMU_HWPT_INVALIDATE, inv)
    return { rc, entryNum: inv.u32(24) }
  }
  return { proc, dev, fd, vfd, devId, ioasId, parentId, viommuId, vdevId, veventqId: q.u32(20), veventqFd: q.u32(24), nestedId, ram, guestWrite, invalidate }
}

const tlbiNhVa = (vmidGarbage = 0xdeadn): [bigint, bigint] => [0x12n | (vmidGarbage << 32n) | (ASID << 48n), IOVA | 1n]

function dmaFault(dev: Device, iova: bigint): DmaFault | undefined {
  try {
    dev.dmaRead(iova, 4)
  } catch (e) {
    if (DmaFault.is(e)) return e
    throw e
  }
  return undefined
}

describe('SMMUv3 nested translation end to end through the ABI', () => {
  it('guest tables → DMA reads guest data; PTE cleared + TLBI_NH_VA → DMA faults; F_TRANSLATION with the vSID on the vEVENTQ; legal teardown', () => {
    const vm = bootVm()
    expect(new TextDecoder().decode(vm.dev.dmaRead(IOVA, 10))).toBe('guest data')

    // The guest unmaps: clears its PTE and invalidates (the kernel forces the VMID and appends CMD_SYNC).
    vm.guestWrite(L3_GPA + ((IOVA >> 12n) & 511n) * 8n, [0n])
    expect(vm.invalidate([tlbiNhVa()])).toEqual({ rc: 0, entryNum: 1 })
    const fault = dmaFault(vm.dev, IOVA)
    expect(fault?.reason).toBe('translation')

    const ev = vm.proc.read(vm.veventqFd, 4096) as Uint8Array
    expect(ev.length).toBe(8 + 32)
    const dv = new DataView(ev.buffer)
    expect(dv.getUint32(0, true)).toBe(0) // header flags
    expect(dv.getUint32(4, true)).toBe(0) // sequence
    expect(dv.getUint8(8)).toBe(0x10) // F_TRANSLATION
    expect(dv.getUint32(12, true)).toBe(Number(VSID)) // StreamID replaced by the vSID
    expect(dv.getBigUint64(8 + 16, true)).toBe(IOVA) // input address
    expect((dv.getUint32(8 + 12, true) >>> 7) & 1).toBe(0) // a stage-1 fault (S2 = 0)

    // A guest CMD_SYNC is not a command the kernel forwards.
    expect(vm.invalidate([[0x46n, 0n]])).toEqual({ rc: -ERRNO.EIO, entryNum: 0 })

    // Teardown in a legal order, entirely through the ABI.
    const destroy = (id: number) => {
      const b = new Buf(8)
      b.u32(4, id)
      return vm.proc.ioctl(vm.fd, C.IOMMU_DESTROY, b.bytes)
    }
    expect(destroy(vm.parentId)).toBe(-ERRNO.EBUSY)
    ok(vm.proc.ioctl(vm.vfd, C.VFIO_DEVICE_DETACH_IOMMUFD_PT, new Buf(12).bytes))
    ok(destroy(vm.nestedId))
    ok(vm.proc.close(vm.veventqFd))
    ok(destroy(vm.veventqId))
    ok(destroy(vm.vdevId))
    ok(destroy(vm.viommuId))
    ok(destroy(vm.parentId))
    ok(destroy(vm.ioasId))
    ok(vm.proc.close(vm.vfd))
    ok(vm.proc.close(vm.fd))
  })

  it('the IOTLB is real: without the invalidation a cleared PTE still translates (stale entry); the invalidation removes it', () => {
    const vm = bootVm()
    expect(new TextDecoder().decode(vm.dev.dmaRead(IOVA, 10))).toBe('guest data')
    vm.guestWrite(L3_GPA + ((IOVA >> 12n) & 511n) * 8n, [0n])
    expect(new TextDecoder().decode(vm.dev.dmaRead(IOVA, 10))).toBe('guest data') // stale, as on hardware
    // An invalidation of another ASID does not help …
    expect(vm.invalidate([[0x11n | (99n << 48n), 0n]])).toEqual({ rc: 0, entryNum: 1 })
    expect(new TextDecoder().decode(vm.dev.dmaRead(IOVA, 10))).toBe('guest data')
    // … the guest's TLBI_NSNH_ALL (rewritten to NH_ALL of the VM's VMID) does.
    expect(vm.invalidate([[0x30n, 0n]])).toEqual({ rc: 0, entryNum: 1 })
    expect(dmaFault(vm.dev, IOVA)?.reason).toBe('translation')
  })

  it('a stage-2 unmap by the VMM is invalidated by the kernel: the nested translation stops at once', () => {
    const vm = bootVm()
    expect(vm.dev.dmaRead(IOVA, 1)[0]).toBe('g'.charCodeAt(0))
    const unmap = new Buf(24)
    unmap.u32(4, vm.ioasId)
    unmap.u64(8, GPA_BASE)
    unmap.u64(16, 4 << 20)
    ok(vm.proc.ioctl(vm.fd, C.IOMMU_IOAS_UNMAP, unmap.bytes))
    const f = dmaFault(vm.dev, IOVA)
    expect(f?.reason).toBe('translation')
    expect(f?.stage).toBe(2)
  })
})

describe('vSTE validation (arm_smmu_validate_vste): illegal guest STEs → EIO', () => {
  const cases: [string, bigint, bigint][] = [
    ['Config = S2 translate (6)', 1n | (6n << 1n), 0n],
    ['Config = nested (7)', 1n | (7n << 1n), 0n],
    ['Config = reserved (1)', 1n | (1n << 1n), 0n],
    ['a Q0 bit outside V/Config/S1Fmt/S1ContextPtr/S1CDMax (bit 53)', 1n | (5n << 1n) | CD_GPA | (1n << 53n), 0n],
    ['a Q1 bit outside the allowed mask (MEV, bit 19)', 1n | (5n << 1n) | CD_GPA, 1n << 19n],
    ['Q1 SHCFG (bit 44)', 1n | (5n << 1n) | CD_GPA, 1n << 44n],
    ['EATS = split-stage (2)', 1n | (5n << 1n) | CD_GPA, 2n << 28n],
  ]
  for (const [name, q0, q1] of cases) {
    it(name, () => {
      const vm = bootVm()
      const va = vm.proc.mmap(4096)
      const bytes = new Uint8Array(16)
      new DataView(bytes.buffer).setBigUint64(0, q0, true)
      new DataView(bytes.buffer).setBigUint64(8, q1, true)
      vm.proc.memory.write(va, bytes)
      const b = new Buf(48)
      b.u32(8, vm.devId)
      b.u32(12, vm.viommuId)
      b.u32(24, C.IOMMU_HWPT_DATA_ARM_SMMUV3)
      b.u32(28, 16)
      b.u64(32, va)
      expect(vm.proc.ioctl(vm.fd, C.IOMMU_HWPT_ALLOC, b.bytes)).toBe(-ERRNO.EIO)
    })
  }
  it('V = 0 is accepted and behaves as abort', () => {
    const vm = bootVm()
    const va = vm.proc.mmap(4096)
    vm.proc.memory.write(va, new Uint8Array(16))
    const b = new Buf(48)
    b.u32(8, vm.devId)
    b.u32(12, vm.viommuId)
    b.u32(24, C.IOMMU_HWPT_DATA_ARM_SMMUV3)
    b.u32(28, 16)
    b.u64(32, va)
    ok(vm.proc.ioctl(vm.fd, C.IOMMU_HWPT_ALLOC, b.bytes))
    const attach = new Buf(16)
    attach.u32(8, b.u32(16))
    ok(vm.proc.ioctl(vm.vfd, C.VFIO_DEVICE_ATTACH_IOMMUFD_PT, attach.bytes))
    expect(dmaFault(vm.dev, IOVA)?.reason).toBe('blocked')
  })
})

describe('guest commands through IOMMU_HWPT_INVALIDATE: only what the kernel forwards', () => {
  const rejected: [string, number][] = [
    ['CMD_SYNC', 0x46],
    ['CFGI_STE', 0x03],
    ['CFGI_STE_RANGE / CFGI_ALL', 0x04],
    ['TLBI_S2_IPA', 0x2a],
    ['TLBI_S12_VMALL', 0x28],
    ['TLBI_EL2_ALL', 0x20],
    ['PREFETCH_CONFIG', 0x01],
    ['PRI_RESP', 0x41],
    ['RESUME', 0x44],
    ['an unknown opcode', 0x7f],
  ]
  for (const [name, op] of rejected) {
    it(`${name} → EIO, entry_num reports the index`, () => {
      const vm = bootVm()
      expect(vm.invalidate([tlbiNhVa(), [BigInt(op), 0n], tlbiNhVa()])).toEqual({ rc: -ERRNO.EIO, entryNum: 1 })
    })
  }
  it('ATC_INV / CFGI_CD / CFGI_CD_ALL with an unknown vSID → EIO; with the vSID they are accepted', () => {
    const vm = bootVm()
    for (const op of [0x40n, 0x05n, 0x06n]) {
      expect(vm.invalidate([[op | (0x77n << 32n), 0n]])).toEqual({ rc: -ERRNO.EIO, entryNum: 0 })
      expect(vm.invalidate([[op | (VSID << 32n), 0n]])).toEqual({ rc: 0, entryNum: 1 })
    }
  })
  it('TLBI_NH_ALL, TLBI_NH_ASID, TLBI_NH_VAA and TLBI_NSNH_ALL are accepted', () => {
    const vm = bootVm()
    expect(vm.invalidate([[0x10n, 0n], [0x11n | (ASID << 48n), 0n], [0x13n, IOVA], [0x30n, 0n]])).toEqual({ rc: 0, entryNum: 4 })
  })
  it('an empty array is EINVAL for the SMMUv3 vIOMMU (its full-array copy rejects it)', () => {
    const vm = bootVm()
    expect(vm.invalidate([])).toEqual({ rc: -ERRNO.EINVAL, entryNum: 0 })
  })
})
