import { describe, expect, it } from 'vitest'
import { createHost, DmaFault } from '@iommu-sim/core'
import { mockDriver } from '../src/index.js'

describe('smoke', () => {
  it('maps, attaches, DMAs', () => {
    const host = createHost({ drivers: [mockDriver()], memory: { bytes: 64 << 20 } })
    const dev = host.addDevice({ iommu: host.iommus[0]!, id: 0x10 })
    const proc = host.createProcess()
    const ictx = proc.iommufd()
    const buf = proc.mmap(0x10000)
    proc.memory.write(buf, new TextEncoder().encode('hello'))
    const { outIoasId } = ictx.ioasAlloc()
    const vfd = proc.open(dev.cdevPath)
    const vf = proc.vfioDevice(vfd)
    const devId = vf.bind(ictx)
    const hwptId = vf.attach(outIoasId)
    const { iova } = ictx.ioasMap({ ioasId: outIoasId, userVa: buf, length: 0x10000 })
    expect(devId).toBe(2)
    expect(hwptId).toBe(3)
    expect(new TextDecoder().decode(dev.dmaRead(iova, 5))).toBe('hello')
    dev.dmaWrite(iova + 0x100n, new Uint8Array([1, 2, 3]))
    expect([...proc.memory.read(buf + 0x100n, 3)]).toEqual([1, 2, 3])
    expect(ictx.ioasIovaRanges({ ioasId: outIoasId })).toEqual({ numIovas: 1, allowedIovas: [{ start: 0x100_0000n, last: 0x7fff_ffffn }], outIovaAlignment: 2048n })
    ictx.ioasUnmap({ ioasId: outIoasId, iova, length: 0x10000 })
    expect(() => dev.dmaRead(iova, 4)).toThrow(DmaFault)
    vf.detach()
    expect(ictx.snapshot().objects.map((o) => o.type)).toEqual(['IOAS', 'DEVICE'])
  })
})
