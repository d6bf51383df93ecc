/**
 * The timeline in words, in both languages: each kind of mark's detail, groups, plural forms, and
 * the summary of a real run (the page-fault example) that is the diagram's text alternative.
 */
import { describe, expect, it } from 'vitest';
import pageFault from '../../emu/scenario/examples/page-fault.json' with { type: 'json' };
import { MARK_KINDS, VECTOR_STEPS, type DmaMark, type Mark, type MsiMark } from '../../emu/trace/marks.ts';
import { InThreadClient } from '../../worker/in-thread.ts';
import type { Json } from '../../worker/protocol.ts';
import { translator } from '../cpu/text.ts';
import { charText, countText, describeGroup, describeMark, exceptionWhat, kindName, laneName, summaryText } from './describe.ts';
import { noCounts, shownGroups } from './layout.ts';

/** A DMA request the tests vary. */
const DMA: DmaMark = { kind: 'iommu/dma', step: 7, vm: 1, bus: 'host', access: 'read', what: null, iova: 0x200000n, length: 16, iotlbHit: false, fault: null, ok: true, remapped: true };

/** An interrupt message the tests vary. */
const MSI: MsiMark = { kind: 'iommu/msi', step: 9, vm: 1, bus: 'host', outcome: 'remapped', index: 1, vector: 0x61, delivered: true, fault: null };

const en = translator('en');
const zh = translator('zh-CN');

