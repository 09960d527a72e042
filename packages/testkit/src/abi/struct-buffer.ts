/**
 * A uAPI struct in a byte buffer, for ABI-level tests written the way the kernel selftests are:
 * fields written and read at the kernel's offsets, `size` / `argsz` in the first u32.
 */
export class StructBuffer {
  readonly bytes: Uint8Array
  readonly dv: DataView
  constructor(size: number, extra = 0) {
    this.bytes = new Uint8Array(size + extra)
    this.dv = new DataView(this.bytes.buffer)
    this.dv.setUint32(0, size, true)
  }
  u8(off: number, v?: number): number {
    if (v !== undefined) this.dv.setUint8(off, v)
    return this.dv.getUint8(off)
  }
  u16(off: number, v?: number): number {
    if (v !== undefined) this.dv.setUint16(off, v, true)
    return this.dv.getUint16(off, true)
  }
  u32(off: number, v?: number): number {
    if (v !== undefined) this.dv.setUint32(off, v >>> 0, true)
    return this.dv.getUint32(off, true)
  }
  s32(off: number, v?: number): number {
    if (v !== undefined) this.dv.setInt32(off, v, true)
    return this.dv.getInt32(off, true)
  }
  u64(off: number, v?: bigint | number): bigint {
    if (v !== undefined) this.dv.setBigUint64(off, BigInt(v) & 0xffff_ffff_ffff_ffffn, true)
    return this.dv.getBigUint64(off, true)
  }
  /** Overrides `size` (or argsz). */
  size(v: number): this {
    this.dv.setUint32(0, v >>> 0, true)
    return this
  }
}
