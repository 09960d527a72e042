import { PhysicalMemoryError } from './errors.js'

/**
 * A bitmap allocator of physical frames with a next-fit hint. Supports contiguous, aligned runs
 * (page tables with large granules, concatenated stage-2 roots, queues) and detects double frees.
 */
export class FrameAllocator {
  private readonly used: Uint32Array
  private hint: number
  private free_: number

  constructor(readonly totalFrames: number, reservedLowFrames = 0) {
    this.used = new Uint32Array(Math.ceil(totalFrames / 32))
    for (let f = 0; f < reservedLowFrames; f++) this.set(f)
    this.free_ = totalFrames - reservedLowFrames
    this.hint = reservedLowFrames
  }

  get freeCount(): number {
    return this.free_
  }

  isUsed(frame: number): boolean {
    return (this.used[frame >>> 5]! & (1 << (frame & 31))) !== 0
  }

  alloc(count: number, alignFrames: number): number {
    if (!Number.isInteger(count) || count < 1) throw new PhysicalMemoryError('EINVAL', `cannot allocate ${count} frames`)
    if (!Number.isInteger(alignFrames) || alignFrames < 1 || (alignFrames & (alignFrames - 1)) !== 0) {
      throw new PhysicalMemoryError('EINVAL', `frame alignment ${alignFrames} is not a power of two`)
    }
    if (count <= this.free_) {
      const found = this.search(this.hint, this.totalFrames, count, alignFrames) ?? this.search(0, this.hint + count, count, alignFrames)
      if (found !== undefined) {
        for (let f = found; f < found + count; f++) this.set(f)
        this.free_ -= count
        this.hint = found + count >= this.totalFrames ? 0 : found + count
        return found
      }
    }
    throw new PhysicalMemoryError(
      'ENOMEM',
      `out of physical memory: no run of ${count} free frame(s) aligned to ${alignFrames} (${this.free_} of ${this.totalFrames} frames free)`,
    )
  }

  free(frame: number, count: number): void {
    if (!Number.isInteger(frame) || frame < 0 || frame + count > this.totalFrames) {
      throw new PhysicalMemoryError('EINVAL', `free of frames [${frame}, +${count}) outside memory`)
    }
    for (let f = frame; f < frame + count; f++) {
      if (!this.isUsed(f)) throw new PhysicalMemoryError('EINVAL', `double free of frame ${f}`)
    }
    for (let f = frame; f < frame + count; f++) this.used[f >>> 5]! &= ~(1 << (f & 31))
    this.free_ += count
    if (frame < this.hint) this.hint = frame
  }

  private set(frame: number): void {
    this.used[frame >>> 5]! |= 1 << (frame & 31)
  }

  private search(from: number, to: number, count: number, align: number): number | undefined {
    let start = Math.ceil(from / align) * align
    const end = Math.min(to, this.totalFrames)
    while (start + count <= end) {
      // Skip whole used words quickly when looking for single frames.
      if (align === 1 && this.used[start >>> 5] === 0xffffffff) {
        start = ((start >>> 5) + 1) << 5
        continue
      }
      let ok = true
      for (let f = start; f < start + count; f++) {
        if (this.isUsed(f)) {
          ok = false
          start = Math.ceil((f + 1) / align) * align
          break
        }
      }
      if (ok) return start
    }
    return undefined
  }
}
