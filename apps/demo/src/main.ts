import { runMockScenario } from './scenario.js'

const result = runMockScenario()
for (const line of result.lines) console.log(line)
if (!result.faultedAfterUnmap) {
  console.error('demo: expected the DMA after UNMAP to fault')
  process.exit(1)
}
