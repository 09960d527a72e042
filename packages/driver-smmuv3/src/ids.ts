import { fail } from '@iommu-sim/core'

/** Lowest-free id allocator over [min, max] (Linux ida_alloc_range), ENOSPC when exhausted. */
export class IdAllocator {
  private readonly used = new Set<number>()
  constructor(
    readonly min: number,
    readonly max: number,
    private readonly what: string,
  ) {}
  alloc(): number {
    for (let id = this.min; id <= this.max; id++) {
      if (!this.used.has(id)) {
        this.used.add(id)
        return id
      }
    }
    throw fail('ENOSPC', this.what, `no free ${this.what}`)
  }
  free(id: number): void {
    this.used.delete(id)
  }
  get inUse(): number {
    return this.used.size
  }
}
