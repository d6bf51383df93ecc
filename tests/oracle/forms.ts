/**
 * One small program for every instruction form issue 2 lists, to run under an oracle and in the
 * lab. Each body runs after a prologue that loads a GDT, TSS and IDT (gen/descriptors.ts) and
 * seeds the registers; an exception ends the run in `handler`, which pops the vector into rbx and
 * the error code into rcx and halts, so faults are compared too.
 *
 * `oracle` says which implementation checks the form: KVM, or QEMU's TCG where KVM's emulator on
 * these machines cannot run it (INT n, INT3, INTO, 32-bit IRETD, LAR/LSL/VERR/VERW). `flags` is
 * the mask of RFLAGS bits the form leaves defined (SDM Vol. 2, "Flags Affected").
 */
import { descriptorData, descriptorSetup } from './gen/descriptors.ts';

export type FormMode = 'prot32' | 'long64';

export interface Form {
  name: string;
  modes: FormMode[];
  body: string;
  oracle: 'kvm' | 'qemu';
  flags?: number;
}

const ALL = 0xffffffff;
const CF = 1, PF = 4, AF = 16, ZF = 64, SF = 128, OF = 2048;
const ARITH = CF | PF | AF | ZF | SF | OF;
/** Every flag except the given arithmetic ones. */
const but = (undef: number) => (ALL & ~undef) >>> 0;
const both: FormMode[] = ['prot32', 'long64'];
const p32: FormMode[] = ['prot32'];
const l64: FormMode[] = ['long64'];

/** Makes the start state's identity map user-accessible (U/S in PML4E, PDPTE, PDE) so ring 3 code can run. */
const USER64 = 'or dword [0x1000], 4\nor dword [0x2000], 4\nor dword [0x3000], 4\nmov rax, cr3\nmov cr3, rax\n';

/**
 * A second 64-bit TSS (selector 0x38) at the same base, with an I/O permission bitmap at offset
 * 0x68 covering ports 0-0x3ff: every port denied except 0x80 (SDM Vol. 1, 19.5.2). LTR loads it.
 */
const IOBITMAP_TSS = [
  'mov word [0xc66], 0x68',
  'mov edi, 0xc68',
  'mov ecx, 0x81',
  'mov al, 0xff',
  'rep stosb',
  'mov byte [0xc68+0x10], 0xfe',
  'mov dword [0x538], 0x0c0000e8',
  'mov dword [0x53c], 0x00008900',
  'mov dword [0x540], 0',
  'mov dword [0x544], 0',
  'mov word [rbp], 71',
  'mov qword [rbp+2], 0x500',
  'lgdt [rbp]',
  'mov ax, 0x38',
  'ltr ax',
  '',
].join('\n');

const f = (name: string, modes: FormMode[], body: string, flags = ALL, oracle: 'kvm' | 'qemu' = 'kvm'): Form => ({ name, modes, body, flags, oracle });

