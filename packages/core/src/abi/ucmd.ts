/**
 * One ioctl call as a command handler sees it (the kernel's `struct iommufd_ucmd`): the kernel
 * copy of the user struct, the caller, and the write-back.
 */
import { copyExtensible, BufferUserMemory } from '../driver/user-data.js'
import type { Iommufd } from '../iommufd/context.js'
import type { Process } from '../host/process.js'
import { StructView, type StructLayout } from './layout.js'
import { ProcessUserMemory } from './user-memory.js'

/**
 * copy_struct_from_user of the extensible-struct convention: the user's `usize` bytes at the
 * ioctl argument, zero-extended to the kernel's struct, or accepted when longer only if every
 * extra byte is zero (E2BIG). Bytes the argument does not hold are unmapped memory (EFAULT).
 * Reuses the one implementation of these rules (driver/user-data.ts copyExtensible).
 */
export function copyStructFromUser(arg: Uint8Array, usize: number, kernelSize: number, minSize: number, op: string): Uint8Array {
  return copyExtensible(new BufferUserMemory(arg, 0n), 0n, usize, kernelSize, minSize, true, op)
}

export class Ucmd<F extends string = string> {
  /** The kernel's copy of the struct (kernel size, zero-extended). */
  readonly cmd: StructView<F>
  private mem: ProcessUserMemory | undefined
  responded = false

  constructor(
    readonly ctx: Iommufd,
    readonly proc: Process,
    /** The user's struct (the ioctl argument), updated in place by respond(). */
    readonly arg: Uint8Array,
    /** The `size` the user passed. */
    readonly userSize: number,
    readonly layout: StructLayout<F>,
    kernelCopy: Uint8Array,
  ) {
    this.cmd = new StructView(layout, kernelCopy)
  }

  /** The calling process's memory, for the pointers inside the struct. */
  get memory(): ProcessUserMemory {
    this.mem ??= new ProcessUserMemory(this.proc.addressSpace)
    return this.mem
  }

  /**
   * iommufd_ucmd_respond: copies min(user size, kernel size) bytes of the kernel struct back to
   * the user. Bytes beyond the kernel struct are left untouched.
   */
  respond(): void {
    const n = Math.min(this.userSize, this.layout.size)
    this.arg.set(this.cmd.bytes.subarray(0, n), 0)
    this.responded = true
  }
}