const MARKS: [Mark, string, string][] = [
  [{ kind: 'ring/change', step: 5, from: 3, to: 0, cause: 'syscall' }, 'SYSCALL: ring 3 → ring 0', 'SYSCALL 系统调用：特权级 3 → 特权级 0'],
  [{ kind: 'ring/change', step: 5, from: 3, to: 0, cause: 'interrupt', vector: 32 }, 'interrupt 0x20 (timer): ring 3 → ring 0', '中断 0x20（定时器）：特权级 3 → 特权级 0'],
  [
    { kind: 'cpu/exception', step: 1, vector: 14, errorCode: 6, cr2: 0x40080000n },
    '#PF (page fault) at 0x40080000: user write to a non-present page',
    '#PF（缺页异常），地址 0x40080000：用户态写入不存在的页',
  ],
  [{ kind: 'cpu/exception', step: 1, vector: 13, errorCode: 0x18 }, '#GP (general protection), error code 0x18', '#GP（一般保护错误），错误码 0x18'],
  [{ kind: 'cpu/exception', step: 1, vector: 6, errorCode: -1 }, '#UD (invalid opcode)', '#UD（无效操作码）'],
  [{ kind: 'cpu/exception', step: 1, vector: 16, errorCode: -1 }, '#MF (vector 16)', '#MF（向量号 16）'],
  [{ kind: 'cpu/interrupt', step: 2000, vector: 32, source: 'external' }, 'Timer interrupt, vector 0x20', '定时器中断，向量号 0x20'],
  [{ kind: 'cpu/interrupt', step: 9, vector: 0x80, source: 'software' }, 'Software interrupt INT 0x80', '软件中断 INT 0x80'],
  [{ kind: 'io/port', step: 9, dir: 'out', port: 0x3f8, size: 1, value: 0x54 }, "OUT to the UART (port 0x3f8): 'T'", "向 UART（端口 0x3f8）输出（OUT）：'T'"],
  [{ kind: 'io/port', step: 9, dir: 'out', port: 0x3f8, size: 1, value: 10 }, 'OUT to the UART (port 0x3f8): \\n', '向 UART（端口 0x3f8）输出（OUT）：\\n'],
  [{ kind: 'io/port', step: 9, dir: 'out', port: 0x80, size: 2, value: 0x1234 }, 'OUT 0x1234 to port 0x80', '向端口 0x80 输出 0x1234（OUT）'],
  [{ kind: 'io/port', step: 9, dir: 'in', port: 0x3fd, size: 1, value: 0xff }, 'IN from port 0x3fd', '从端口 0x3fd 读入（IN）'],
  [{ kind: 'tlb/flush', step: 23, cause: 'invlpg', scope: 'page', linear: 0x40080000n }, 'TLB flush by INVLPG: the page at 0x40080000', 'INVLPG 指令引起的 TLB 刷新：0x40080000 所在的页'],
  [{ kind: 'tlb/flush', step: 23, cause: 'mov-cr3', scope: 'non-global' }, 'TLB flush by MOV to CR3: all but global entries', '写 CR3（MOV）引起的 TLB 刷新：除全局表项外的全部表项'],
  [{ kind: 'tlb/flush', step: 23, cause: 'invpcid', scope: 'pcid', pcid: 5 }, 'TLB flush by INVPCID: the entries of PCID 5', 'INVPCID 指令引起的 TLB 刷新：PCID 5 的表项'],
  [{ kind: 'cpu/halt', step: 300 }, 'HLT: the processor halts', 'HLT：处理器停机'],
  [{ kind: 'cpu/triple-fault', step: 300 }, 'Triple fault: the processor shuts down', '三重故障：处理器关机'],
  [{ kind: 'vm/exit', step: 3, vm: 0, vendor: 'intel', code: 10 }, 'VM exit of VM 0: CPUID (reason 10)', '虚拟机 0 的 VM 退出：CPUID（原因 10）'],
  [{ kind: 'vm/exit', step: 6, vm: 1, vendor: 'amd', code: 0x7b }, 'VM exit of VM 1: VMEXIT_IOIO (EXITCODE 0x7b)', '虚拟机 1 的 VM 退出：VMEXIT_IOIO（EXITCODE 0x7b）'],
  [{ kind: 'vm/end', step: 9, vm: 0, why: 'hlt' }, 'VM 0 ended (hlt)', '虚拟机 0 已结束（hlt）'],
  [
    { ...DMA, what: 'data', iova: 0x210000n, length: 342, remapped: true, iotlbHit: true },
    'VM 1’s assigned device read 342 bytes at 0x210000 (data buffer): translated by the IOMMU (IOTLB hit)',
    '虚拟机 1 的直通设备从 0x210000 读取 342 字节（数据缓冲区）：经 IOMMU 翻译（IOTLB 命中）',
  ],
  [
    { ...DMA, vm: 0, access: 'write', what: 'ring', iova: 0x201008n, length: 8, remapped: false },
    'VM 0’s assigned device wrote 8 bytes at 0x201008 (descriptor ring): no IOMMU, the address reached host memory unchanged',
    '虚拟机 0 的直通设备向 0x201008 写入 8 字节（描述符环）：没有 IOMMU，地址原样到达宿主机内存',
  ],
  [
    { ...DMA, bus: 'vm', vm: 0, iova: 0x210000n, length: 64, what: 'data' },
    'The hypervisor’s device model for VM 0 read 64 bytes at 0x210000 (data buffer): copied by the hypervisor',
    '虚拟机监控器为虚拟机 0 模拟的设备从 0x210000 读取 64 字节（数据缓冲区）：由虚拟机监控器复制',
  ],
  [
    { ...DMA, vm: 0, what: 'data', iova: 0xb00000n, length: 355, ok: false, fault: { vendor: 'vtd', reason: 6, recorded: true } },
    'VM 0’s assigned device read 355 bytes at 0xb00000 (data buffer): blocked, VT-d fault reason 6',
    '虚拟机 0 的直通设备从 0xb00000 读取 355 字节（数据缓冲区）：被阻止，VT-d 故障原因 6',
  ],
  [
    { ...DMA, vm: 0, iova: 0xb00000n, length: 4, ok: false, fault: { vendor: 'amd-vi', code: 2, logged: true } },
    'VM 0’s assigned device read 4 bytes at 0xb00000: blocked, AMD-Vi event IO_PAGE_FAULT',
    '虚拟机 0 的直通设备从 0xb00000 读取 4 字节：被阻止，AMD-Vi 事件 IO_PAGE_FAULT',
  ],
  [
    { ...DMA, iova: 1n << 60n, ok: false, fault: { vendor: 'none', reason: 'beyond-host' } },
    'VM 1’s assigned device read 16 bytes at 0x1000000000000000: blocked, beyond the host’s address space',
    '虚拟机 1 的直通设备从 0x1000000000000000 读取 16 字节：被阻止，超出宿主机的地址空间',
  ],
  [
    { ...DMA, bus: 'vm', ok: false, fault: { vendor: 'hv', reason: 'not-guest-ram' } },
    'The hypervisor’s device model for VM 1 read 16 bytes at 0x200000: blocked, not the VM’s memory',
    '虚拟机监控器为虚拟机 1 模拟的设备从 0x200000 读取 16 字节：被阻止，不是该虚拟机的内存',
  ],
  [
    MSI,
    'VM 1’s assigned device sent an MSI: interrupt remapping entry 1 sent vector 0x61 to the CPU',
    '虚拟机 1 的直通设备发出 MSI：中断重映射表项 1 把向量 0x61 发给 CPU',
  ],
  [
    { ...MSI, outcome: 'posted', vector: 0x41 },
    'VM 1’s assigned device sent an MSI: interrupt remapping entry 1 posted vector 0x41 in the vCPU’s descriptor',
    '虚拟机 1 的直通设备发出 MSI：中断重映射表项 1 把向量 0x41 记入 vCPU 的描述符（中断投递）',
  ],
  [
    { ...MSI, vm: 0, bus: 'vm', outcome: 'direct', index: null, vector: 0x41 },
    'The hypervisor’s device model for VM 0 sent vector 0x41 to VM 0’s virtual local APIC',
    '虚拟机监控器为虚拟机 0 模拟的设备把向量 0x41 发给虚拟机 0 的虚拟本地 APIC',
  ],
  [
    { ...MSI, outcome: 'blocked', delivered: false, fault: { vendor: 'vtd', reason: 0x22, recorded: true } },
    'VM 1’s assigned device sent an MSI: blocked by interrupt remapping, VT-d fault reason 0x22',
    '虚拟机 1 的直通设备发出 MSI：被中断重映射阻止，VT-d 故障原因 0x22',
  ],
];

