import { ERRNO, negErrnoOrThrow } from '../errors/errno.js'
import { fail } from '../errors/iommufd-error.js'
import { Iommufd } from '../iommufd/context.js'
import { AddressSpace, PROT_READ, PROT_WRITE, type MmapOptions } from './address-space.js'
import { FileTable, OpenFile } from './files.js'
import type { Host } from './host.js'
import { IommufdFile, VfioDeviceFile } from './vfio.js'

export interface ProcessOptions {
  /** Root-like (CAP_SYS_RESOURCE, CAP_IPC_LOCK ...). Default true, as kernel selftests run. */
  readonly privileged?: boolean
}

/** The memory of a process, as the process itself sees it. */
export interface ProcessMemory {
  read(va: bigint | number, length: number): Uint8Array
  write(va: bigint | number, bytes: Uint8Array): void
}

/**
 * A user process on the host (a VMM, a test): its memory and its files. The syscall methods
 * return numbers like the kernel (a negative errno on failure) and never throw for bad input.
 */
export class Process {
  readonly privileged: boolean
  readonly addressSpace: AddressSpace
  readonly files = new FileTable()
  readonly memory: ProcessMemory

  constructor(
    readonly host: Host,
    readonly pid: number,
    options: ProcessOptions,
  ) {
    this.privileged = options.privileged ?? true
    this.addressSpace = new AddressSpace(host.frames, host.pageSize, host.hugePageSize)
    const space = this.addressSpace
    this.memory = {
      read: (va, length) => space.read(BigInt(va), length),
      write: (va, bytes) => space.write(BigInt(va), bytes),
    }
  }

  /**
   * Anonymous private memory, or — with `fd` — a shared mapping of a file's region (the vIOMMU
   * MMIO pages an iommufd exposes at `offset`). Returns the user VA; throws IommufdError like a
   * failed mmap (EBADF, EINVAL, ENXIO, EPERM).
   */
  mmap(length: bigint | number, options: MmapOptions & { readonly fd?: number; readonly offset?: bigint | number; readonly exec?: boolean } = {}): bigint {
    if (options.fd === undefined) return this.addressSpace.mmap(length, options)
    const file = this.files.get(options.fd)
    if (!(file instanceof IommufdFile)) throw fail('EBADF', 'mmap', `fd ${options.fd} cannot be mapped`)
    const { region, release } = file.ctx.mmapRegion(BigInt(options.offset ?? 0), Number(length), options.exec ?? false)
    return this.addressSpace.mmapDevice(region.pa, region.length, options.prot ?? PROT_READ | PROT_WRITE, release)
  }

  munmap(va: bigint | number, length: bigint | number): void {
    this.addressSpace.munmap(va, length)
  }

  /** open(2): '/dev/iommu' or a device's cdev path. Returns the fd or -ENOENT. */
  open(path: string): number {
    if (path === '/dev/iommu') return this.files.install(new IommufdFile(new Iommufd(this.host, this)))
    const dev = this.host.deviceByPath(path)
    if (dev !== undefined) return this.files.install(new VfioDeviceFile(dev))
    return -ERRNO.ENOENT
  }

  /** close(2): 0 or -EBADF. */
  close(fd: number): number {
    return this.files.close(fd) ? 0 : -ERRNO.EBADF
  }

  /** ioctl(2): updates `arg` in place as the kernel writes back; returns 0 / a result or -errno. */
  ioctl(fd: number, request: number, arg: Uint8Array): number {
    const file = this.files.get(fd)
    if (file === undefined) return -ERRNO.EBADF
    return guard(() => file.ioctl(this, request >>> 0, arg))
  }

  /** read(2) on event-queue files: the bytes read, or -errno. */
  read(fd: number, length: number): Uint8Array | number {
    const file = this.files.get(fd)
    if (file === undefined) return -ERRNO.EBADF
    return guard(() => file.read(this, length))
  }

  /** write(2) on event-queue files: bytes consumed, or -errno. */
  write(fd: number, bytes: Uint8Array): number {
    const file = this.files.get(fd)
    if (file === undefined) return -ERRNO.EBADF
    return guard(() => file.write(this, bytes))
  }

  /** The typed iommufd context behind an fd (opening one if no fd is given). */
  iommufd(fd?: number): Iommufd {
    const f = this.files.get(fd ?? this.open('/dev/iommu'))
    if (!(f instanceof IommufdFile)) throw fail('EBADF', 'iommufd', `fd ${String(fd)} is not an iommufd`)
    return f.ctx
  }

  /** The open VFIO device file behind an fd. */
  vfioDevice(fd: number): VfioDeviceFile {
    const f = this.files.get(fd)
    if (!(f instanceof VfioDeviceFile)) throw fail('EBADF', 'vfio', `fd ${fd} is not a VFIO device`)
    return f
  }

  /** Installs a file made by the kernel side (event queues, access fds). */
  installFile(file: OpenFile): number {
    return this.files.install(file)
  }

  /** Process exit: drop all memory, then close every file (Linux: exit_mm before exit_files). */
  exit(): void {
    this.addressSpace.clear()
    this.files.closeAll()
  }
}

/** Syscalls never throw for bad input: errno-coded errors become -errno; anything else is a simulator bug. */
function guard<T>(fn: () => T): T | number {
  try {
    return fn()
  } catch (e) {
    return negErrnoOrThrow(e)
  }
}
