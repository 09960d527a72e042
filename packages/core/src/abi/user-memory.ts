/**
 * The calling process's memory as the ABI layer copies to and from it (copy_from_user /
 * copy_to_user / clear_user). Pointers inside structs are virtual addresses of that process;
 * anything unmapped is EFAULT.
 */
import { fail } from '../errors/iommufd-error.js'
import type { UserMemory } from '../driver/user-data.js'
import type { AddressSpace } from '../host/address-space.js'

/**
 * Largest single copy the model stages (the kernel's temporary buffers come from kmalloc /
 * kvmalloc, whose failure for absurd sizes is ENOMEM). Copies beyond it fail with ENOMEM.
 */
export const USER_COPY_LIMIT = 64 * 1024 * 1024

const ZERO_CHUNK = 64 * 1024

/** A process address space behind the UserMemory interface drivers already use. */
export class ProcessUserMemory implements UserMemory {
  constructor(readonly space: AddressSpace) {}

  /** True when every byte of [va, va + length) is mapped. */
  mapped(va: bigint, length: bigint): boolean {
    if (length === 0n) return true
    if (va < 0n || va + length > 1n << 64n) return false
    return this.space.isMapped(va, length)
  }

  read(va: bigint, length: number): Uint8Array {
    if (length > USER_COPY_LIMIT) throw fail('ENOMEM', 'copy_from_user', `a ${length}-byte copy is beyond what the kernel would allocate`)
    if (!this.mapped(va, BigInt(length))) throw fail('EFAULT', 'copy_from_user', `bad address [0x${va.toString(16)}, +${length})`)
    return this.space.read(va, length)
  }

  write(va: bigint, bytes: Uint8Array): void {
    if (!this.mapped(va, BigInt(bytes.length))) throw fail('EFAULT', 'copy_to_user', `bad address [0x${va.toString(16)}, +${bytes.length})`)
    this.space.write(va, bytes)
  }

  /** clear_user: zero [va, va + length), chunk by chunk (EFAULT before writing if unmapped). */
  clear(va: bigint, length: bigint): void {
    if (length === 0n) return
    if (!this.mapped(va, length)) throw fail('EFAULT', 'clear_user', `bad address [0x${va.toString(16)}, +${length})`)
    const zeros = new Uint8Array(ZERO_CHUNK)
    for (let off = 0n; off < length; off += BigInt(ZERO_CHUNK)) {
      const n = length - off < BigInt(ZERO_CHUNK) ? Number(length - off) : ZERO_CHUNK
      this.space.write(va + off, zeros.subarray(0, n))
    }
  }

  u32(va: bigint): number {
    const b = this.read(va, 4)
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true)
  }
}
