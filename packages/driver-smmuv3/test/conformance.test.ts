import { describeIommuDriver } from '@iommu-sim/testkit'
import { IOMMU_HWPT_DATA_ARM_SMMUV3, IOMMU_VIOMMU_TYPE_ARM_SMMUV3 } from '@iommu-sim/core'
import { VEVENTQ_TYPE_ARM_SMMUV3, smmuv3Driver } from '../src/index.js'

const nesting = {
  viommuType: IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
  veventqType: VEVENTQ_TYPE_ARM_SMMUV3,
  // A guest STE with V = 1, Config = bypass (the guest's SMMU has translation off).
  nestedData: () => {
    const data = new Uint8Array(16)
    new DataView(data.buffer).setBigUint64(0, 0b1001n, true)
    return { dataType: IOMMU_HWPT_DATA_ARM_SMMUV3, data }
  },
}

describeIommuDriver('arm-smmu-v3 (one unit)', () => smmuv3Driver(), { nesting })
describeIommuDriver('arm-smmu-v3 (three units)', () => smmuv3Driver({ instances: 3 }), { nesting })
describeIommuDriver('arm-smmu-v3 (linear stream table, no range invalidation, no HTTU)', () => smmuv3Driver({ hardware: { twoLevelStreamTable: false, sidBits: 8, rangeInvalidation: false, httu: 0 } }), {
  skip: ['dirty-tracking'],
  nesting,
})
