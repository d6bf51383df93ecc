/** UI strings of the Reference panel: the glossary and the sources of the figures (see ../messages.ts). English, and the same keys in Simplified Chinese. */

import { registerMessages } from '../messages.ts';

export const referenceEn = {
  'reference.heading': 'Reference',
  'reference.close': 'Close the reference',
  'glossary.heading': 'Glossary',
  'glossary.intro': 'The technical terms the lab uses, in English and Chinese, with a one-line definition in each and where the Chinese term is used, so that a native reader can check it.',
  'glossary.search': 'Search the glossary',
  'glossary.count': '{n} of {total} terms',
  'glossary.none': 'No term matches “{q}”.',
  'glossary.col.en': 'English',
  'glossary.col.zh': 'Chinese',
  'glossary.col.usage': 'Where the Chinese term is used',
  'glossary.usage.vendor': 'Vendor documentation',
  'glossary.usage.textbook': 'Textbook',
  'glossary.usage.common': 'Common usage (no named source checked)',
  'sources.heading': 'Sources of the figures',
  'sources.intro': 'Every figure a lesson quotes, with its source and how well it was verified. Figures that could not be verified are never stated as fact, so none is listed.',
  'sources.value': 'As the reference gives it',
  'sources.source': 'Source',
  'sources.grade': 'Verification',
  'sources.grade.verified': 'Verified: read in a primary or official source',
  'sources.grade.partly': 'Partly verified: secondary sources that quote the original',
  'sources.cite.verified': 'source: verified',
  'sources.cite.partly': 'source: partly verified',
  'sources.cite.label': 'Source of this figure: {source} ({grade})',
} as const;

export const referenceZh: Record<keyof typeof referenceEn, string> = {
  'reference.heading': '参考资料',
  'reference.close': '关闭参考资料',
  'glossary.heading': '术语表',
  'glossary.intro': '实验室使用的技术术语，中英对照，各附一句释义，并注明中文译名的使用出处，便于母语读者核对。',
  'glossary.search': '搜索术语表',
  'glossary.count': '共 {total} 个术语，显示 {n} 个',
  'glossary.none': '没有与“{q}”匹配的术语。',
  'glossary.col.en': '英文',
  'glossary.col.zh': '中文',
  'glossary.col.usage': '中文译名的使用出处',
  'glossary.usage.vendor': '厂商文档',
  'glossary.usage.textbook': '教材',
  'glossary.usage.common': '通行用法（未核对具体出处）',
  'sources.heading': '数据来源',
  'sources.intro': '课程引用的每一个数字，连同其来源和核实程度。未能核实的数字从不作为事实陈述，因此不在此列出。',
  'sources.value': '参考资料原文',
  'sources.source': '来源',
  'sources.grade': '核实程度',
  'sources.grade.verified': '已核实：读自一手或官方来源',
  'sources.grade.partly': '部分核实：来自转引原文的二手资料',
  'sources.cite.verified': '来源：已核实',
  'sources.cite.partly': '来源：部分核实',
  'sources.cite.label': '此数字的来源：{source}（{grade}）',
};

// Loaded with the part of the UI that uses these strings (a chunk of its own), not with the first screen.
registerMessages(referenceEn, referenceZh);
