export { codeOf, describeIommuDriver, type DescribeIommuDriverOptions, type DriverCapability, type NestingOptions } from './describe-iommu-driver.js'
export { StructBuffer } from './abi/struct-buffer.js'
