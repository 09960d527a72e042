/**
 * The guest side of the demo VM: guest-physical RAM backed by the VMM's memory, a bump
 * allocator for guest page-table pages, and the guest's SMMU driver writing a context
 * descriptor and VMSAv8-64 stage-1 tables (4 KiB granule, 48-bit VA) into guest RAM.
 */
import type { Process } from '@iommu-sim/core'

export class GuestRam {
  private next: bigint
  constructor(
    private readonly proc: Process,
    /** VMM virtual address backing guest-physical `base`. */
    readonly va: bigint,
    readonly base: bigint,
    readonly size: bigint,
  ) {
    this.next = base
  }

  /** A zeroed 4 KiB page of guest RAM (GPA). */
  allocPage(): bigint {
    const gpa = this.next
    this.next += 0x1000n
    if (this.next > this.base + this.size) throw new Error('guest out of memory')
    this.write(gpa, new Uint8Array(0x1000))
    return gpa
  }

  write(gpa: bigint, bytes: Uint8Array): void {
    this.proc.memory.write(this.va + (gpa - this.base), bytes)
  }

  read(gpa: bigint, length: number): Uint8Array {
    return this.proc.memory.read(this.va + (gpa - this.base), length)
  }

  write64(gpa: bigint, value: bigint): void {
    const b = new Uint8Array(8)
    new DataView(b.buffer).setBigUint64(0, value, true)
    this.write(gpa, b)
  }

  read64(gpa: bigint): bigint {
    return new DataView(this.read(gpa, 8).buffer).getBigUint64(0, true)
  }
}

/** What the guest's arm-smmu-v3 driver owns for one device: a CD and a stage-1 page table. */
export class GuestSmmuContext {
  readonly cd: bigint
  readonly l0: bigint

  constructor(
    private readonly ram: GuestRam,
    readonly asid: number,
  ) {
    this.cd = ram.allocPage()
    this.l0 = ram.allocPage()
    // CD: T0SZ=16, TG0=4K, WB walks, inner shareable, EPD1, V, IPS=48-bit, AA64, R, A, ASET, ASID.
    const q0 = 16n | (1n << 8n) | (1n << 10n) | (3n << 12n) | (1n << 30n) | (1n << 31n) | (5n << 32n) | (1n << 41n) | (1n << 45n) | (1n << 46n) | (1n << 47n) | (BigInt(asid) << 48n)
    ram.write64(this.cd, q0)
    ram.write64(this.cd + 8n, this.l0)
    ram.write64(this.cd + 24n, 0xf404ff44n)
  }

  /** The guest STE the VMM passes to IOMMU_HWPT_ALLOC: V, Config = S1 translate, S1ContextPtr. */
  vste(): [bigint, bigint] {
    return [1n | (5n << 1n) | this.cd, (1n << 2n) | (1n << 4n) | (3n << 6n)]
  }

  /** Maps one 4 KiB page IOVA → GPA, read/write, creating tables as needed. */
  map(iova: bigint, gpa: bigint): void {
    let table = this.l0
    for (let level = 0; level < 3; level++) {
      const slot = table + ((iova >> BigInt(39 - 9 * level)) & 511n) * 8n
      let desc = this.ram.read64(slot)
      if ((desc & 3n) !== 3n) {
        desc = this.ram.allocPage() | 3n
        this.ram.write64(slot, desc)
      }
      table = desc & 0x0000_ffff_ffff_f000n
    }
    // AF | SH inner | AP[1] unprivileged | AttrIndx 1 (WB) | page
    this.ram.write64(table + ((iova >> 12n) & 511n) * 8n, gpa | (1n << 10n) | (3n << 8n) | (1n << 6n) | (1n << 2n) | 3n)
  }

  unmap(iova: bigint): void {
    let table = this.l0
    for (let level = 0; level < 3; level++) table = this.ram.read64(table + ((iova >> BigInt(39 - 9 * level)) & 511n) * 8n) & 0x0000_ffff_ffff_f000n
    this.ram.write64(table + ((iova >> 12n) & 511n) * 8n, 0n)
  }
}
