export { describeIommuDriver, type DescribeIommuDriverOptions, type DriverCapability } from './describe-iommu-driver.js'
