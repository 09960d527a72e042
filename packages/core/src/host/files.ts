import { ERRNO } from '../errors/errno.js'
import type { Process } from './process.js'

/**
 * An open file of a simulated process (`struct file` + its file_operations). Methods return
 * byte results or a negative errno, like the syscalls; they never throw for bad input.
 */
export abstract class OpenFile {
  abstract readonly kind: string
  /** Files that share this one (dup / fork) — released when the last goes. */
  refs = 1

  ioctl(_proc: Process, _request: number, _arg: Uint8Array): number {
    return -ERRNO.ENOTTY
  }
  read(_proc: Process, _length: number): Uint8Array | number {
    return -ERRNO.EINVAL
  }
  write(_proc: Process, _bytes: Uint8Array): number {
    return -ERRNO.EINVAL
  }
  /** Last close. */
  abstract release(): void
}

/** The file table of a process: lowest free fd from 3 (0–2 are stdio), as Linux allocates. */
export class FileTable {
  private readonly files = new Map<number, OpenFile>()

  install(file: OpenFile): number {
    let fd = 3
    while (this.files.has(fd)) fd++
    this.files.set(fd, file)
    return fd
  }

  get(fd: number): OpenFile | undefined {
    return this.files.get(fd)
  }

  close(fd: number): boolean {
    const f = this.files.get(fd)
    if (f === undefined) return false
    this.files.delete(fd)
    if (--f.refs === 0) f.release()
    return true
  }

  closeAll(): void {
    // Close in descending fd order so device files (opened after /dev/iommu) go first.
    for (const fd of [...this.files.keys()].sort((a, b) => b - a)) this.close(fd)
  }

  get fds(): number[] {
    return [...this.files.keys()]
  }
}
