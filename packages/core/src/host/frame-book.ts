import type { PhysicalMemory } from '@iommu-sim/hw-models'

/**
 * Host-wide bookkeeping of the frames that back process memory: a reference count (one per
 * process mapping, one per pin) and a pin count. A frame returns to the allocator when its last
 * reference goes, so a pinned page outlives munmap exactly as in Linux.
 */
export class FrameBook {
  private readonly refs: Int32Array
  private readonly pins: Int32Array

  constructor(readonly memory: PhysicalMemory, readonly frameSize: number) {
    const frames = memory.bytes / frameSize
    this.refs = new Int32Array(frames)
    this.pins = new Int32Array(frames)
  }

  /** Allocates `count` contiguous frames (aligned to `count`), each with one reference. */
  allocate(count: number): number {
    const pa = this.memory.allocFrames((count * this.frameSize) / 4096, (count * this.frameSize) / 4096)
    const pfn = pa / this.frameSize
    for (let i = 0; i < count; i++) this.refs[pfn + i] = 1
    return pfn
  }

  get(pfn: number): void {
    this.refs[pfn]!++
  }

  put(pfn: number): void {
    const left = --this.refs[pfn]!
    if (left === 0) this.memory.freeFrames(pfn * this.frameSize, this.frameSize / 4096)
  }

  pin(pfn: number): void {
    this.pins[pfn]!++
    this.get(pfn)
  }

  unpin(pfn: number): void {
    this.pins[pfn]!--
    this.put(pfn)
  }

  pinCount(pfn: number): number {
    return this.pins[pfn]!
  }

  /** Total pins held on all frames (leak checks). */
  totalPins(): number {
    let n = 0
    for (let i = 0; i < this.pins.length; i++) n += this.pins[i]!
    return n
  }
}