export const FORMS: Form[] = [
  // Data movement.
  f('mov r32, r32 / r8, r8 / r16, imm', both, 'mov eax, ebx\nmov dl, bh\nmov si, 0x1234'),
  f('mov r/m, imm and mem forms', both, 'mov byte [ebp+3], 0x7f\nmov word [ebp+6], 0x8001\nmov dword [ebp+8], -5\nmov ecx, [ebp+8]\nmov [ebp+16], edx'),
  f('mov moffs (A0-A3)', p32, 'mov eax, [0x200010]\nmov [0x200020], eax\nmov al, [0x200001]\nmov [0x200031], al'),
  f('mov moffs64', l64, 'mov rax, 0x1122334455667788\nmov [abs qword 0x200040], rax\nmov ebx, [abs qword 0x200044]\nmov al, [abs qword 0x200041]'),
  f('mov r64 forms', l64, 'mov rax, 0x8000000000000001\nmov r9, rax\nmov qword [rbp+24], -2\nmov r10, [rbp+24]\nmov r11d, -1\nmov r12w, 7\nmov r13b, 0x80\nmov sil, 5'),
  f('mov to and from segment registers', both, 'mov ax, ds\nmov [ebp], ss\nmov cx, 0x10\nmov es, cx\nmov fs, cx\nmov gs, cx\nmov dx, es'),
  f('mov ss to a code segment faults (#GP(sel))', both, 'mov ax, 0x08\nmov ss, ax'),
  f('push and pop segment registers (fs, gs)', both, 'push fs\npush gs\npop fs\npop gs\nmov eax, esp'),
  f('push and pop es, ss, ds (32-bit)', p32, 'push es\npush ss\npush ds\npop ds\npop ss\npop es\nmov eax, esp'),
  f('movzx, movsx', both, 'movzx eax, bl\nmovzx ecx, dx\nmovsx edx, bh\nmovsx esi, word [ebp+6]\nmovzx di, byte [ebp+3]'),
  f('movsxd and 64-bit extensions', l64, 'mov eax, -7\nmovsxd rbx, eax\nmovsx r8, byte [rbp+3]\nmovzx r9, word [rbp+6]\nmovsxd r10, dword [rbp+8]'),
  f('lea forms', p32, 'lea eax, [ebx+ecx*4+0x10]\nlea edx, [esi*8]\nlea si, [ebx+ecx-3]\nlea edi, [ebp+0x7fffffff]'),
  f('lea rip-relative and 64-bit', l64, 'lea rax, [rel $]\nlea rbx, [rax+r9*2-100]\nlea r8d, [rcx+rdx]'),
  f('xchg forms', both, 'xchg eax, ecx\nxchg bl, dh\nxchg [ebp+8], edx\nxchg si, di'),
  f('push and pop: reg, mem, imm', both, 'push ebx\npush 5\npush -300\npush dword [ebp+8]\npop dword [ebp+32]\npop eax\npop ecx\npop edx\nmov esi, esp'.replace(/dword/g, 'DW')),
  f('pushad, popad', p32, 'pushad\nmov eax, 0\nmov ebx, 0\npopad\npush word 7\npop si'),
  f('push and pop in 64-bit mode', l64, 'push rbx\npush r12\npush 0x7fffffff\npush qword [rbp+8]\npop r13\npop r14\npop r15\npop qword [rbp+48]\npush word 3\npop ax'),
  // Control flow.
  f('call and ret, near, with ret imm16', both, 'call .a\njmp .b\n.a: mov eax, 1\nret\n.b: push 1\npush 2\ncall .c\njmp .d\n.c: ret 8\n.d: mov ebx, esp'),
  f('call and jmp indirect', both, 'lea eax, [.t]\ncall eax\nmov [ebp], eax\ncall [ebp]\nlea ecx, [.e]\njmp ecx\n.t: inc edx\nret\n.e: nop'),
  f('jmp short and near, jcc short and near', both, 'cmp eax, ebx\njb .far\njmp .far\ntimes 200 nop\n.far: cmp ecx, 5\nje .s\nmov eax, 1\n.s: jne .n\ninc eax\n.n: nop'),
  f('every jcc condition', both, Array.from({ length: 16 }, (_, i) => `cmp eax, ${[0, 1, -1, 0x7fffffff, 0x80000000][i % 5]}\nj${['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'][i]} .c${i}\ninc edx\n.c${i}: shl edx, 1`).join('\n'), ALL & ~(CF | OF | AF)),
  f('loop, loope, loopne, jecxz', both, 'mov ecx, 5\n.a: inc eax\nloop .a\nmov ecx, 3\n.b: cmp eax, eax\nloope .b\nmov ecx, 4\n.c: cmp eax, ebx\nloopne .c\njecxz .d\ninc ebx\n.d: nop'),
  f('far jmp ptr16:32 and retf', p32, 'jmp 0x08:.x\n.x: push cs\npush .y\nretf\n.y: mov eax, 1'),
  f('far jmp and call through memory', both, 'mov dword [ebp], .x\nmov word [ebp+4], 8\njmp far [ebp]\n.x: mov dword [ebp+8], .y\nmov word [ebp+12], 8\ncall far [ebp+8]\njmp .z\n.y: retf\n.z: mov eax, esp'),
  f('far return to ring 3 and a #GP there', p32, 'mov ax, 0x23\nmov ds, ax\nmov es, ax\npush 0x23\npush 0x8f000\npush 0x1b\npush .u\nretf\n.u: mov eax, 5\ncli', ALL, 'qemu'),
  // Arithmetic and logic (the generated programs cover these in depth).
  f('add/adc/sub/sbb/and/or/xor/cmp/test with memory', both, 'add [ebp], eax\nadc ecx, [ebp]\nsub word [ebp+2], 3\nsbb bl, [ebp+1]\nand [ebp+4], edx\nor dword [ebp+8], 0x80\nxor [ebp+12], esi\ncmp byte [ebp], 7\ntest [ebp+4], ebx', but(AF)),
  f('inc/dec/neg/not', both, 'inc eax\ndec byte [ebp]\nneg ebx\nnot word [ebp+2]\nneg dword [ebp+8]\ninc dx'),
  f('neg of zero clears CF', both, 'xor eax, eax\nneg eax'),
  f('shifts by 1, imm and cl (counts 0, 1, 5)', both, 'shl eax, 1\nshr ebx, 5\nmov cl, 0\nsar edx, cl\nmov cl, 1\nsar esi, cl', but(AF)),
  f('shift count 5: OF undefined', both, 'shl eax, 5\nmov cl, 7\nshr byte [ebp], cl', but(AF | OF)),
  f('rotates: rol, ror, rcl, rcr', both, 'stc\nrol eax, 1\nror bl, 1\nrcl edx, 1\nrcr si, 1\nmov cl, 9\nrol edi, cl\nrcr bh, 3', but(OF)),
  f('mul, imul one-operand', both, 'mul ebx\nimul cl\nmul word [ebp+2]', but(SF | ZF | AF | PF)),
  f('imul two and three operand', both, 'imul eax, ebx\nimul ecx, [ebp], 100\nimul dx, si, -3', but(SF | ZF | AF | PF)),
  f('div and idiv', both, 'xor edx, edx\nmov ebx, 7\ndiv ebx\nmov eax, -100\ncdq\nmov ecx, 9\nidiv ecx\nmov ax, 1000\nmov bl, 7\ndiv bl', but(ARITH)),
  f('divide by zero is #DE', both, 'xor ebx, ebx\ndiv ebx', but(ARITH)),
  f('idiv overflow is #DE', both, 'mov eax, 0x80000000\ncdq\nmov ecx, -1\nidiv ecx', but(ARITH)),
  f('64-bit mul, imul, div', l64, 'mov rax, 0x123456789abcdef\nmov rbx, 0xfedcba987\nmul rbx\nmov r8, rdx\nimul rax, rbx, -5\nmov rcx, 0x1000000\nxor edx, edx\ndiv rcx\nmov r9, -77\nmov rax, r9\ncqo\nmov r10, 5\nidiv r10', but(ARITH)),
  f('cbw, cwde, cwd, cdq', both, 'mov eax, 0x8081\ncbw\ncwde\ncwd\ncdq'),
  f('cdqe, cqo', l64, 'mov eax, 0x80000000\ncdqe\ncqo'),
  f('setcc and cmovcc', both, 'cmp eax, ebx\nsetb cl\nsetg ch\nsetne byte [ebp]\ncmovl edx, esi\ncmovae si, [ebp+4]'),
  f('cmov in 64-bit mode zero-extends even when false', l64, 'mov rax, -1\nmov rbx, 5\ncmp ebx, ebx\ncmovne eax, ebx\ncmove r8, rbx'),
  f('bt, bts, btr, btc: register and immediate', both, 'bt eax, 3\nbts ebx, ecx\nbtr dx, 15\nbtc esi, 31', but(OF | SF | AF | PF)),
  f('bt on memory with a register bit offset beyond the operand', both, 'mov ecx, 100\nbts dword [ebp], ecx\nmov ecx, -9\nbtc dword [ebp+64], ecx\nbt word [ebp], 3', but(OF | SF | AF | PF)),
  f('bsf, bsr (non-zero source)', both, 'mov ebx, 0x00f00000\nbsf eax, ebx\nbsr ecx, ebx', but(CF | OF | SF | AF | PF)),
  f('bswap', both, 'bswap eax\nbswap ebx'),
  f('bswap r64', l64, 'mov rax, 0x0102030405060708\nbswap rax\nbswap r9'),
  f('xadd, cmpxchg (equal and not)', both, 'xadd [ebp], eax\nmov eax, [ebp]\ncmpxchg [ebp], ebx\ncmpxchg ecx, edx'),
  f('leave', both, 'push ebp\nmov ebp, esp\nsub esp, 16\nleave'),
  f('lahf, sahf, clc, stc, cmc, cld, std', both, 'stc\ncmc\nlahf\nmov bl, ah\nmov ah, 0xd5\nsahf\nstd\ncld\nstc'),
  f('nop forms and pause', both, 'nop\nnop dword [eax]\npause'),
  // String instructions.
  f('movs and stos with rep', both, 'mov esi, 0x200100\nmov edi, 0x200400\nmov ecx, 5\nrep movsd\nmov ecx, 7\nrep stosb\nmovsw\nstosw'),
  f('lods, cmps and scas with repe/repne', both, 'mov dword [ebp+0x100], 0x41424344\nmov esi, 0x200100\nlodsb\nlodsd\nmov edi, 0x200100\nmov ecx, 8\nmov al, 0x42\nrepne scasb\nmov esi, 0x200100\nmov edi, 0x200100\nmov ecx, 4\nrepe cmpsb'),
  f('string instructions backwards (DF = 1)', both, 'std\nmov esi, 0x200110\nmov edi, 0x200500\nmov ecx, 3\nrep movsd\nlodsw\ncld'),
  f('movsq and stosq', l64, 'mov rsi, 0x200100\nmov rdi, 0x200600\nmov rcx, 3\nrep movsq\nmov rax, -1\nstosq'),
  f('outs and ins with rep: one exit per element', both, 'mov dword [ebp], 0x04030201\nmov esi, 0x200000\nmov dx, 0x80\nmov ecx, 4\nrep outsb\nmov edi, 0x200200\nmov ecx, 2\nrep insw\noutsd'),
  // Port I/O.
  f('in and out, imm8 and dx, 8/16/32-bit', both, 'out 0x80, al\nout 0x84, ax\nout 0xe9, eax\nmov dx, 0x3f8\nout dx, al\nout dx, ax\nout dx, eax\nin al, 0x60\nin ax, dx\nin eax, 0x61'),
  f('in/out at CPL 3 go through the TSS I/O permission bitmap', l64, USER64 + IOBITMAP_TSS + 'push 0x23\npush 0x8f000\npush 0x2\npush 0x1b\npush .u\niretq\n.u: mov al, 7\nout 0x80, al\nin al, 0x80\nmov dx, 0x80\nout dx, ax\nout 0x81, al'),
  f('a 2-byte out at CPL 3 needs both ports allowed in the bitmap', l64, USER64 + IOBITMAP_TSS + 'push 0x23\npush 0x8f000\npush 0x2\npush 0x1b\npush .u\niretq\n.u: mov dx, 0x7f\nout dx, ax'),
  // Interrupts and exceptions.
  f('ud2 is #UD', both, 'ud2'),
  f('int n through the IDT', both, 'int 13', ALL, 'qemu'),
  f('int3', both, 'int3', ALL, 'qemu'),
  f('into with OF set', p32, 'mov al, 0x7f\nadd al, 1\ninto', ALL, 'qemu'),
  f('iretd to the same privilege', p32, 'pushfd\npush cs\npush .x\niretd\n.x: mov eax, 7', ALL, 'qemu'),
  f('iretq to the same privilege', l64, 'mov rax, rsp\npush 0x10\npush rax\npushfq\npush 0x08\npush .x\niretq\n.x: mov ebx, 7'),
  f('iretq to ring 3, then #GP there with a stack switch', l64, USER64 + 'push 0x23\npush 0x8f000\npush 0x202\npush 0x1b\npush .u\niretq\n.u: mov eax, 9\nhlt'),
  f('a user access to a supervisor page is #PF', l64, 'push 0x23\npush 0x8f000\npush 0x2\npush 0x1b\npush .u\niretq\n.u: nop'),
  f('a #PF in long mode pushes an error code and sets CR2', l64, 'mov rsi, 0x7fff00000000\nmov rax, [rsi]'),
  f('a non-canonical address is #GP(0)', l64, 'mov rsi, 0x8000000000000000\nmov rax, [rsi]'),
  // System instructions.
  f('cli, sti, pushf, popf at CPL 0', both, 'cli\npushfd\npop eax\nsti\npushfd\npop ebx\nor ebx, 0x3000\npush ebx\npopfd\npushfd\npop ecx\ncli'.replace(/fd/g, 'f')),
  // KVM here (a software "PVM" hypervisor) runs guest ring 3 as host user mode, where RFLAGS.IF is
  // always 1: PUSHF there shows IF = 1 although the guest entered ring 3 with IF = 0. QEMU follows the SDM.
  f('popf at CPL 3 leaves IF and IOPL unchanged', l64, USER64 + 'push 0x23\npush 0x8f000\npush 0x2\npush 0x1b\npush .u\niretq\n.u: push 0x3202\npopfq\npushfq\npop rax\nhlt', ALL, 'qemu'),
  f('popf at CPL 3 (32-bit) leaves IF and IOPL unchanged', p32, 'mov ax, 0x23\nmov ds, ax\nmov es, ax\npush 0x23\npush 0x8f000\npush 0x1b\npush .u\nretf\n.u: push 0x3202\npopfd\npushfd\npop eax\nhlt', ALL, 'qemu'),
  f('hlt at CPL 3 is #GP(0)', p32, 'mov ax, 0x23\nmov ds, ax\nmov es, ax\npush 0x23\npush 0x8f000\npush 0x1b\npush .u\nretf\n.u: hlt', ALL, 'qemu'),
  f('syscall and sysret (64-bit)', l64, USER64 + 'mov ecx, 0xc0000080\nrdmsr\nor eax, 1\nwrmsr\nmov ecx, 0xc0000081\nxor eax, eax\nmov edx, 0x00130008\nwrmsr\nmov ecx, 0xc0000082\nmov eax, .k\nxor edx, edx\nwrmsr\nmov ecx, 0xc0000084\nmov eax, 0x200\nwrmsr\nmov r11, 0x202\nsyscall\n.k: mov r12, rcx\nmov r13, r11\nmov rcx, .u\nmov r11, 0x2\no64 sysret\n.u: mov eax, 3\nhlt'),
  f('syscall with EFER.SCE clear is #UD', l64, 'syscall'),
  f('sysenter and sysexit (32-bit)', p32, 'mov ecx, 0x174\nmov eax, 0x08\nxor edx, edx\nwrmsr\nmov ecx, 0x175\nmov eax, 0x8e000\nwrmsr\nmov ecx, 0x176\nmov eax, .k\nwrmsr\nmov ecx, 0x8f000\nmov edx, .u\nsysenter\n.k: mov esi, esp\nsysexit\n.u: mov eax, 5\nhlt'),
  f('swapgs', l64, 'mov ecx, 0xc0000102\nmov eax, 0x1234\nmov edx, 0x5678\nwrmsr\nswapgs\nmov ecx, 0xc0000101\nrdmsr'),
  f('rdmsr and wrmsr round trips', both, 'mov ecx, 0x174\nmov eax, 0x10\nxor edx, edx\nwrmsr\nrdmsr\nmov ebx, eax\nmov ecx, 0x175\nmov eax, 0x12345678\nwrmsr\nrdmsr\nmov esi, eax'),
  f('wrmsr to a non-canonical FS_BASE is #GP(0)', l64, 'mov ecx, 0xc0000100\nxor eax, eax\nmov edx, 0x80000000\nwrmsr'),
  f('rdmsr of an unknown MSR is #GP(0)', both, 'mov ecx, 0x12345\nrdmsr'),
  f('cpuid and rdtsc run (results host-specific, cleared)', both, 'xor eax, eax\ncpuid\nrdtsc\nxor eax, eax\nxor ebx, ebx\nxor ecx, ecx\nxor edx, edx'),
  f('mov from and to cr0, cr2, cr3, cr4', p32, 'mov eax, cr0\nmov ebx, 0x12345\nmov cr2, ebx\nmov ecx, cr2\nmov edx, cr3\nmov cr3, edx\nmov esi, cr4\nor esi, 0x80\nmov cr4, esi\nmov edi, cr4'),
  f('mov to cr4 with a reserved bit is #GP(0)', p32, 'mov eax, cr4\nor eax, 0x80000000\nmov cr4, eax'),
  f('mov from and to cr0, cr2, cr3, cr4 (64-bit)', l64, 'mov rax, cr0\nmov rbx, 0x123456789\nmov cr2, rbx\nmov rcx, cr2\nmov rdx, cr3\nmov cr3, rdx\nmov rsi, cr4\nor rsi, 0x80\nmov cr4, rsi\nmov rdi, cr4'),
  f('mov to cr4 clearing PAE in long mode is #GP(0)', l64, 'mov rax, cr4\nand eax, ~0x20\nmov cr4, rax'),
  f('mov to cr3 with bits above MAXPHYADDR is #GP(0)', l64, 'mov rax, cr3\nbts rax, 62\nmov cr3, rax'),
  f('mov cr8 (64-bit)', l64, 'mov eax, 5\nmov cr8, rax\nmov rbx, cr8'),
  f('lmsw, smsw, clts', p32, 'smsw eax\nsmsw [ebp]\nmov bx, 0xe\nlmsw bx\nsmsw ecx\nclts\nsmsw edx\nmov bx, 0\nlmsw bx\nmov esi, cr0'),
  f('lmsw, smsw, clts (64-bit)', l64, 'smsw eax\nsmsw [rbp]\nmov bx, 0xe\nlmsw bx\nsmsw ecx\nclts\nsmsw rdx\nmov bx, 0\nlmsw bx\nmov rsi, cr0'),
  f('invlpg', both, 'invlpg [ebp]\ninvlpg [0x100000]\nmov eax, 1'),
  f('sgdt, sidt, sldt, str, lgdt, lidt', both, 'sgdt [ebp]\nsidt [ebp+16]\nsldt ax\nstr bx\nstr [ebp+32]\nlidt [ebp+16]\nlgdt [ebp]\nsgdt [ebp+48]'),
  f('lldt with a null selector', both, 'xor eax, eax\nlldt ax\nsldt bx'),
  f('ltr of a busy TSS is #GP(sel)', both, 'mov ax, 0x28\nltr ax'),
  f('lar, lsl, verr, verw', both, 'mov ax, 0x08\nlar ebx, ax\nlsl ecx, ax\nverr ax\nsetz dl\nverw ax\nsetz dh\nmov ax, 0x23\nlar esi, ax\nverw ax\nsetz ah', ALL, 'qemu'),
  f('sysret at CPL 0 with EFER.SCE clear is #UD', l64, 'o64 sysret', ALL, 'qemu'),
];

