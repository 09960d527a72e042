import { describe, expect, it } from 'vitest'
import { ObjectTable } from '../src/objects/object-table.js'
import { IommufdObject, getRef, putRef } from '../src/objects/object.js'
import { IommufdError } from '../src/index.js'

class Obj extends IommufdObject {
  readonly type = 'IOAS' as const
  destroyed = 0
  destroy(): void {
    this.destroyed++
  }
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (e) {
    return IommufdError.is(e) ? e.code : 'not-an-IommufdError'
  }
  return undefined
}

describe('object table ids (reference §1.2)', () => {
  it('allocates ids from 1, never 0', () => {
    const t = new ObjectTable()
    expect(t.create('t', () => new Obj()).id).toBe(1)
    expect(t.create('t', () => new Obj()).id).toBe(2)
  })

  it('reuses the lowest free id first', () => {
    const t = new ObjectTable()
    const objs = [1, 2, 3, 4].map(() => t.create('t', () => new Obj()))
    t.destroyUser(2, 'd')
    t.destroyUser(3, 'd')
    expect(t.create('t', () => new Obj()).id).toBe(2)
    expect(t.create('t', () => new Obj()).id).toBe(3)
    expect(t.create('t', () => new Obj()).id).toBe(5)
    expect(objs[0]!.destroyed).toBe(0)
  })

  it('a reserved id is invisible to lookup and destroy (ENOENT) until published', () => {
    const t = new ObjectTable()
    const id = t.reserve('t')
    expect(codeOf(() => t.get(id, undefined, 'x'))).toBe('ENOENT')
    expect(codeOf(() => t.destroyUser(id, 'x'))).toBe('ENOENT')
    t.publish(id, new Obj())
    expect(t.get(id, 'IOAS', 'x').id).toBe(id)
  })

  it('a failed creation frees its reserved id', () => {
    const t = new ObjectTable()
    expect(() =>
      t.create('t', () => {
        throw new IommufdError('ENOMEM', 't', 'boom')
      }),
    ).toThrow(/ENOMEM/)
    expect(t.create('t', () => new Obj()).id).toBe(1)
  })

  it('lookup of 0, of a missing id and of the wrong type is ENOENT', () => {
    const t = new ObjectTable()
    t.create('t', () => new Obj())
    expect(codeOf(() => t.get(0, undefined, 'x'))).toBe('ENOENT')
    expect(codeOf(() => t.get(7, undefined, 'x'))).toBe('ENOENT')
    expect(codeOf(() => t.get(1, 'DEVICE', 'x'))).toBe('ENOENT')
  })

  it('destroy succeeds only at users == 1, else EBUSY; missing → ENOENT', () => {
    const t = new ObjectTable()
    const o = t.create('t', () => new Obj())
    getRef(o)
    expect(codeOf(() => t.destroyUser(o.id, 'd'))).toBe('EBUSY')
    expect(o.destroyed).toBe(0)
    putRef(o)
    t.destroyUser(o.id, 'd')
    expect(o.destroyed).toBe(1)
    expect(codeOf(() => t.destroyUser(o.id, 'd'))).toBe('ENOENT')
  })

  it('a tombstoned id is never reused and DESTROY of it is ENOENT until the context closes', () => {
    const t = new ObjectTable()
    const a = t.create('t', () => new Obj())
    t.create('t', () => new Obj())
    t.remove(a, true)
    expect(t.isTombstone(1)).toBe(true)
    expect(codeOf(() => t.destroyUser(1, 'd'))).toBe('ENOENT')
    expect(t.create('t', () => new Obj()).id).toBe(3)
    t.destroyAll()
    expect(t.create('t', () => new Obj()).id).toBe(1)
  })

  it('context close destroys leaves first, repeatedly, until nothing is left', () => {
    const t = new ObjectTable()
    const parent = t.create('t', () => new Obj())
    const order: number[] = []
    class Child extends Obj {
      override destroy(): void {
        order.push(this.id)
        putRef(parent)
      }
    }
    const child = t.create('t', () => new Child())
    getRef(parent)
    const origDestroy = parent.destroy.bind(parent)
    parent.destroy = () => {
      order.push(parent.id)
      origDestroy()
    }
    t.destroyAll()
    expect(order).toEqual([child.id, parent.id])
    expect(t.size).toBe(0)
  })
})
