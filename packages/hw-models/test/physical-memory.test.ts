import { describe, expect, it } from 'vitest'
import { FRAME_SIZE, PhysicalMemory, PhysicalMemoryError } from '../src/index.js'

describe('PhysicalMemory', () => {
  it('defaults to 256 MiB over a SharedArrayBuffer', () => {
    const mem = new PhysicalMemory()
    expect(mem.bytes).toBe(256 * 1024 * 1024)
    expect(mem.buffer).toBeInstanceOf(SharedArrayBuffer)
  })

  it('rejects sizes that are not a positive multiple of the frame size', () => {
    expect(() => new PhysicalMemory({ bytes: 1000 })).toThrow(RangeError)
    expect(() => new PhysicalMemory({ bytes: 0 })).toThrow(RangeError)
  })

  it('stores 32- and 64-bit values little-endian', () => {
    const mem = new PhysicalMemory({ bytes: 64 * FRAME_SIZE })
    mem.write64(0x1000, 0x0123_4567_89ab_cdefn)
    expect([...mem.read(0x1000, 8)]).toEqual([0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01])
    expect(mem.read64Lo(0x1000)).toBe(0x89ab_cdef)
    expect(mem.read64Hi(0x1000)).toBe(0x0123_4567)
    expect(mem.read64(0x1000)).toBe(0x0123_4567_89ab_cdefn)
    mem.write32(0x2004, 0xdeadbeef)
    expect(mem.read32(0x2004)).toBe(0xdeadbeef)
    expect(mem.read(0x2004, 4)).toEqual(new Uint8Array([0xef, 0xbe, 0xad, 0xde]))
  })

  it('keeps the full u64 range exact', () => {
    const mem = new PhysicalMemory({ bytes: 4 * FRAME_SIZE })
    mem.write64(8, 0xffff_ffff_ffff_ffffn)
    expect(mem.read64(8)).toBe(0xffff_ffff_ffff_ffffn)
  })

  it('installs descriptors high word first and clears valid word first', () => {
    const mem = new PhysicalMemory({ bytes: 4 * FRAME_SIZE })
    mem.store64Ordered(16, 0x8000_0003, 0x1234)
    expect(mem.read64(16)).toBe(0x1234_8000_0003n)
    mem.clear64Ordered(16)
    expect(mem.read64(16)).toBe(0n)
  })

  it('bulk read/write round-trips and readInto does not allocate a new buffer', () => {
    const mem = new PhysicalMemory({ bytes: 4 * FRAME_SIZE })
    mem.write(100, new Uint8Array([1, 2, 3, 4, 5]))
    const target = new Uint8Array(8)
    mem.readInto(100, target, 2, 5)
    expect([...target]).toEqual([0, 0, 1, 2, 3, 4, 5, 0])
  })

  it('refuses accesses outside memory with EFAULT and misaligned words with EINVAL', () => {
    const mem = new PhysicalMemory({ bytes: 4 * FRAME_SIZE })
    expect(() => mem.read32(4 * FRAME_SIZE)).toThrow(/EFAULT/)
    expect(() => mem.read(4 * FRAME_SIZE - 2, 4)).toThrow(PhysicalMemoryError)
    expect(() => mem.read64(4)).toThrow(/EINVAL/)
  })

  it('allocates zeroed frames, never frame 0, lowest free first', () => {
    const mem = new PhysicalMemory({ bytes: 8 * FRAME_SIZE })
    mem.fill(FRAME_SIZE, FRAME_SIZE, 0xaa)
    const a = mem.allocFrames()
    expect(a).toBe(FRAME_SIZE)
    expect(mem.read(a, FRAME_SIZE).every((b) => b === 0)).toBe(true)
    const b = mem.allocFrames()
    expect(b).toBe(2 * FRAME_SIZE)
    mem.freeFrames(a)
    expect(mem.allocFrames()).toBe(a)
  })

  it('allocates aligned contiguous runs', () => {
    const mem = new PhysicalMemory({ bytes: 64 * FRAME_SIZE })
    mem.allocFrames()
    const run = mem.allocFrames(16, 16)
    expect(run % (16 * FRAME_SIZE)).toBe(0)
    expect(mem.freeFrameCount).toBe(64 - 1 - 1 - 16)
  })

  it('reports exhaustion as an ENOMEM PhysicalMemoryError and changes nothing', () => {
    const mem = new PhysicalMemory({ bytes: 4 * FRAME_SIZE })
    mem.allocFrames(3)
    const before = mem.freeFrameCount
    let caught: unknown
    try {
      mem.allocFrames()
    } catch (e) {
      caught = e
    }
    expect(PhysicalMemoryError.is(caught)).toBe(true)
    expect((caught as PhysicalMemoryError).code).toBe('ENOMEM')
    expect(mem.freeFrameCount).toBe(before)
  })

  it('detects double frees', () => {
    const mem = new PhysicalMemory({ bytes: 4 * FRAME_SIZE })
    const a = mem.allocFrames()
    mem.freeFrames(a)
    expect(() => mem.freeFrames(a)).toThrow(/double free/)
  })

  it('attach() gives another view of the same bytes that cannot allocate', () => {
    const mem = new PhysicalMemory({ bytes: 4 * FRAME_SIZE })
    const view = PhysicalMemory.attach(mem.buffer)
    mem.write32(0x100, 42)
    expect(view.read32(0x100)).toBe(42)
    expect(() => view.allocFrames()).toThrow(/cannot allocate/)
  })
})
