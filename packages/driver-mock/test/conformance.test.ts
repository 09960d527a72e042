import { mockDriver } from '../src/index.js'
import { describeIommuDriver } from '@iommu-sim/testkit'

describeIommuDriver('mock (one unit)', () => mockDriver())
describeIommuDriver('mock (two units)', () => mockDriver({ instances: 2 }))
