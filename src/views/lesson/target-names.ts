/** The names of the view elements lessons point at (`data-lesson-target` values), in the student's language. */
import '../../i18n/parts/lesson.ts';
import type { Tr } from '../cpu/text.ts';

export function targetName(id: string, t: Tr): string {
  if (id === 'ring') return t('lesson.target.ring');
  if (id === 'code') return t('lesson.target.code');
  if (id === 'registers') return t('lesson.target.registers');
  if (id === 'walk') return t('lesson.target.walk');
  if (id === 'tlb') return t('lesson.target.tlb');
  if (id === 'vm-planes') return t('lesson.target.vmPlanes');
  if (id === 'vm-inspector') return t('lesson.target.vmInspector');
  if (id === 'vm-charts') return t('lesson.target.vmCharts');
  if (id === 'nested-walk') return t('lesson.target.nestedWalk');
  if (id === 'shadow') return t('lesson.target.shadow');
  if (id === 'iommu') return t('lesson.target.iommu');
  if (id === 'bt') return t('lesson.target.bt');
  if (id === 'device-ring') return t('lesson.target.deviceRing');
  if (id === 'io-ways') return t('lesson.target.ioWays');
  if (id === 'techniques') return t('lesson.target.techniques');
  if (id === 'pv-diff') return t('lesson.target.pvDiff');
  if (id === 'hosting') return t('lesson.target.hosting');
  if (id === 'containers') return t('lesson.target.containers');
  if (id.startsWith('exit-')) return t('lesson.target.exitField', { name: id.slice(5) });
  if (id.startsWith('walk-')) return t('lesson.target.entry', { level: id.slice(5).toUpperCase() });
  if (id.startsWith('reg-')) return t('lesson.target.reg', { name: id.slice(4).toUpperCase() });
  return id;
}