describe('each mark in words', () => {
  it.each(MARKS)('%o', (m, english, chinese) => {
    expect(describeMark(m, en, 'en')).toBe(english);
    expect(describeMark(m, zh, 'zh-CN')).toBe(chinese);
  });

  it('every kind has a lane name, a kind name and (but exceptions) count phrases in both languages', () => {
    for (const k of MARK_KINDS) {
      for (const t of [en, zh]) {
        expect(laneName(k, t)).not.toMatch(/^timeline\./);
        expect(kindName(k, t)).not.toMatch(/^timeline\./);
        if (k !== 'cpu/exception') {
          expect(countText(k, 1, t)).toContain('1');
          expect(countText(k, 7, t)).toContain('7');
        }
      }
    }
    expect(countText('ring/change', 1, en)).toBe('1 ring change');
    expect(countText('ring/change', 2, en)).toBe('2 ring changes');
    expect(countText('io/port', 2, zh)).toBe('2 次端口 I/O');
  });

  it('a group says how many, over the steps that show them, and what the first was', () => {
    const [g] = shownGroups([{ mark: MARKS[6]![0], count: 12, last: 24_000 }], 30_000);
    expect(describeGroup(g!, en, 'en')).toBe('12 interrupts from step 2000 to 24000; the first: Timer interrupt, vector 0x20');
    expect(describeGroup(g!, zh, 'zh-CN')).toBe('第 2000 步至第 24000 步共 12 次中断；第一个：定时器中断，向量号 0x20');
    const [pf] = shownGroups([{ mark: MARKS[2]![0], count: 3, last: 90 }], 100);
    expect(describeGroup(pf!, en, 'en')).toMatch(/^3 × #PF \(page fault\) from step 2 to 91; the first: #PF/);
    expect(describeGroup({ ...g!, group: { ...g!.group, count: 1 } }, en, 'en')).toBe('Timer interrupt, vector 0x20');
  });

  it('a group of blocked DMA requests says they were blocked; one of requests made does not', () => {
    const blocked: DmaMark = { ...DMA, ok: false, fault: { vendor: 'vtd', reason: 5, recorded: true } };
    const [b] = shownGroups([{ mark: blocked, count: 3, last: 40 }], 100);
    expect(describeGroup(b!, en, 'en')).toBe('3 DMA requests blocked from step 8 to 41; the first: VM 1’s assigned device read 16 bytes at 0x200000: blocked, VT-d fault reason 5');
    expect(describeGroup(b!, zh, 'zh-CN')).toMatch(/^第 8 步至第 41 步共 3 次 DMA 请求被阻止；第一个：/);
    const [ok] = shownGroups([{ mark: DMA, count: 2, last: 9 }], 100);
    expect(describeGroup(ok!, en, 'en')).toMatch(/^2 DMA requests from step 8 to 10; /);
  });

  it('UART bytes print as the character, an escape, or hex', () => {
    expect([0x41, 10, 13, 0x7f, 0x1b, 0x120].map(charText)).toEqual(["'A'", '\\n', '\\r', '0x7f', '0x1b', "' '"]);
    expect(exceptionWhat(14, en)).toBe('#PF (page fault)');
  });
});

describe('the summary', () => {
  it('of the page-fault example: every kind with marks, the #PF with its step', async () => {
    const c = new InThreadClient();
    const r = await c.load(pageFault as Json);
    if (!r.ok) throw new Error('the example does not load');
    const v = await c.goto(63);
    const m = await c.marks(0, v.furthest, 400, 10);
    expect(summaryText(m, v.furthest, en)).toBe(
      'Steps 0 to 63: 3 ring changes, 1 exception #PF (page fault) at step 2, 1 interrupt, 3 port I/O accesses, 1 TLB flush.',
    );
    expect(summaryText(m, v.furthest, zh)).toBe('第 0 步至第 63 步：3 次特权级切换，1 次异常 #PF（缺页异常），在第 2 步，1 次中断，3 次端口 I/O，1 次 TLB 刷新。');
  });

  it('lists the first steps of a frequent exception and says there are more', () => {
    const steps = [3, 9, 27];
    const r = { total: 5, dmaBlocked: 0, counts: { ...noCounts(), 'cpu/exception': 5 }, exceptions: [{ vector: 13, count: 5, steps }] };
    expect(steps).toHaveLength(VECTOR_STEPS);
    expect(summaryText(r, 100, en)).toBe('Steps 0 to 100: 5 exceptions #GP (general protection) at steps 4, 10, 28 and later.');
    expect(summaryText(r, 100, zh)).toBe('第 0 步至第 100 步：5 次异常 #GP（一般保护错误），在第 4、10、28 步及以后。');
    const two = { total: 2, dmaBlocked: 0, counts: { ...noCounts(), 'cpu/exception': 2 }, exceptions: [{ vector: 13, count: 2, steps: [3, 9] }] };
    expect(summaryText(two, 100, en)).toBe('Steps 0 to 100: 2 exceptions #GP (general protection) at steps 4, 10.');
    expect(summaryText({ total: 0, dmaBlocked: 0, counts: noCounts(), exceptions: [] }, 0, en)).toBe('Steps 0 to 0: no events.');
  });

  it('counts DMA requests, and says how many were blocked', () => {
    const r = { total: 13, dmaBlocked: 1, counts: { ...noCounts(), 'iommu/dma': 12, 'vm/exit': 1 }, exceptions: [] };
    expect(summaryText(r, 50, en)).toBe('Steps 0 to 50: 1 VM exit, 12 DMA requests (1 of them blocked).');
    expect(summaryText(r, 50, zh)).toBe('第 0 步至第 50 步：1 次 VM 退出，12 次 DMA 请求（其中 1 次被阻止）。');
    expect(summaryText({ ...r, dmaBlocked: 0 }, 50, en)).toBe('Steps 0 to 50: 1 VM exit, 12 DMA requests.');
  });
});