const SEED32 = ['mov eax, 0x89abcdef', 'mov ebx, 0x01234567', 'mov ecx, 5', 'mov edx, 0xfedcba98', 'mov esi, 0x200100', 'mov edi, 0x200200', 'mov ebp, 0x200000'];
const SEED64 = ['mov rax, 0x1122334489abcdef', 'mov rbx, 0x0123456789abcdef', 'mov ecx, 5', 'mov rdx, 0xfedcba9876543210', 'mov esi, 0x200100', 'mov edi, 0x200200', 'mov ebp, 0x200000', 'mov r8, -8', 'mov r9, 0x7fffffffffffffff', 'mov r10d, 10', 'mov r11, 0x8000000000000000', 'mov r12, 12', 'mov r13, -13', 'mov r14d, 0x14141414', 'mov r15, 15'];

/** The whole program for a form in a mode. 32-bit registers in a body are widened in long mode where they address memory. */
export function formProgram(form: Form, mode: FormMode): string {
  const long = mode === 'long64';
  let body = form.body.replace(/\bDW\b/g, long ? 'qword' : 'dword');
  if (long) body = body.replace(/\[e(bp|sp|si|di|ax|bx|cx|dx)\b/g, '[r$1').replace(/\bpushfd\b/g, 'pushfq').replace(/\bpopfd\b/g, 'popfq');
  if (long) body = body.replace(/\bpush (e[a-z]{2})\b/g, (_m, r: string) => `push r${r.slice(1)}`).replace(/\bpop (e[a-z]{2})\b/g, (_m, r: string) => `pop r${r.slice(1)}`);
  if (long) body = body.replace(/\bcall (e[a-z]{2})\b/g, (_m, r: string) => `call r${r.slice(1)}`).replace(/\bjmp (e[a-z]{2})\b/g, (_m, r: string) => `jmp r${r.slice(1)}`);
  if (long) body = body.replace(/\bmov (e[a-z]{2}), esp\b/g, (_m, r: string) => `mov r${r.slice(1)}, rsp`);
  const lines = [long ? 'bits 64' : 'bits 32', 'org 0x100000', 'start:', ...descriptorSetup(long), ...(long ? SEED64 : SEED32).map((l) => '  ' + l)];
  lines.push(...body.split('\n').map((l) => (/^\.\w+:/.test(l) ? l : '  ' + l)));
  lines.push('  hlt', 'handler:', long ? '  pop rbx' : '  pop ebx', long ? '  pop rcx' : '  pop ecx', '  hlt', ...descriptorData(long, 'handler'));
  return lines.join('\n') + '\n';
}
