import { describeIommuDriver } from '@iommu-sim/testkit'
import { IOMMU_HWPT_DATA_SELFTEST, IOMMU_TEST_IOTLB_DEFAULT, IOMMU_VEVENTQ_TYPE_SELFTEST, IOMMU_VIOMMU_TYPE_SELFTEST, mockDriver } from '../src/index.js'

const nesting = {
  viommuType: IOMMU_VIOMMU_TYPE_SELFTEST,
  veventqType: IOMMU_VEVENTQ_TYPE_SELFTEST,
  nestedData: () => {
    const data = new Uint8Array(8)
    new DataView(data.buffer).setUint32(0, IOMMU_TEST_IOTLB_DEFAULT, true)
    return { dataType: IOMMU_HWPT_DATA_SELFTEST, data }
  },
}

describeIommuDriver('mock (one unit)', () => mockDriver(), { nesting })
describeIommuDriver('mock (two units)', () => mockDriver({ instances: 2 }), { nesting })
