import { fail } from '../errors/iommufd-error.js'
import type { IommufdObject, ObjectType } from './object.js'

const RESERVED = Symbol('reserved')
const TOMBSTONE = Symbol('tombstone')
type Slot = IommufdObject | typeof RESERVED | typeof TOMBSTONE | undefined

/** IDs are u32 from 1 with a 31-bit limit, as the kernel's xarray allocator. */
export const MAX_OBJECT_ID = 0x7fff_ffff

/**
 * The object table of one iommufd context (the kernel's `ictx->objects` xarray): IDs from 1,
 * lowest free first, reserved while an object is being built (invisible to lookups and
 * DESTROY), tombstoned after a forced vDEVICE destroy until the context closes.
 */
export class ObjectTable {
  private slots: Slot[] = [undefined]

  /** Reserves the lowest free ID ≥ 1. */
  reserve(op: string): number {
    for (let id = 1; id < this.slots.length; id++) {
      if (this.slots[id] === undefined) {
        this.slots[id] = RESERVED
        return id
      }
    }
    const id = this.slots.length
    if (id > MAX_OBJECT_ID) throw fail('EBUSY', op, 'object ID space exhausted')
    this.slots.push(RESERVED)
    return id
  }

  /** Publishes a built object at its reserved ID. */
  publish(id: number, obj: IommufdObject): void {
    if (this.slots[id] !== RESERVED) throw new Error(`iommufd: publish of unreserved id ${id}`)
    obj.id = id
    this.slots[id] = obj
  }

  /** Gives a reserved ID back (creation failed). */
  abandon(id: number): void {
    if (this.slots[id] === RESERVED) this.slots[id] = undefined
    this.trim()
  }

  /**
   * Reserves an ID, builds the object and publishes it; if `build` throws, the ID is freed and
   * nothing is left behind (the creation protocol of main.c: reserve → init → publish).
   */
  create<T extends IommufdObject>(op: string, build: (id: number) => T): T {
    const id = this.reserve(op)
    let obj: T
    try {
      obj = build(id)
    } catch (e) {
      this.abandon(id)
      throw e
    }
    this.publish(id, obj)
    return obj
  }

  /** Lookup by ID and, optionally, type; unused / reserved / tombstoned / wrong type / dying → ENOENT. */
  get<T extends IommufdObject = IommufdObject>(id: number, type: ObjectType | readonly ObjectType[] | undefined, op: string): T {
    const slot = Number.isInteger(id) && id > 0 ? this.slots[id] : undefined
    if (slot === undefined || slot === RESERVED || slot === TOMBSTONE || slot.users === 0) {
      throw fail('ENOENT', op, `no object with id ${id}`)
    }
    if (type !== undefined && (typeof type === 'string' ? slot.type !== type : !type.includes(slot.type))) {
      throw fail('ENOENT', op, `object ${id} is a ${slot.type}, not ${typeof type === 'string' ? type : type.join(' or ')}`)
    }
    return slot as T
  }

  /** Like get() but returns undefined instead of throwing. */
  find(id: number): IommufdObject | undefined {
    const slot = this.slots[id]
    return slot === undefined || slot === RESERVED || slot === TOMBSTONE ? undefined : slot
  }

  /**
   * IOMMU_DESTROY: only when nothing but the table holds the object (users == 1): removes it and
   * runs its destroy routine. Missing → ENOENT, referenced → EBUSY. Never cascades.
   */
  destroyUser(id: number, op: string): void {
    const obj = this.get(id, undefined, op)
    if (obj.users > 1) throw fail('EBUSY', op, `${obj.type} ${id} is still in use (${obj.users - 1} reference(s))`)
    this.remove(obj, false)
  }

  /**
   * Removes an object the kernel itself destroys (auto HWPT, unbound device, forced vDEVICE):
   * requires users == 1 after the caller dropped its references. With `tombstone`, the ID stays
   * reserved until the context closes.
   */
  remove(obj: IommufdObject, tombstone: boolean): void {
    if (this.slots[obj.id] !== obj) throw new Error(`iommufd: ${obj.type} ${obj.id} is not in the table`)
    if (obj.users !== 1) throw new Error(`iommufd: removing ${obj.type} ${obj.id} with ${obj.users} users`)
    this.slots[obj.id] = tombstone ? TOMBSTONE : undefined
    obj.users = 0
    obj.destroy()
    this.trim()
  }

  /** Present objects in ID order. */
  *objects(): IterableIterator<IommufdObject> {
    for (const s of this.slots) if (s !== undefined && s !== RESERVED && s !== TOMBSTONE) yield s
  }

  get size(): number {
    let n = 0
    for (const _ of this.objects()) n++
    return n
  }

  /** True when no id is in use at all: no object, reservation or tombstone (xa_empty). */
  get isEmpty(): boolean {
    return this.slots.length <= 1
  }

  isTombstone(id: number): boolean {
    return this.slots[id] === TOMBSTONE
  }

  /** Context close: repeatedly destroy every object with users == 1 until none is left. */
  destroyAll(): void {
    for (;;) {
      let destroyed = 0
      let present = 0
      for (const obj of [...this.objects()]) {
        present++
        if (obj.users === 1 && this.slots[obj.id] === obj) {
          this.remove(obj, false)
          destroyed++
        }
      }
      if (present === 0 || destroyed === 0) break
    }
    this.slots = this.slots.map((s) => (s === TOMBSTONE ? undefined : s))
    this.trim()
  }

  private trim(): void {
    while (this.slots.length > 1 && this.slots[this.slots.length - 1] === undefined) this.slots.pop()
  }
}
