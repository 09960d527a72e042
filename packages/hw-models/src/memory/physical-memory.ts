/**
 * Host physical memory: one SharedArrayBuffer that every simulated IOMMU unit, page table,
 * device table and queue lives in, so worker threads can walk the same bytes.
 *
 * Addresses are plain `number`s (byte offsets < 2^53). Control paths may use the bigint
 * helpers; hot paths use `u32` / `i32` with 32-bit halves of 64-bit descriptors.
 */
import { FrameAllocator } from './frame-allocator.js'
import { PhysicalMemoryError } from './errors.js'

export const FRAME_SIZE = 4096
export const FRAME_SHIFT = 12
export const DEFAULT_MEMORY_BYTES = 256 * 1024 * 1024

export interface PhysicalMemoryOptions {
  /** Total bytes; a multiple of 4 KiB. Default 256 MiB. */
  readonly bytes?: number
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

export class PhysicalMemory {
  readonly buffer: SharedArrayBuffer
  readonly bytes: number
  /** Byte view. */
  readonly u8: Uint8Array
  /** 32-bit view in host order; the simulator requires a little-endian host, so this is LE. */
  readonly u32: Uint32Array
  /** Same words as `u32`, for Atomics (ordered descriptor install / clear). */
  readonly i32: Int32Array
  /** Frame allocator; `undefined` on a read-only attachment (a worker's view). */
  readonly frames: FrameAllocator | undefined
  /** Lazily created 64-bit view for {@link store64Atomic}. */
  private big64: BigInt64Array | undefined

  constructor(options: PhysicalMemoryOptions = {}, existing?: SharedArrayBuffer) {
    const bytes = existing?.byteLength ?? options.bytes ?? DEFAULT_MEMORY_BYTES
    if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes % FRAME_SIZE !== 0) {
      throw new RangeError(`PhysicalMemory: size must be a positive multiple of ${FRAME_SIZE}, got ${bytes}`)
    }
    this.buffer = existing ?? new SharedArrayBuffer(bytes)
    this.bytes = bytes
    this.u8 = new Uint8Array(this.buffer)
    this.u32 = new Uint32Array(this.buffer)
    this.i32 = new Int32Array(this.buffer)
    // Frame 0 is never handed out: physical address 0 doubles as "no table" in many formats.
    // A view attached to another thread's memory cannot allocate.
    this.frames = existing === undefined ? new FrameAllocator(bytes / FRAME_SIZE, 1) : undefined
    if (!HOST_IS_LITTLE_ENDIAN) throw new Error('PhysicalMemory: iommu-sim requires a little-endian host')
  }

  /** A view of memory created elsewhere (e.g. in a worker); it cannot allocate frames. */
  static attach(buffer: SharedArrayBuffer): PhysicalMemory {
    // Through the constructor, so every view has the same object shape (fast property access).
    return new PhysicalMemory({}, buffer)
  }

  // ---- frame allocation -------------------------------------------------------------------

  /**
   * Allocates `count` zeroed, physically contiguous frames whose first frame number is a
   * multiple of `alignFrames`; returns the physical address. Throws ENOMEM when exhausted.
   */
  allocFrames(count = 1, alignFrames = 1): number {
    const frame = this.allocator().alloc(count, alignFrames)
    const pa = frame * FRAME_SIZE
    this.u8.fill(0, pa, pa + count * FRAME_SIZE)
    return pa
  }

  /** Frees frames obtained from `allocFrames`. */
  freeFrames(pa: number, count = 1): void {
    if (pa % FRAME_SIZE !== 0) throw new PhysicalMemoryError('EINVAL', `freeFrames: 0x${pa.toString(16)} is not frame aligned`)
    this.allocator().free(pa / FRAME_SIZE, count)
  }

  get freeFrameCount(): number {
    return this.allocator().freeCount
  }

  get totalFrames(): number {
    return this.bytes / FRAME_SIZE
  }

  private allocator(): FrameAllocator {
    if (this.frames === undefined) throw new PhysicalMemoryError('EPERM', 'this PhysicalMemory view cannot allocate frames')
    return this.frames
  }

  // ---- bounds -----------------------------------------------------------------------------

