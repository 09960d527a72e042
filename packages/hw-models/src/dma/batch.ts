/**
 * A batch of DMA descriptors and their results, in one SharedArrayBuffer (column layout), plus an
 * optional data buffer for transfers. Workers receive the buffers, never cloned objects.
 *
 * Descriptor i: device slot, substream id (−1 none), flags (write, transfer), iova, length, data
 * offset. Result i: physical address of the first byte, bytes moved, fault code (0 = none).
 */
export const DMA_WRITE = 1 // the device writes memory (DMA to host)
export const DMA_TRANSFER = 2 // move bytes between the data buffer and memory (else translate only)

const COLUMNS_I32 = 6 // device, ssid, flags, length, bytes, fault
const COLUMNS_F64 = 3 // iova, dataOffset, pa

export interface DmaBatchBuffers {
  readonly sab: SharedArrayBuffer
  readonly data: SharedArrayBuffer
  readonly capacity: number
}

export class DmaBatch {
  readonly capacity: number
  readonly sab: SharedArrayBuffer
  readonly data: SharedArrayBuffer
  /** Transfer data (source for device reads of the buffer → memory writes, destination otherwise). */
  readonly bytes: Uint8Array
  readonly device: Int32Array
  readonly ssid: Int32Array
  readonly flags: Int32Array
  readonly length: Int32Array
  readonly iova: Float64Array
  readonly dataOffset: Float64Array
  /** Results. */
  readonly pa: Float64Array
  readonly moved: Int32Array
  readonly fault: Int32Array
  /** Descriptors in use. */
  count = 0

  constructor(capacity: number, dataBytes = 0, buffers?: DmaBatchBuffers) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`DmaBatch: capacity must be ≥ 1, got ${capacity}`)
    this.capacity = capacity
    this.sab = buffers?.sab ?? new SharedArrayBuffer(capacity * (COLUMNS_F64 * 8 + COLUMNS_I32 * 4))
    this.data = buffers?.data ?? new SharedArrayBuffer(dataBytes)
    this.bytes = new Uint8Array(this.data)
    let off = 0
    const f64 = (): Float64Array => {
      const a = new Float64Array(this.sab, off, capacity)
      off += capacity * 8
      return a
    }
    const i32 = (): Int32Array => {
      const a = new Int32Array(this.sab, off, capacity)
      off += capacity * 4
      return a
    }
    this.iova = f64()
    this.dataOffset = f64()
    this.pa = f64()
    this.device = i32()
    this.ssid = i32()
    this.flags = i32()
    this.length = i32()
    this.moved = i32()
    this.fault = i32()
  }

  /** A view of a batch made on another thread. */
  static attach(buffers: DmaBatchBuffers): DmaBatch {
    return new DmaBatch(buffers.capacity, 0, buffers)
  }

  get buffers(): DmaBatchBuffers {
    return { sab: this.sab, data: this.data, capacity: this.capacity }
  }

  /** Descriptor `i`: translate `length` bytes at `iova` (and move them when `transfer`). */
  set(i: number, device: number, iova: number, length: number, options: { ssid?: number; write?: boolean; transfer?: boolean; dataOffset?: number } = {}): void {
    if (i < 0 || i >= this.capacity) throw new RangeError(`DmaBatch: descriptor ${i} outside capacity ${this.capacity}`)
    this.device[i] = device
    this.ssid[i] = options.ssid ?? -1
    this.flags[i] = (options.write ? DMA_WRITE : 0) | (options.transfer ? DMA_TRANSFER : 0)
    this.iova[i] = iova
    this.length[i] = length
    this.dataOffset[i] = options.dataOffset ?? 0
    if (i >= this.count) this.count = i + 1
  }
}
