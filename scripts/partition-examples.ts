/** Writes the partitioning examples (src/emu/hv/containers/scenarios.ts) to src/emu/scenario/examples/. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PARTITION_EXAMPLES, partitionScenario } from '../src/emu/hv/containers/scenarios.ts';

const dir = join(import.meta.dirname, '..', 'src', 'emu', 'scenario', 'examples');
for (const id of PARTITION_EXAMPLES) writeFileSync(join(dir, `${id}.json`), JSON.stringify(partitionScenario(id), null, 2) + '\n');
