/**
 * The worker's hypervisor part, a chunk of its own: the hypervisor's machine (which registers
 * itself with the scenario builder when it loads), ViewState.vm, ViewState.twod, ViewState.shadow and ViewState.io. `prepareLoad` (session.ts)
 * imports it before a scenario with a technique is loaded, so a bare scenario never downloads it.
 */
export { HvMachine } from '../emu/hv/hv-machine.ts';
export { hostVmView, vmFieldValues, vmView } from './vm-view.ts';
export { HostMachine } from '../emu/hv/host-machine.ts';
export { compareScenario } from '../emu/hv/compare.ts';
export { compareInterrupts, compareWays } from '../emu/hv/io-compare.ts';
export { compareTechniques } from '../emu/hv/technique-compare.ts';
export { stepTwoD } from './twod.ts';
export { stepShadow } from './shadow-view.ts';
export { answerPair } from './pair.ts';
export { generateNestedExercise } from '../emu/exercise/nested-exercise.ts';
export { generateShadowExercise } from '../emu/exercise/shadow-exercise.ts';
export { stepIo } from './io-view.ts';
export { dmaFrontier } from './dma-index.ts';
