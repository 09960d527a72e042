/**
 * User data as drivers receive it (`struct iommu_user_data` / `iommu_user_data_array`) and the
 * copy helpers that implement the kernel's struct-size rules once (include/linux/iommu.h:
 * iommu_copy_struct_from_user, _from_user_array, _from_full_user_array, _to_user).
 */
import { fail } from '../errors/iommufd-error.js'

/** Memory a pointer in user data refers to: a process address space, or a plain buffer. */
export interface UserMemory {
  /** Reads `length` bytes at `va`; throws IommufdError EFAULT when unreadable. */
  read(va: bigint, length: number): Uint8Array
  /** Writes bytes at `va`; throws IommufdError EFAULT when unwritable. */
  write(va: bigint, bytes: Uint8Array): void
}

/** A UserMemory over one buffer placed at address `base` (used by the typed API). */
export class BufferUserMemory implements UserMemory {
  constructor(readonly bytes: Uint8Array, readonly base: bigint = 0x1000n) {}
  read(va: bigint, length: number): Uint8Array {
    const off = this.offset(va, length, 'read')
    return this.bytes.slice(off, off + length)
  }
  write(va: bigint, bytes: Uint8Array): void {
    const off = this.offset(va, bytes.length, 'write')
    this.bytes.set(bytes, off)
  }
  private offset(va: bigint, length: number, what: string): number {
    const off = va - this.base
    if (off < 0n || off + BigInt(length) > BigInt(this.bytes.length)) throw fail('EFAULT', 'user copy', `${what} of ${length} bytes at 0x${va.toString(16)} outside the buffer`)
    return Number(off)
  }
}

/** `struct iommu_user_data`: a typed, sized blob in user memory. */
export class UserData {
  constructor(
    readonly type: number,
    readonly uptr: bigint,
    readonly len: number,
    private readonly memory: UserMemory,
  ) {}

  /** User data held in a plain buffer (the typed API's form). */
  static fromBytes(type: number, bytes: Uint8Array): UserData {
    const mem = new BufferUserMemory(bytes)
    return new UserData(type, mem.base, bytes.length, mem)
  }

  /**
   * iommu_copy_struct_from_user: type must match (EINVAL); `len` must cover `minLen` (EINVAL)
   * and must not exceed the kernel struct (EINVAL — unlike the ioctl dispatcher, a longer user
   * struct is refused outright); the result is zero-extended to `kernelSize`.
   */
  copyStruct(expectedType: number, kernelSize: number, minLen: number, op = 'user data'): Uint8Array {
    if (this.type !== expectedType) throw fail('EINVAL', op, `data type 0x${this.type.toString(16)} is not 0x${expectedType.toString(16)}`)
    return copyExtensible(this.memory, this.uptr, this.len, kernelSize, minLen, false, op)
  }

  /** iommu_copy_struct_to_user: writes `len` bytes of `src` back (driver outputs, e.g. vIOMMU data). */
  copyToUser(expectedType: number, src: Uint8Array, minLen: number, op = 'user data'): void {
    if (this.type !== expectedType) throw fail('EINVAL', op, `data type 0x${this.type.toString(16)} is not 0x${expectedType.toString(16)}`)
    if (this.len < minLen || this.len > src.length) throw fail('EINVAL', op, `user length ${this.len} outside [${minLen}, ${src.length}]`)
    this.memory.write(this.uptr, src.subarray(0, this.len))
  }
}

/** `struct iommu_user_data_array`: `entryNum` is in/out — drivers set it to the entries handled. */
export class UserDataArray {
  entryNum: number
  constructor(
    readonly type: number,
    readonly uptr: bigint,
    readonly entryLen: number,
    entryNum: number,
    private readonly memory: UserMemory,
  ) {
    this.entryNum = entryNum
  }

  /** An array held in a plain buffer (the typed API's form). */
  static fromBytes(type: number, bytes: Uint8Array, entryLen: number, entryNum: number): UserDataArray {
    const mem = new BufferUserMemory(bytes)
    return new UserDataArray(type, mem.base, entryLen, entryNum, mem)
  }

  /**
   * iommu_copy_struct_from_user_array: entry `index` with the per-entry rules of
   * UserData.copyStruct (index out of range or empty array → EINVAL).
   */
  copyEntry(expectedType: number, index: number, kernelSize: number, minLen: number, op = 'user data array'): Uint8Array {
    if (this.type !== expectedType) throw fail('EINVAL', op, `data type 0x${this.type.toString(16)} is not 0x${expectedType.toString(16)}`)
    if (this.entryNum === 0 || index >= this.entryNum) throw fail('EINVAL', op, `entry ${index} outside an array of ${this.entryNum}`)
    return copyExtensible(this.memory, this.uptr + BigInt(this.entryLen) * BigInt(index), this.entryLen, kernelSize, minLen, false, op)
  }

  /**
   * iommu_copy_struct_from_full_user_array: every entry at once, each zero-extended or, when
   * longer than `kernelEntrySize`, accepted only with a zero tail (E2BIG). Empty array → EINVAL.
   */
  copyAll(expectedType: number, kernelEntrySize: number, op = 'user data array'): Uint8Array[] {
    if (this.type !== expectedType) throw fail('EINVAL', op, `data type 0x${this.type.toString(16)} is not 0x${expectedType.toString(16)}`)
    if (this.entryNum === 0) throw fail('EINVAL', op, 'empty array')
    const out: Uint8Array[] = []
    for (let i = 0; i < this.entryNum; i++) {
      out.push(copyExtensible(this.memory, this.uptr + BigInt(this.entryLen) * BigInt(i), this.entryLen, kernelEntrySize, 0, true, op))
    }
    return out
  }
}

/**
 * The extensible-struct copy every helper shares: read `userLen` bytes, zero-extend to
 * `kernelSize`. A longer user struct is either refused (EINVAL) or accepted with a zero tail
 * (else E2BIG), as the caller's rule says.
 */
export function copyExtensible(
  memory: UserMemory,
  uptr: bigint,
  userLen: number,
  kernelSize: number,
  minLen: number,
  allowZeroTail: boolean,
  op: string,
): Uint8Array {
  if (userLen < minLen) throw fail('EINVAL', op, `user struct of ${userLen} bytes is shorter than the minimum ${minLen}`)
  if (userLen > kernelSize && !allowZeroTail) throw fail('EINVAL', op, `user struct of ${userLen} bytes is longer than the kernel's ${kernelSize}`)
  const out = new Uint8Array(kernelSize)
  if (userLen === 0) return out
  const bytes = memory.read(uptr, userLen)
  if (userLen > kernelSize) {
    for (let i = kernelSize; i < userLen; i++) {
      if (bytes[i] !== 0) throw fail('E2BIG', op, `non-zero byte at offset ${i} beyond the kernel struct size ${kernelSize}`)
    }
  }
  out.set(bytes.subarray(0, Math.min(userLen, kernelSize)))
  return out
}