  /** True when `[pa, pa + length)` lies inside memory. */
  contains(pa: number, length: number): boolean {
    return Number.isSafeInteger(pa) && Number.isSafeInteger(length) && pa >= 0 && length >= 0 && pa + length <= this.bytes
  }

  private check(pa: number, length: number, align: number): void {
    if (!this.contains(pa, length)) {
      throw new PhysicalMemoryError('EFAULT', `physical access [0x${pa.toString(16)}, +${length}) outside ${this.bytes} bytes of memory`)
    }
    if ((pa & (align - 1)) !== 0) {
      throw new PhysicalMemoryError('EINVAL', `physical access at 0x${pa.toString(16)} not ${align}-byte aligned`)
    }
  }

  // ---- 32-bit and 64-bit little-endian accessors ------------------------------------------

  read32(pa: number): number {
    this.check(pa, 4, 4)
    return this.u32[pa >>> 2]!
  }

  write32(pa: number, value: number): void {
    this.check(pa, 4, 4)
    this.u32[pa >>> 2] = value >>> 0
  }

  /** Low 32 bits of the 64-bit word at `pa`. */
  read64Lo(pa: number): number {
    this.check(pa, 8, 8)
    return this.u32[pa >>> 2]!
  }

  /** High 32 bits of the 64-bit word at `pa`. */
  read64Hi(pa: number): number {
    this.check(pa, 8, 8)
    return this.u32[(pa >>> 2) + 1]!
  }

  read64(pa: number): bigint {
    this.check(pa, 8, 8)
    const i = pa >>> 2
    return (BigInt(this.u32[i + 1]!) << 32n) | BigInt(this.u32[i]!)
  }

  write64(pa: number, value: bigint): void {
    this.check(pa, 8, 8)
    const i = pa >>> 2
    this.u32[i] = Number(value & 0xffff_ffffn)
    this.u32[i + 1] = Number((value >> 32n) & 0xffff_ffffn)
  }

  /**
   * Installs a descriptor word so that a concurrent walker never sees it torn: the high half is
   * stored first and the low half (which holds the valid bit in every supported format) last,
   * both with sequentially consistent Atomics.
   */
  store64Ordered(pa: number, lo: number, hi: number): void {
    this.check(pa, 8, 8)
    const i = pa >>> 2
    Atomics.store(this.i32, i + 1, hi | 0)
    Atomics.store(this.i32, i, lo | 0)
  }

  /**
   * Replaces a present descriptor with another in one 64-bit atomic store (control path: uses a
   * BigInt64Array view). For valid-to-valid changes — a block split into a table, a contiguous
   * hint dropped — where neither order of two 32-bit stores is safe for a concurrent walker.
   */
  store64Atomic(pa: number, lo: number, hi: number): void {
    this.check(pa, 8, 8)
    const view = (this.big64 ??= new BigInt64Array(this.buffer))
    Atomics.store(view, pa / 8, BigInt.asIntN(64, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)))
  }

  /** Clears a descriptor word valid-half first, so a walker sees either the old entry or nothing. */
  clear64Ordered(pa: number): void {
    this.check(pa, 8, 8)
    const i = pa >>> 2
    Atomics.store(this.i32, i, 0)
    Atomics.store(this.i32, i + 1, 0)
  }

  // ---- bulk ------------------------------------------------------------------------------

  /** Copies `length` bytes out of memory. */
  read(pa: number, length: number): Uint8Array {
    this.check(pa, length, 1)
    return this.u8.slice(pa, pa + length)
  }

  /** Copies `bytes` into memory at `pa`. */
  write(pa: number, bytes: Uint8Array): void {
    this.check(pa, bytes.length, 1)
    this.u8.set(bytes, pa)
  }

  /** Copies memory into an existing buffer (no allocation). */
  readInto(pa: number, target: Uint8Array, targetOffset = 0, length = target.length - targetOffset): void {
    this.check(pa, length, 1)
    target.set(this.u8.subarray(pa, pa + length), targetOffset)
  }

  fill(pa: number, length: number, value = 0): void {
    this.check(pa, length, 1)
    this.u8.fill(value, pa, pa + length)
  }
}
